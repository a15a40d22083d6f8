"""A DAR's kernel tunnel entry (net/lwt.py) in a network namespace: what its routes put on the wire.

One namespace, one veth ``fama-la`` (its peer's MAC a static neighbour of both CoAs and of a
host's link-local address, so nothing needs answering). A :class:`DarKernel` is driven the way the automaton drives it
(``sync`` with the tunnels, ``close``), a UDP datagram is sent to the HoA after each change,
and a packet socket on the veth reads what leaves; the frames are taken apart here by hand
against RFC 2473 §3 / RFC 8200 §3: Next Header 41, hop limit 64, the DAR to the binding's
CoA, Payload Length the whole inner packet, the inner packet as sent.

A new CoA's unsolicited NA (RFC 9131 §4.1: to all routers, O=0, its TLLA) makes the DAR's
kernel a STALE neighbour entry for it while a role that opts in runs (``accept_untracked_na``,
§4.2), and
the interface has its setting back after ``close``.

Signalling is not tunnelled by the route: a Binding Ack another DAR sends to the bound HoA,
put on the veth's far end as a frame (the kernel forwards it, as the lab's DAR does one from
its upstream), leaves nothing on the wire and reaches the automaton's hand-off with the hop
limit it came with.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from hostile import ipv6, neighbour_advertisement, with_checksum
from test_netns import _unusable

from scapy_fama.net import lwt

pytestmark = pytest.mark.netns

NS = f"fama-lwt-{os.getpid() % 100000}"
DAR, HOA, COA1, COA2 = "2001:db8:1::1", "2001:db8:1::5", "2001:db8:2::7", "2001:db8:2::8"

OTHER_DAR = "2001:db8:3::1"
NEW_COA, NEW_MAC = "2001:db8:2::9", "02:00:00:00:00:0c"
DAR_LL, HOST_LL = "fe80::1", "fe80::b"
# An Echo Request (RFC 4443 §4.1: type 128, code 0, identifier, sequence) from a host on the link
# to the DAR's link-local address
ECHO = ipv6(HOST_LL, DAR_LL, 58, with_checksum(HOST_LL, DAR_LL, 58, bytes((128, 0, 0, 0, 0, 7, 0, 1)) + b"ll", 2))
ANNOUNCED = neighbour_advertisement(NEW_COA, "ff02::2", NEW_COA, bytes.fromhex(NEW_MAC.replace(":", "")), 0)
# A BA (RFC 6275 §6.1.8) from OTHER_DAR to the HoA, as a router's upstream receives it: the IPv6
# header (Payload Length 16, Next Header 135, hop limit 17) and the MH (Payload Proto 59, Header
# Len 1, MH Type 6, checksum not filled in: nothing on its way reads it, status 0, K clear,
# sequence 7, lifetime 0, PadN of 2 bytes)
BA = (
    bytes.fromhex("60000000 0010 87 11")
    + ipaddress.IPv6Address(OTHER_DAR).packed
    + ipaddress.IPv6Address(HOA).packed
    + bytes.fromhex("3b 01 06 00 0000 00 00 0007 0000 0102 0000")
)

SCRIPT = f"""
import json, select, socket, subprocess, time
from scapy_fama.automata.kernel_path import DarKernel
from scapy_fama.proto.effects import TunnelUp

records = []
capture = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))  # ETH_P_ALL: outgoing frames too
capture.bind(("fama-la", 3))
capture.settimeout(10)
sender = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)

def routes():
    return subprocess.run(["ip", "-6", "route", "show", "{HOA}"], capture_output=True, text=True).stdout

def sent(payload, marker):
    '''Send ``payload`` to the HoA, then ``marker`` natively to COA1; the frames that left up to the marker.'''
    try:
        sender.sendto(payload, ("{HOA}", 9))
    except OSError as exc:
        payload = None
    return leaving(marker)

def far(packet, dst):
    '''Put ``packet`` on the veth's far end, to the DAR's link, for the link address ``dst``.'''
    end = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    end.bind(("fama-lb", 0))
    end.send(dst + mac("fama-lb") + bytes.fromhex("86dd") + packet)
    end.close()

def handed(packet, marker):
    '''Put ``packet`` on the veth's far end, to the DAR's link; what the hand-off gives within 10 s,
    and the frames that left up to ``marker`` sent after it.'''
    far(packet, mac("fama-la"))
    ready = select.select([kernel.handoff], [], [], 10)[0]
    return (kernel.handoff.recv_bytes().hex() if ready else None), leaving(marker)

def mac(link):
    return bytes.fromhex(open(f"/sys/class/net/{{link}}/address").read().strip().replace(":", ""))

