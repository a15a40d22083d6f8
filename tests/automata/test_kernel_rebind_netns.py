"""An MN's data plane after its access interface is deleted and created anew with the same name (root).

    fama-r-<id>-mn: MnKernel on fama-r0 ==veth== fama-r1 in fama-r-<id>-peer, which holds fe80::1
                    (a router) and puts the DAR's tunnelled packets on the link

The MN holds COA on the link, keeps HOA on its TUN and has the tunnel of HOA to DAR. A frame
built here with Scapy, IPv6-in-IPv6 DAR -> COA (RFC 2473 §3) around a UDP datagram CN -> HOA,
is sent on the far end of the veth; a UDP socket bound to HOA in the MN's namespace must
receive the datagram: the data plane decapsulated it into the TUN (profile §8). Then the veth
is deleted and created anew (a USB NIC replugged: same name and MACs, a new ifindex). An
attachment while it is absent is refused with one line naming it. Once it is back, the MN syncs
as its automaton does on a new link (no current address, then COA again) and the same frame
must reach the socket again: the data plane's packet socket follows the interface to its new
index (one ``dataplane-rebound`` event with the indexes ``ip`` shows), and the loss of the old
one, which its socket reports as an error, is no error of the node's.
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
from scapy.layers.inet import UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from test_kernel_dad_netns import add_quiet, run

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None, reason="needs root and iproute2"),
]
MN, PEER = f"fama-r-{os.getpid() % 100000}-mn", f"fama-r-{os.getpid() % 100000}-peer"
DEV, PEER_DEV = "fama-r0", "fama-r1"
DEV_MAC, PEER_MAC = "02:00:00:00:72:0a", "02:00:00:00:72:0b"
COA, HOA, DAR, CN, ROUTER = "2001:db8:2::7", "2001:db8:1::5", "2001:db8:1::1", "2001:db8:ff::1", "fe80::1"
PORT = 4321
FRAME = bytes(
    Ether(src=PEER_MAC, dst=DEV_MAC)
    / IPv6(src=DAR, dst=COA, nh=41, hlim=64)
    / IPv6(src=CN, dst=HOA, hlim=63)
    / UDP(sport=9, dport=PORT)
    / b"through the tunnel"
)
CHILD = textwrap.dedent(
    """
    import json, socket, subprocess, sys, time
    from scapy_fama.automata.kernel_path import MnKernel
    from scapy_fama.proto.effects import TunnelUp

    dev, dev_mac, peer, peer_dev, peer_mac, coa, hoa, dar, router, port, frame = sys.argv[1:]

    def ip(*argv):
        return subprocess.run(["ip", *argv], capture_output=True, text=True, check=True).stdout

    def up(*where):
        '''Wait until the veth's end in ``where`` (a namespace, or this one) is operstate UP.'''
        deadline = time.monotonic() + 30
        while json.loads(ip(*where, "-j", "link", "show", peer_dev if where else dev))[0]["operstate"] != "UP":
            assert time.monotonic() < deadline, where
            time.sleep(0.01)

    def veth():
        ip("link", "add", dev, "address", dev_mac, "type", "veth", "peer", "name", peer_dev, "address", peer_mac,
           "netns", peer)
        ip("-n", peer, "-6", "addr", "add", f"{router}/64", "dev", peer_dev, "nodad")
        ip("-n", peer, "link", "set", peer_dev, "up")
        ip("link", "set", dev, "up")
        up()
        up("-n", peer)
        return socket.if_nametoindex(dev)

    def received():
        '''Put the frame on the far end; what the socket bound to the kept HoA receives (None: nothing in 30 s).'''
        subprocess.run(["ip", "netns", "exec", peer, sys.executable, "-c",
                        "import socket, sys; s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); "
                        "s.bind((sys.argv[1], 0)); s.send(bytes.fromhex(sys.argv[2]))", peer_dev, frame], check=True)
        try:
            return data.recv(2048).decode()
        except TimeoutError:
            return None

    out = {"records": [], "index": [veth()]}
    kernel = MnKernel(dev)
    kernel.start(lambda direction, what, **fields: out["records"].append([direction, what, fields]))
    tunnels = {hoa: TunnelUp(coa, dar, hoa)}
    kernel.sync(coa, router, {hoa}, tunnels)
    data = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    data.bind((hoa, int(port)))
    data.settimeout(30)
    out["first"] = received()
    kernel.sync(None, None, {hoa}, tunnels)  # the carrier went: no current address
    ip("link", "del", dev)
    try:
        kernel.sync(coa, router, {hoa}, tunnels)
    except OSError as exc:
        out["absent"] = str(exc)
    out["index"].append(veth())
    kernel.sync(None, None, {hoa}, tunnels)
    kernel.sync(coa, router, {hoa}, tunnels)
    out["again"] = received()
    kernel.close()
    print(json.dumps(out))
    """
)


@pytest.fixture
def namespaces() -> Iterator[None]:
    try:
        add_quiet(MN, PEER)
        run("ip", "-n", MN, "link", "set", "lo", "up")
        yield
    finally:
        for ns in (MN, PEER):
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)


def test_the_data_plane_follows_an_access_interface_created_anew(namespaces: None) -> None:
    argv = [DEV, DEV_MAC, PEER, PEER_DEV, PEER_MAC, COA, HOA, DAR, ROUTER, str(PORT), FRAME.hex()]
    done = subprocess.run(["ip", "netns", "exec", MN, sys.executable, "-c", CHILD, *argv],
                          capture_output=True, text=True, timeout=180, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["first"] == "through the tunnel"
    assert out["again"] == "through the tunnel"  # the socket bound to the kept HoA lives on
    assert out["absent"].startswith(f"access interface {DEV} is gone"), out["absent"]
    old, new = out["index"]
    assert old != new
    rebound = [fields for _, what, fields in out["records"] if what == "dataplane-rebound"]
    assert rebound == [{"iface": DEV, "ifindex": f"{old}->{new}"}]
    assert [r for r in out["records"] if r[0] == "error"] == []  # the old interface's loss is no error
