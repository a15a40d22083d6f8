"""fama-dar and fama-mn for real: network namespaces, veth pairs, two bridges, a handover.

    fama-t-<id>-d1: fama-dar  --fama-d1==fama-d1r--+ fama-br1 (fe80::fe) +
    fama-t-<id>-d2: fama-dar  --fama-d2==fama-d2r--+ fama-br2 (fe80::fe) +-- fama-t-<id>-r:
    fama-t-<id>-mn: fama-mn   --fama-mn==fama-mnr--+ on br1, then br2    |   routes P1 to br1,
                                                                             P2 to br2, forwards

A DAR hands what is not for its link to its kernel (default route via
fe80::fe), so the MN's BU from link 2 goes DAR2 -> router -> DAR1 and the BA
comes back through the router. The handover moves the MN's veth peer from
bridge 1 to bridge 2 (down, master, up: the MN sees its carrier go and come
back). No kernel owns a FAMA address, so none answers the Mobility Header
with an ICMPv6 Parameter Problem (see scapy_fama.net.iface); the test checks
that none reached the MN. Everything is named ``fama-t-<id>-*`` and deleted
by name, also when the test fails.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

pytestmark = pytest.mark.netns
WAIT = 20.0  # seconds; a process needs about one to import Scapy
POLL = 0.1


def _unusable() -> str | None:
    """Why network namespaces cannot be used here, or None."""
    if os.geteuid() != 0:
        return "needs root for network namespaces"
    if shutil.which("ip") is None:
        return "needs the ip command (iproute2)"
    probe = f"fama-t-{os.getpid()}-probe"
    made = subprocess.run(["ip", "netns", "add", probe], check=False, capture_output=True, text=True)
    if made.returncode != 0:
        return f"ip netns does not work here: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], check=False, capture_output=True)
    return None


@dataclass
class Lab:
    tmp: Path
    tag: str = field(default_factory=lambda: f"fama-t-{os.getpid() % 100000}")
    namespaces: list[str] = field(default_factory=list)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def ns(self, role: str) -> str:
        return f"{self.tag}-{role}"

    def run(self, *argv: str) -> None:
        done = subprocess.run(argv, check=False, capture_output=True, text=True)
        assert done.returncode == 0, f"{' '.join(argv)}: {done.stderr}"

    def ip(self, role: str, *argv: str) -> None:
        self.run("ip", "-n", self.ns(role), *argv)

    def sysctl(self, role: str, setting: str) -> None:
        self.run("ip", "netns", "exec", self.ns(role), "sysctl", "-qw", setting)

    def build(self) -> None:
        for role in ("r", "d1", "d2", "mn"):
            self.run("ip", "netns", "add", self.ns(role))
            self.namespaces.append(self.ns(role))
            self.ip(role, "link", "set", "lo", "up")
        for n in (1, 2):
            self.ip("r", "link", "add", f"fama-br{n}", "type", "bridge", "mcast_snooping", "0")
            self.ip("r", "link", "set", f"fama-br{n}", "up")
            self.ip("r", "addr", "add", "fe80::fe/64", "dev", f"fama-br{n}", "nodad")
            self.ip("r", "-6", "route", "add", f"2001:db8:{n}::/64", "dev", f"fama-br{n}")
        self.sysctl("r", "net.ipv6.conf.all.forwarding=1")
        for role, bridge in (("d1", 1), ("d2", 2), ("mn", 1)):
            self.run(
                "ip", "link", "add", f"fama-{role}", "netns", self.ns(role), "type", "veth",
                "peer", "name", f"fama-{role}r", "netns", self.ns("r"),
            )  # fmt: skip
            self.ip("r", "link", "set", f"fama-{role}r", "master", f"fama-br{bridge}", "up")
        self.sysctl("mn", "net.ipv6.conf.fama-mn.accept_ra=0")  # the kernel must not take the prefix
        for role in ("d1", "d2", "mn"):
            self.ip(role, "link", "set", f"fama-{role}", "up")
        for role in ("d1", "d2"):
            self.ip(role, "-6", "route", "add", "default", "via", "fe80::fe", "dev", f"fama-{role}")

    def start(self, name: str, role: str, module: str, *argv: str) -> None:
        command = [
            "ip", "netns", "exec", self.ns(role), sys.executable, "-m", f"scapy_fama.cli.{module}",
            "--iface", f"fama-{role}", "--name", name, "--json-log", str(self.tmp / f"{name}.json"),
            "--log", str(self.tmp / f"{name}.log"), *argv,
        ]  # fmt: skip
        with open(self.tmp / f"{name}.err", "wb") as err:
            self.processes[name] = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err)

    def records(self, name: str) -> list[dict[str, Any]]:
        path = self.tmp / f"{name}.json"
        lines = path.read_text().splitlines() if path.exists() else []
        return [json.loads(line) for line in lines if line.endswith("}")]

    def wait(self, name: str, **match: Any) -> dict[str, Any]:
        for _ in range(int(WAIT / POLL)):
            found = [r for r in self.records(name) if all(r.get(k) == v for k, v in match.items())]
            if found:
                return found[0]
            assert self.processes[name].poll() is None, self.diagnosis(name)
            time.sleep(POLL)
        raise AssertionError(f"{name}: no record {match}\n{self.diagnosis(name)}")

    def diagnosis(self, name: str) -> str:
        log, err = (self.tmp / f"{name}.log", self.tmp / f"{name}.err")
        return "\n".join(p.read_text() for p in (log, err) if p.exists())

    def stop(self, name: str, sig: int) -> int:
        self.processes[name].send_signal(sig)
        return self.processes[name].wait(WAIT)

    def teardown(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
        for namespace in self.namespaces:  # deleting a namespace deletes its links
            subprocess.run(["ip", "netns", "del", namespace], check=False, capture_output=True)


L = TypeVar("L", bound=Lab)


def built(lab: L, reason: str | None) -> Iterator[L]:
    """Build ``lab`` and yield it, deleting all of it afterwards, also on failure; skip for ``reason``."""
    if reason is not None:
        pytest.skip(reason)
    try:
        lab.build()
        yield lab
    finally:
        lab.teardown()


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    yield from built(Lab(tmp_path), _unusable())


def test_handover_between_real_dars_gets_ba_0_and_a_phkt(lab: Lab) -> None:
    lab.start("dar1", "d1", "dar", "--prefix", "2001:db8:1::/64", "--address", "2001:db8:1::1")
    lab.start("dar2", "d2", "dar", "--prefix", "2001:db8:2::/64", "--address", "2001:db8:2::1")
    lab.start("mn", "mn", "mn", "--keep", "all", "--key", str(lab.tmp / "mn.pem"))
    home = lab.wait("mn", dir="event", kind="address-configured")["address"]
    assert home.startswith("2001:db8:1:")

    lab.ip("r", "link", "set", "fama-mnr", "down")
    lab.ip("r", "link", "set", "fama-mnr", "master", "fama-br2")
    lab.ip("r", "link", "set", "fama-mnr", "up")

    ba = lab.wait("mn", dir="in", kind="BA")
    assert (ba["status"], ba["phkt"], ba["bad"], ba["hoa"], ba["src"]) == (0, True, True, home, "2001:db8:1::1")
    coa = ba["dst"]
    assert coa.startswith("2001:db8:2:")
    lab.wait("mn", dir="state", kind="BOUND")
    bu = lab.wait("dar1", dir="in", kind="BU")
    assert (bu["src"], bu["hoa"], bu["cga"]) == (coa, home, True)
    assert lab.wait("dar1", dir="event", kind="binding-created")["coa"] == coa
    lab.wait("dar2", dir="fwd", kind="BU")  # the first hop routed it on
    errors = [r for r in lab.records("mn") if "ICMPv6" in str(r.get("reason", ""))]
    assert not errors, errors  # no kernel answered the MH or HAO
    # every message in came with the kernel's receive time: read after it came, and the BA
    # after the BU it answers left (causality on one clock, the MN's log's)
    records = lab.records("mn")
    ins = [r for r in records if r["dir"] == "in" and r["kind"] in ("RA", "BA")]
    assert ins and all(r["t"] - 0.5 < r["rx"] <= r["t"] for r in ins), ins
    sent = next(r for r in records if r["dir"] == "out" and r["kind"] == "BU" and r["seq"] == ba["seq"])
    assert sent["t"] < ba["rx"] <= ba["t"]

    assert lab.stop("mn", signal.SIGINT) == 0
    assert lab.stop("dar1", signal.SIGTERM) == 0
    assert lab.stop("dar2", signal.SIGTERM) == 0
    for name in ("mn", "dar1", "dar2"):
        assert lab.records(name)[-1]["kind"] == "STOPPED", lab.diagnosis(name)


def test_realtime_puts_the_signalling_thread_alone_under_sched_fifo(lab: Lab) -> None:
    """fama-dar --realtime 7: the thread its ``scheduling`` record names runs under SCHED_FIFO
    at 7 in the kernel's view (sched_getscheduler(2) per thread), every other thread of it under
    the ordinary policy, and it answers the MN. Without CAP_SYS_NICE it is one line, exit 2."""
    lab.start("dar1", "d1", "dar", "--prefix", "2001:db8:1::/64", "--address", "2001:db8:1::1", "--realtime", "7")
    said = lab.wait("dar1", dir="event", kind="scheduling")
    pid = lab.processes["dar1"].pid  # ip netns exec replaces itself with the role
    policies = {int(t.name): os.sched_getscheduler(int(t.name)) for t in Path(f"/proc/{pid}/task").iterdir()}
    assert len(policies) > 1 and {t for t, p in policies.items() if p == os.SCHED_FIFO} == {said["thread"]}, policies
    assert os.sched_getparam(said["thread"]).sched_priority == 7 and set(policies.values()) == {os.SCHED_FIFO, os.SCHED_OTHER}
    lab.start("mn", "mn", "mn", "--keep", "all", "--key", str(lab.tmp / "mn.pem"))
    assert lab.wait("mn", dir="event", kind="address-configured")["address"].startswith("2001:db8:1:")

    unprivileged = [
        "ip", "netns", "exec", lab.ns("d2"), "setpriv", "--inh-caps=-sys_nice", "--bounding-set=-sys_nice",
        sys.executable, "-m", "scapy_fama.cli.dar", "--iface", "fama-d2", "--prefix", "2001:db8:2::/64",
        "--address", "2001:db8:2::1", "--realtime", "7", "--log", str(lab.tmp / "dar2.log"),
    ]  # fmt: skip
    refused = subprocess.run(unprivileged, capture_output=True, text=True, timeout=WAIT * 3)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert refused.stderr.startswith("fama-dar: error: real-time scheduling (SCHED_FIFO 7) refused: it needs root or "
                                     "CAP_SYS_NICE"), refused.stderr  # fmt: skip