def leaving(marker):
    sender.sendto(marker, ("{COA1}", 9))
    frames = []
    while True:
        frame, where = capture.recvfrom(65536)
        if where[2] == 4 and frame[12:14] == bytes.fromhex("86dd"):  # PACKET_OUTGOING, IPv6
            frames.append(frame[14:].hex())
        if frame.endswith(marker):
            return frames

def neighbour():
    return subprocess.run(["ip", "-6", "neigh", "show", "{NEW_COA}", "dev", "fama-la"], capture_output=True, text=True).stdout.split()

def untracked():
    return open("/proc/sys/net/ipv6/conf/fama-la/accept_untracked_na").read().strip()

kernel = DarKernel("fama-la", "{DAR}", "2001:db8:1::/64", untracked_na=True, link_local="{DAR_LL}")
kernel.start(lambda *a, **f: records.append([*a, f]))
out = {{"records": records, "untracked": untracked(), "neighbour_before": neighbour()}}
far(bytes.fromhex("{ANNOUNCED.hex()}"), bytes.fromhex("333300000002"))
deadline = time.monotonic() + 10
while not neighbour() and time.monotonic() < deadline:
    time.sleep(0.01)
out["neighbour"] = neighbour()

def answered(packet):
    '''Put ``packet`` on the veth's far end to the DAR's MAC; the IPv6 packets that left until
    an Echo Reply did (within 10 s).'''
    far(packet, mac("fama-la"))
    left, deadline = [], time.monotonic() + 10
    capture.settimeout(0.5)
    while time.monotonic() < deadline:
        try:
            frame, where = capture.recvfrom(65536)
        except socket.timeout:
            continue
        if where[2] == 4 and frame[12:14] == bytes.fromhex("86dd"):
            left.append(frame[14:].hex())
            if frame[14 + 6] == 58 and frame[14 + 40] == 129:
                break
    capture.settimeout(10)
    return left

