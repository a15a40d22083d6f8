"""The lab's commands as functions: up, status, handover, and the checks they share.

Theory of operation
-------------------
::

    up:        root? tools? no lab up? nft (apt-get install nftables if missing)
               -> links.build -> nftables table fama in the DAR and MN namespaces
               -> link emulation -> roles started -> state.json -> wait until the roles are ready
               (any failure: everything built so far is torn down by name, the error is one line)
    status:    the record, each role running or exited (with its last stderr line),
               the MN's addresses from its JSON log, the bridge its port is on: the document
               fama-lab-status/1 (scapy_fama/schemas/fama-lab-status-1.json)
    handover:  the MN's port moves to DAR I's bridge; the record follows (interrupted: the port
               comes up again, and the record names the bridge it is on)

Every refusal is a :class:`~scapy_fama.lab.links.LabError` or a ``ValueError``
with one sentence, which the command line prints on one line (exit 2).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from scapy_fama.lab import emulation, links, roles, state
from scapy_fama.lab.links import LabError
from scapy_fama.lab.state import LabState
from scapy_fama.lab.topology import Topology, bridge, namespace
from scapy_fama.net import kernel
from scapy_fama.schemas import document

TOOLS = {"ip": "iproute2", "sysctl": "procps"}
STATUS_SCHEMA = "fama-lab-status/1"  # fama-lab status --json (scapy_fama/schemas/fama-lab-status-1.json)


def require_root() -> None:
    if os.geteuid() != 0:
        raise PermissionError("must run as root (network namespaces, veth pairs, bridges)")


def require_tools() -> None:
    for tool, package in TOOLS.items():
        if shutil.which(tool) is None:
            raise LabError(f"{tool} not found: install the {package} package")


def ensure_nft(say: Callable[[str], None]) -> None:
    """nft on PATH, installing the nftables package with apt-get if it is missing."""
    if shutil.which("nft") is not None:
        return
    if shutil.which("apt-get") is None:
        raise LabError("nft not found and no apt-get to install it: install the nftables package")
    say("installing nftables (apt-get install -y nftables) ...")
    done = subprocess.run(["apt-get", "install", "-y", "nftables"], capture_output=True, text=True, check=False)
    if done.returncode != 0 or shutil.which("nft") is None:
        why = (done.stderr.strip().splitlines() or ["nft still missing"])[-1]
        raise LabError(f"nft not found and apt-get install nftables failed: {why}")


def require_up() -> LabState:
    """The recorded lab; a one-line error when none is up or only its debris is left."""
    found = state.LabState.load()
    if found is not None and links.lab_namespaces():
        return found
    if links.lab_namespaces():
        raise LabError("fama-lab-* namespaces exist but the lab's record is gone: run fama-lab down")
    raise LabError("no lab is up: run fama-lab up")


def up(dars: int, delay_ms: float, loss: float, secure: bool, say: Callable[[str], None], *,
       rfc_timers: bool = False) -> LabState:  # fmt: skip
    """Build the lab and start its roles; torn down again if anything fails."""
    require_root()
    require_tools()
    topology = Topology(dars)
    existing = links.lab_namespaces()
    if existing:
        raise LabError(f"a lab is already up ({', '.join(existing)}): run fama-lab down first")
    ensure_nft(say)
    state.fresh_dirs()
    try:
        links.build(topology)
        for node in [*(f"dar{i}" for i in topology.dar_numbers), "mn"]:
            kernel.nft_install(namespace(node))  # the kernel's Parameter Problems dropped
        lab = LabState(dars, emulation.choose(delay_ms, loss), secure, rfc_timers)
        say(f"link emulation: {lab.emulation.describe()}")
        refusal = roles.realtime_refusal()
        say(roles.scheduling(refusal))
        for role in roles.roles(topology, lab.emulation, secure, rfc_timers):
            lab.roles[role.node] = role
            lab.pids[role.node] = roles.start(role, state.log_dir(), realtime=refusal is None)
        lab.save()
        say(f"waiting for {', '.join(lab.pids)} (logs in {state.log_dir()}) ...")
        roles.wait_ready(state.log_dir(), lab.pids)
    except BaseException:
        state.down()
        raise
    return lab


@dataclass(frozen=True)
class RoleStatus:
    node: str
    pid: int
    running: bool
    last_error: str


def role_status(lab: LabState) -> list[RoleStatus]:
    logdir = state.log_dir()
    return [
        RoleStatus(node, pid, roles.alive(pid), "" if roles.alive(pid) else roles.last_error(logdir, node))
        for node, pid in lab.pids.items()
    ]


def require_running(lab: LabState) -> None:
    """A one-line :class:`LabError` naming each role that has exited, with its last stderr line;
    :class:`~scapy_fama.lab.state.LabGone` when ``down`` stopped them."""
    state.require_record()
    dead = [s for s in role_status(lab) if not s.running]
    if dead:
        exited = "; ".join(f"{s.node} exited: {s.last_error}" for s in dead)
        raise LabError(f"{exited} (fama-lab status --restart)")


def restart_dead(lab: LabState) -> list[str]:
    """Start again every role that is not running; their names."""
    dead = [s.node for s in role_status(lab) if not s.running]
    realtime = roles.realtime_refusal() is None
    for node in dead:
        lab.pids[node] = roles.start(lab.roles[node], state.log_dir(), realtime)
    lab.update()
    return dead


def mn_addresses() -> list[str]:
    """The addresses the MN configured, in order (from its JSON log)."""
    return [r["address"] for r in roles.records(state.log_dir(), "mn") if r["kind"] == "address-configured"]


def status(lab: LabState) -> dict[str, Any]:
    """The lab's state as the document :data:`STATUS_SCHEMA` (``fama-lab status --json``)."""
    return document(STATUS_SCHEMA, {
        "dars": lab.dars,
        "attached": lab.attached,
        "bridge": links.attached_bridge(),
        "emulation": lab.emulation.describe(),
        "secure": lab.secure,
        "rfc_timers": lab.rfc_timers,
        "roles": [s.__dict__ for s in role_status(lab)],
        "mn_addresses": mn_addresses(),
        "logs": str(state.log_dir()),
    })


def dar_number(text: str) -> int:
    """``2`` or ``dar2`` -> 2."""
    digits = text.removeprefix("dar")
    if not digits.isdigit():
        raise ValueError(f"bad DAR {text!r}: give its number (2) or name (dar2)")
    return int(digits)


class Moved(NamedTuple):
    """A handover the lab made: the DAR the MN left, and when its carrier went (``time.time()``)."""

    left: int
    carrier_down: float


def handover(lab: LabState, i: int) -> Moved:
    """Move the MN to DAR ``i``."""
    lab.topology.check_dar(i)
    if i == lab.attached:
        raise ValueError(f"the MN is already attached to DAR {i}")
    left = lab.attached
    try:
        down = links.move_mn(bridge(i))
    finally:  # interrupted or not, the record names the bridge the port is on ("already attached" else)
        state.require_record()  # unless down has begun: then the ip's failures are its doing
        lab.attached = i if links.attached_bridge() == bridge(i) else left
        lab.update()
    return Moved(left, down)
