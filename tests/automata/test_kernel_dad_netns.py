"""MnKernel's optimistic addresses in a namespace of their own, read back with iproute2 (root).

    fama-o-<id>-mn: MnKernel on fama-o0 ==veth== fama-o1 in fama-o-<id>-peer, which holds TWIN and TWIN2

The MN's interface gets the kernel's optimistic DAD (accept_dad, optimistic_dad, use_optimistic,
dad_transmits=1) from MnKernel and back on close. An address the core holds as optimistic goes in
as ``optimistic``; the peer owns TWIN, so the kernel's DAD fails it. The core's DAD, which saw
nothing (this test plays the core), ends: the kernel's verdict is overruled, the address is put
back without DAD and the log says so. TWIN2 fails both (the core moves on to OWN): OWN replaces it.
OWN's DAD ends in the kernel by itself, and the core's end changes nothing more.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None, reason="needs root and iproute2"),
]
MN, PEER = f"fama-o-{os.getpid() % 100000}-mn", f"fama-o-{os.getpid() % 100000}-peer"
DEV, PEER_DEV = "fama-o0", "fama-o1"
TWIN, TWIN2, OWN = "2001:db8:7::d1", "2001:db8:7::d2", "2001:db8:7::5"
CONF = ("accept_dad", "optimistic_dad", "use_optimistic", "dad_transmits")
CHILD = textwrap.dedent(
    """
    import json, subprocess, sys, time
    from scapy_fama.automata.kernel_path import MnKernel
    from scapy_fama.net.rtnetlink import IFA_F_DADFAILED, IFA_F_TENTATIVE
    dev, twin, twin2, own, names = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]

    def shown():
        out = subprocess.run(["ip", "-j", "-6", "addr", "show", "dev", dev], capture_output=True, text=True, check=True)
        return {a["local"]: sorted(k for k, v in a.items() if v is True)
                for a in json.loads(out.stdout)[0]["addr_info"] if a["scope"] == "global"}

    def conf():
        return {name: int(open(f"/proc/sys/net/ipv6/conf/{dev}/{name}").read()) for name in names}

    def until(address, test):
        deadline = time.monotonic() + 30
        while not test(kernel.rtnl.address_flags(address, dev) or 0):
            assert time.monotonic() < deadline, address
            time.sleep(0.01)

    seen, events = {"before": conf()}, []
    kernel = MnKernel(dev)
    kernel.start(lambda direction, what, **fields: events.append(what))
    seen["started"] = conf()
    kernel.sync(twin, None, set(), {}, optimistic=True)
    until(twin, lambda flags: flags & IFA_F_DADFAILED)
    seen["failed"] = shown()
    kernel.sync(twin, None, set(), {}, optimistic=False)
    seen["overruled"] = shown()
    kernel.sync(twin2, None, set(), {}, optimistic=True)
    until(twin2, lambda flags: flags & IFA_F_DADFAILED)
    kernel.sync(own, None, set(), {}, optimistic=True)
    seen["replaced"] = shown()
    until(own, lambda flags: not flags & IFA_F_TENTATIVE)
    kernel.sync(own, None, set(), {}, optimistic=False)
    seen["preferred"] = shown()
    kernel.close()
    seen["closed"] = conf()
    print(json.dumps({"seen": seen, "events": events}))
    """
)


def run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


@pytest.fixture
def namespaces() -> Iterator[None]:
    try:
        for ns in (MN, PEER):
            run("ip", "netns", "add", ns)
            for scope in ("all", "default"):  # as the lab: no RAs, no DAD but what a role asks for
                run("ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{scope}.accept_ra=0",
                    f"net.ipv6.conf.{scope}.accept_dad=0")  # fmt: skip
        run("ip", "link", "add", DEV, "netns", MN, "type", "veth", "peer", "name", PEER_DEV, "netns", PEER)
        run("ip", "-n", PEER, "link", "set", PEER_DEV, "up")
        run("ip", "-n", MN, "link", "set", DEV, "up")
        for address in (TWIN, TWIN2):
            run("ip", "-n", PEER, "-6", "addr", "add", f"{address}/64", "dev", PEER_DEV, "nodad")
        yield
    finally:
        for ns in (MN, PEER):
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)


def test_the_kernel_runs_optimistic_dad_the_core_decides_and_close_restores_the_interface(namespaces: None) -> None:
    done = subprocess.run(["ip", "netns", "exec", MN, sys.executable, "-c", CHILD, DEV, TWIN, TWIN2, OWN, *CONF],
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    seen = out["seen"]
    assert seen["before"] == {"accept_dad": 0, "optimistic_dad": 0, "use_optimistic": 0, "dad_transmits": 1}
    assert seen["started"] == {"accept_dad": 1, "optimistic_dad": 1, "use_optimistic": 1, "dad_transmits": 1}
    assert seen["failed"] == {TWIN: ["dadfailed", "tentative"]}  # the kernel's DAD met the peer's address
    assert seen["overruled"] == {TWIN: ["nodad"]}  # put back as the core holds it, usable
    assert seen["replaced"] == {OWN: ["optimistic", "tentative"]}  # the failed TWIN2 went
    assert seen["preferred"] == {OWN: []}  # the kernel's DAD ended by itself; nothing more done
    assert seen["closed"] == seen["before"]
    assert out["events"].count("kernel-dad-overruled") == 1
