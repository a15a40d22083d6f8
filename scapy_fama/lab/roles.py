"""The lab's processes: one fama-dar per DAR namespace and fama-mn in the MN's, started, watched, stopped.

Theory of operation
-------------------
A role is started as ``ip netns exec fama-lab-<node> python -m scapy_fama.cli.<dar|mn> ...``
in a session of its own (``ip netns exec`` replaces itself, so the recorded pid
is the role's), detached from the terminal that ran ``fama-lab up``: it
outlives that command. Its files live in the lab's log directory::

    <node>.log    the role's text log (--log)      <node>.json   its JSON lines (--json-log)
    <node>.err    its stderr (a crash's traceback or one-line error)

The roles run at nice :data:`ROLE_NICE` (``nice -n``, which every thread they start
inherits), and each role's signalling thread under SCHED_FIFO at :data:`ROLE_PRIORITY`
(``--realtime``; its data plane and log threads keep the ordinary policy) where the
machine allows it (:func:`realtime_refusal`: a container without CAP_SYS_NICE does not,
and the roles then run without it; ``up`` says which). On this
machine four roles and the demo's applications (stream, sink, ping, each a Python
process) share two cores, where real DARs and an MN would each have their own: at nice 0
a DAR read a BU up to 2.4 ms after its kernel received it, behind the applications, and
over five fresh demos BU->BA had a median of 2.05 ms; at -10 it was 1.46 ms. With other
work keeping both cores busy (load 4.5-6.9), ``fama-lab demo --ping-interval 5`` gave a
BU->BA median of 3.90 and 4.12 ms (up to 9.9 ms) at -10 alone, and 1.16, 0.89 and 0.82 ms
(up to 1.7 ms) with the signalling threads under SCHED_FIFO.

A role is *ready* when its JSON log shows it serving (a DAR's first record, the
MN's first ``address-configured``). A role that died is reported by ``status``
with the last line of its stderr, and ``status --restart`` starts it again with
the same command (and fresh log files). Stopping is SIGTERM (the roles stop
cleanly on it), then SIGKILL after :data:`STOP_WAIT` seconds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scapy_fama.lab.emulation import Emulation
from scapy_fama.lab.links import LabError, in_namespace
from scapy_fama.lab.topology import MN_IFACE, Topology, access_iface, dar_address, dar_prefix, namespace
from scapy_fama.proto.config import MAX_RA_DELAY_TIME, MAX_RTR_SOLICITATION_DELAY, MIN_DELAY_BETWEEN_RAS

STOP_WAIT = 5.0
READY_WAIT = 60.0  # seconds: a role imports Scapy in about a second, slower on a loaded machine
POLL = 0.1
ROLE_NICE = -10  # the roles before the applications that share the cores with them (see above)
ROLE_PRIORITY = 10  # SCHED_FIFO of each role's signalling thread (--realtime; see above)


@dataclass(frozen=True)
class Role:
    """One process of the lab: its node (log name) and its command inside the node's namespace."""

    node: str
    argv: tuple[str, ...]

    def files(self, logdir: Path) -> dict[str, Path]:
        return {suffix: logdir / f"{self.node}.{suffix}" for suffix in ("log", "json", "err")}


def roles(topology: Topology, emulation: Emulation, secure: bool, rfc_timers: bool = False) -> list[Role]:
    """The role-contract commands: fama-dar --kernel --accept-untracked-na per DAR (RFC 9131: the
    MN's announcement of a new CoA spares an NS before its BAs; the lab's links hold no stranger
    to claim addresses), fama-mn --kernel --keep all; in secure mode the DARs require the care-of test and the MN runs it before every BU (profile §5),
    so that no BU is refused with BA 137 first. With ``rfc_timers`` the attachment runs at the RFCs'
    pace instead of the profile's (§2, §9): the RS after up to 1 s (RFC 4861 §6.3.7), the RA after up
    to 0.5 s and multicast RAs 3 s apart (§6.2.6), the new CoA used once DAD is over (RFC 4862)."""
    dar_timers = ["--ra-delay", f"{MAX_RA_DELAY_TIME:g}", "--min-delay-between-ras", f"{MIN_DELAY_BETWEEN_RAS:g}"]
    mn_timers = ["--no-optimistic", "--rs-delay", f"{MAX_RTR_SOLICITATION_DELAY:g}"]
    found = []
    for i in topology.dar_numbers:
        argv = ["dar", "--iface", access_iface(i), "--prefix", dar_prefix(i), "--address", dar_address(i),
                "--kernel", "--accept-untracked-na", *(["--require-coa-test"] if secure else []),
                *(dar_timers if rfc_timers else [])]  # fmt: skip
        found.append(Role(f"dar{i}", tuple(argv)))
    mn = ["mn", "--iface", MN_IFACE, "--kernel", "--keep", "all", *(["--coa-test"] if secure else []),
          *(mn_timers if rfc_timers else []), *emulation.mn_arguments()]  # fmt: skip
    return found + [Role("mn", tuple(mn))]


