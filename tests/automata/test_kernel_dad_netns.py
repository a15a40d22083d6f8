"""MnKernel's optimistic addresses in a namespace of their own, read back with iproute2 (root).

    fama-o-<id>-mn: MnKernel on fama-o0 ==veth== fama-o1 in fama-o-<id>-peer, which holds TWIN, TWIN2
                                                                               and fe80::1 (a router)

The MN's interface gets the kernel's optimistic DAD (accept_dad, optimistic_dad, use_optimistic,
dad_transmits=1) from MnKernel and back on close. An address the core holds as optimistic goes in
as ``optimistic``; the peer owns TWIN, so the kernel's DAD fails it. The core's DAD, which saw
nothing (this test plays the core), ends: the kernel's verdict is overruled, the address is put
back without DAD and the log says so. TWIN2 fails both (the core moves on to OWN): OWN replaces it.
OWN's DAD ends in the kernel by itself, and the core's end changes nothing more.

After an administrative down/up (the kernel drops every address; with optimistic_dad it would make
the link-local anew as optimistic, and send no NS for the router while that DAD runs) the MN's
link-local is back at the next attachment, usable, and the NS for fe80::1 leaves while the new
CoA is still optimistic: its neighbour entry is REACHABLE, the peer learnt the MN's link-local.
The interface's retrans_time_ms is a minute there, so the kernel's DADs (dad_transmits x
retrans_time) cannot end meanwhile and an NS held back by one would go a minute later: what is
asserted is a state, whatever the machine's load. An interface deleted and created anew gets the
settings back at the next attachment: the CoA is optimistic again, under the kernel's DAD. The
MN starts on an interface without a link-local address and makes the one the kernel made (EUI-64).
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
TWIN, TWIN2, OWN, OWN2 = "2001:db8:7::d1", "2001:db8:7::d2", "2001:db8:7::5", "2001:db8:7::6"
ROUTER = "fe80::1"
CONF = ("accept_dad", "optimistic_dad", "use_optimistic", "dad_transmits")
HELPERS = textwrap.dedent(
    """
    import json, subprocess, sys, time
    from scapy_fama.automata.kernel_path import MnKernel
    from scapy_fama.net.rtnetlink import IFA_F_DADFAILED, IFA_F_TENTATIVE

    def ip(*argv):
        return subprocess.run(["ip", *argv], capture_output=True, text=True, check=True).stdout

    def shown(dev, scope="global"):
        return {a["local"]: sorted(k for k, v in a.items() if v is True)
                for a in json.loads(ip("-j", "-6", "addr", "show", "dev", dev))[0]["addr_info"] if a["scope"] == scope}

    def conf(dev, names):
        return {name: int(open(f"/proc/sys/net/ipv6/conf/{dev}/{name}").read()) for name in names}

    def flags(kernel, address):
        return kernel.rtnl.address_flags(address, kernel.iface) or 0

    def until(test, what):
        deadline = time.monotonic() + 30
        while not test():
            assert time.monotonic() < deadline, what
            time.sleep(0.01)
    """
)
CHILD = HELPERS + textwrap.dedent(
    """
    dev, twin, twin2, own, names = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]

    seen, events = {"before": conf(dev, names)}, []
    kernel = MnKernel(dev)
    kernel.start(lambda direction, what, **fields: events.append(what))
    seen["started"] = conf(dev, names)
    kernel.sync(twin, None, set(), {}, optimistic=True)
    until(lambda: flags(kernel, twin) & IFA_F_DADFAILED, twin)
    seen["failed"] = shown(dev)
    kernel.sync(twin, None, set(), {}, optimistic=False)
    seen["overruled"] = shown(dev)
    kernel.sync(twin2, None, set(), {}, optimistic=True)
    until(lambda: flags(kernel, twin2) & IFA_F_DADFAILED, twin2)
    kernel.sync(own, None, set(), {}, optimistic=True)
    seen["replaced"] = shown(dev)
    until(lambda: not flags(kernel, own) & IFA_F_TENTATIVE, own)
    kernel.sync(own, None, set(), {}, optimistic=False)
    seen["preferred"] = shown(dev)
    kernel.close()
    seen["closed"] = conf(dev, names)
    print(json.dumps({"seen": seen, "events": events}))
    """
)
DOWN_UP = HELPERS + textwrap.dedent(
    """
    import socket
    dev, peer, peer_dev, own, own2, own3, router, names = *sys.argv[1:8], sys.argv[8:]

    def neighbour(address, dev, *where):
        entries = json.loads(ip(*where, "-j", "-6", "neigh", "show", address, "dev", dev) or "[]")
        return entries[0]["state"] if entries else []

    seen = {"before": conf(dev, names), "link-local": sorted(shown(dev, "link"))}
    ip("-6", "addr", "flush", "dev", dev, "scope", "link")  # MnKernel makes it from the MAC, as the kernel did
    kernel = MnKernel(dev)
    kernel.start(lambda direction, what, **fields: None)
    kernel.sync(own, router, set(), {}, optimistic=True)
    with open(f"/proc/sys/net/ipv6/neigh/{dev}/retrans_time_ms", "w") as minute:  # see the module
        minute.write("60000\\n")
    ip("link", "set", "dev", dev, "down")
    ip("link", "set", "dev", dev, "up")
    kernel.sync(None, None, set(), {})  # the core: the link went and came back; RS, RA, a new CoA
    kernel.sync(own2, router, set(), {}, optimistic=True)
    seen["attached"] = {"link": shown(dev, "link"), "global": shown(dev)}
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as data:
        data.bind((own2, 0))
        data.sendto(b"first", ("2001:db8:77::1", 9))
    until(lambda: "REACHABLE" in neighbour(router, dev), router)  # the NS went, the NA came
    seen["resolved"] = shown(dev)
    seen["peer"] = {a: neighbour(a, peer_dev, "-n", peer) != [] for a in seen["link-local"]}  # the NS's source
    ip("link", "del", dev)  # and created anew
    ip("link", "add", dev, "type", "veth", "peer", "name", peer_dev, "netns", peer)
    ip("link", "set", "dev", dev, "up")
    kernel.sync(None, None, set(), {})
    kernel.sync(own3, router, set(), {}, optimistic=True)
    seen["recreated"] = {"conf": conf(dev, names), "link": shown(dev, "link"), "global": shown(dev)}
    kernel.close()
    seen["closed"] = conf(dev, names)
    print(json.dumps(seen))
    """
)


def run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


def add_quiet(*namespaces: str) -> None:
    """Add each namespace as the lab does: no RAs, no DAD but what a role asks for."""
    for ns in namespaces:
        run("ip", "netns", "add", ns)
        for scope in ("all", "default"):
            run("ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{scope}.accept_ra=0",
                f"net.ipv6.conf.{scope}.accept_dad=0")  # fmt: skip


@pytest.fixture
def namespaces() -> Iterator[None]:
    try:
        add_quiet(MN, PEER)
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


def test_after_an_admin_down_up_the_link_local_is_usable_at_once_and_the_coa_optimistic(namespaces: None) -> None:
    run("ip", "-n", PEER, "-6", "addr", "add", f"{ROUTER}/64", "dev", PEER_DEV, "nodad")
    argv = [DEV, PEER, PEER_DEV, OWN, OWN2, "2001:db8:7::7", ROUTER, *CONF, "addr_gen_mode"]
    done = subprocess.run(["ip", "netns", "exec", MN, sys.executable, "-c", DOWN_UP, *argv],
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    (link_local,) = seen["link-local"]
    usable = {link_local: ["nodad"]}  # neither tentative nor optimistic: the kernel's NS may come from it
    assert seen["attached"] == {"link": usable, "global": {OWN2: ["optimistic", "tentative"]}}
    assert seen["resolved"] == {OWN2: ["optimistic", "tentative"]}  # the router's NA came during the DAD
    assert seen["peer"] == {link_local: True}
    recreated = seen["recreated"]
    assert recreated["conf"] == {"accept_dad": 1, "optimistic_dad": 1, "use_optimistic": 1, "dad_transmits": 1,
                                 "addr_gen_mode": 1}  # fmt: skip
    assert recreated["link"][link_local] == ["nodad"]
    assert recreated["global"] == {"2001:db8:7::7": ["optimistic", "tentative"]}
    assert seen["closed"] == seen["before"]