out["echo"] = answered(bytes.fromhex("{ECHO.hex()}"))
sender.bind(("{DAR}", 4000))
kernel.sync({{"{HOA}": TunnelUp("{DAR}", "{COA1}", "{HOA}")}})
out["first"], out["route_first"] = sent(b"one", b"m1"), routes()
out["handed"], out["ba_left"] = handed(bytes.fromhex("{BA.hex()}"), b"m4")
kernel.sync({{"{HOA}": TunnelUp("{DAR}", "{COA2}", "{HOA}")}})
out["moved"] = sent(b"two", b"m2")
kernel.sync({{}})
out["route_gone"] = routes()
out["gone"] = sent(b"three", b"m3")
kernel.sync({{"{HOA}": TunnelUp("{DAR}", "{COA1}", "{HOA}")}})
kernel.close()
out["untracked_closed"] = untracked()
out["addresses_closed"] = subprocess.run(["ip", "-6", "addr", "show", "dev", "fama-la"], capture_output=True, text=True).stdout
out["route_closed"], out["links"] = routes(), subprocess.run(["ip", "link"], capture_output=True, text=True).stdout
print(json.dumps(out))
"""


def _ip(*argv: str) -> None:
    subprocess.run(["ip", "-n", NS, *argv], check=True, capture_output=True)


def _until_up(link: str) -> None:
    """Wait until the kernel has activated ``link`` (operstate UP: its queue sends, it no longer drops)."""
    for _ in range(200):
        shown = subprocess.run(["ip", "-n", NS, "-j", "link", "show", link], capture_output=True, text=True, check=True)
        if json.loads(shown.stdout)[0].get("operstate") == "UP":
            return
        time.sleep(0.05)
    raise AssertionError(f"{link} not up within 10 s")


@pytest.fixture
def namespace() -> Iterator[str]:
    reason = _unusable() or lwt.supported()
    if reason is not None:
        pytest.skip(reason)
    subprocess.run(["ip", "netns", "add", NS], check=True)
    try:
        _ip("link", "add", "fama-la", "type", "veth", "peer", "name", "fama-lb")
        subprocess.run(["ip", "netns", "exec", NS, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"], check=True)
        for link in ("lo", "fama-la", "fama-lb"):
            _ip("link", "set", link, "up")
        _ip("-6", "route", "add", "2001:db8:2::/64", "dev", "fama-la")
        for host in (COA1, COA2, HOST_LL):
            _ip("-6", "neigh", "add", host, "lladdr", "02:00:00:00:00:0b", "dev", "fama-la", "nud", "permanent")
        _until_up("fama-la")
        _until_up("fama-lb")
        yield NS
    finally:
        subprocess.run(["ip", "netns", "del", NS], check=False)


def _tunnelled(frames: list[str], payload: bytes) -> list[tuple[str, str, int, int, bytes]]:
    """(outer source, destination, hop limit, Payload Length, inner packet) of each frame that
    carries a UDP datagram with ``payload`` in IPv6-in-IPv6."""
    found = []
    for text in frames:
        outer = bytes.fromhex(text)
        inner = outer[40:]
        if outer[6] == 41 and len(inner) >= 48 and inner[6] == 17 and inner[48:] == payload:
            src, dst = (str(ipaddress.IPv6Address(outer[at : at + 16])) for at in (8, 24))
            found.append((src, dst, outer[7], int.from_bytes(outer[4:6], "big"), inner))
    return found


def test_the_route_of_a_binding_encapsulates_in_the_kernel_follows_a_move_and_goes_with_it(namespace: str) -> None:
    done = subprocess.run(["ip", "netns", "exec", namespace, sys.executable, "-c", SCRIPT], capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert ["event", "tunnel-entry", {"by": "kernel (BPF lwt xmit)", "why": None}] in out["records"]
    assert "encap bpf xmit fama_tunnel" in out["route_first"]

    (first,) = _tunnelled(out["first"], b"one")
    assert first[:3] == (DAR, COA1, 64) and first[3] == len(first[4]) == 40 + 8 + 3  # RFC 2473 §3
    assert first[4][8:40] == ipaddress.IPv6Address(DAR).packed + ipaddress.IPv6Address(HOA).packed  # the inner, as sent
    (moved,) = _tunnelled(out["moved"], b"two")
    assert moved[:3] == (DAR, COA2, 64)  # the binding moved: the same route, a new program
    assert not _tunnelled(out["gone"], b"three") and out["route_gone"] == ""  # de-registered: no tunnel
    assert out["route_closed"] == "" and "fama-tun" not in out["links"]  # the role's exit takes it all


def test_signalling_for_a_bound_hoa_goes_to_the_automaton_not_into_the_tunnel(namespace: str) -> None:
    """net/lwt.py: only TCP, UDP and ICMPv6 are tunnelled by the route; a Mobility Header goes on
    to the TUN, whose data plane hands it to the automaton (dataplane.py), the hop the kernel
    took off given back: the automaton routes it as one hop itself."""
    done = subprocess.run(["ip", "netns", "exec", namespace, sys.executable, "-c", SCRIPT], capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert bytes.fromhex(out["handed"]) == BA  # the packet as it came, hop limit 17 again
    assert not [f for f in out["ba_left"] if bytes.fromhex(f)[6] == 41]  # nothing went into a tunnel


def test_a_new_coa_s_unsolicited_na_gives_the_kernel_its_neighbour_entry(namespace: str) -> None:
    """RFC 9131 §4.2 in the kernel (``accept_untracked_na`` on the DAR's access interface while
    the role runs): the NA of a CoA the kernel never heard of makes its entry, STALE with the
    NA's TLLA, before anything is sent to it; the interface's own setting (0) comes back."""
    done = subprocess.run(["ip", "netns", "exec", namespace, sys.executable, "-c", SCRIPT], capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert ["event", "untracked-na", {"kernel": "accepted", "why": None}] in out["records"]
    assert out["untracked"] == "1" and out["untracked_closed"] == "0"
    assert out["neighbour_before"] == []
    assert out["neighbour"] == [NEW_COA, "lladdr", NEW_MAC, "STALE"]


def test_the_dar_s_link_local_address_is_the_kernel_s_own(namespace: str) -> None:
    """What a host sends to the DAR's link-local address (fe80::1, the source of its RAs and
    NSs) is for the DAR: the kernel answers an Echo Request to it (RFC 4443 §4.2, from fe80::1
    back to the host) and does not take it for another node's, to forward back onto the link
    after Neighbour Solicitations for fe80::1 (RFC 4861 §7.2.2); the address goes at close."""
    done = subprocess.run(["ip", "netns", "exec", namespace, sys.executable, "-c", SCRIPT], capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    left = [bytes.fromhex(p) for p in out["echo"]]
    replies = [p for p in left if p[6] == 58 and p[40] == 129]
    assert replies, [p.hex() for p in left]
    assert replies[0][8:40] == ipaddress.IPv6Address(DAR_LL).packed + ipaddress.IPv6Address(HOST_LL).packed
    assert replies[0][44:] == bytes((0, 7, 0, 1)) + b"ll"  # identifier, sequence, data echoed
    solicited = [p for p in left if p[6] == 58 and p[40] == 135 and p[48:64] == ipaddress.IPv6Address(DAR_LL).packed]
    assert not solicited
    assert "fe80::1/64" not in out["addresses_closed"]