def realtime_refusal() -> str | None:
    """Why this machine refuses SCHED_FIFO at ROLE_PRIORITY (a container without CAP_SYS_NICE, a
    cgroup without real-time time), tried on a thread of this process that then ends; None where
    it allows it."""
    refused: list[str] = []

    def attempt() -> None:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(ROLE_PRIORITY))  # this thread only
        except OSError as exc:
            refused.append(exc.strerror or str(exc))

    trial = threading.Thread(target=attempt, name="fifo-trial")
    trial.start()
    trial.join()
    return refused[0] if refused else None


def scheduling(refusal: str | None) -> str:
    """What ``up`` says of the roles' signalling threads."""
    if refusal is None:
        return f"signalling threads: SCHED_FIFO {ROLE_PRIORITY} (--realtime)"
    return f"signalling threads: the ordinary policy (SCHED_FIFO refused here: {refusal})"


def start(role: Role, logdir: Path, realtime: bool) -> int:
    """Start ``role`` in its namespace, its signalling thread under SCHED_FIFO if ``realtime``; its pid."""
    files = role.files(logdir)
    module, *options = role.argv
    command = in_namespace(
        namespace(role.node),
        ["nice", "-n", str(ROLE_NICE), sys.executable, "-m", f"scapy_fama.cli.{module}", *options, "--name", role.node,
         "--log", str(files["log"]), "--json-log", str(files["json"]),
         *(["--realtime", str(ROLE_PRIORITY)] if realtime else [])],
    )  # fmt: skip
    for path in files.values():
        path.unlink(missing_ok=True)
    with files["err"].open("wb") as err:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True
        )
    return process.pid


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def records(logdir: Path, node: str) -> list[dict[str, Any]]:
    """The JSON-log records of a role so far (a half-written last line is left out)."""
    path = logdir / f"{node}.json"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in lines if line.endswith("}")]


def last_error(logdir: Path, node: str) -> str:
    """The last line a role wrote to stderr, or a placeholder."""
    try:
        lines = (logdir / f"{node}.err").read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except FileNotFoundError:
        lines = []
    return lines[-1] if lines else "no message on stderr"


def _ready(logdir: Path, node: str) -> bool:
    found = records(logdir, node)
    if node == "mn":
        return any(r["kind"] == "address-configured" for r in found)
    return bool(found)


def wait_ready(logdir: Path, pids: dict[str, int], timeout: float = READY_WAIT) -> None:
    """Wait until every role is ready; :class:`LabError` naming the first that died or stalled."""
    deadline = time.monotonic() + timeout
    waiting = set(pids)
    while waiting:
        for node in sorted(waiting):
            if not alive(pids[node]):
                raise LabError(f"{node} exited: {last_error(logdir, node)} (see {logdir / node}.err)")
            if _ready(logdir, node):
                waiting.discard(node)
        if waiting and time.monotonic() > deadline:
            raise LabError(f"{', '.join(sorted(waiting))} not ready after {timeout:g} s (logs in {logdir})")
        time.sleep(POLL)


def stop(pids: list[int], timeout: float = STOP_WAIT) -> None:
    """SIGTERM, then SIGKILL what still runs after ``timeout`` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(POLL)
        pids = [pid for pid in pids if alive(pid)]
        if not pids:
            return
