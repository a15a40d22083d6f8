"""The access port's BPF programs on hand-laid frames, run by the kernel's own BPF interpreter.

Each program is attached (SO_ATTACH_FILTER) to one end of an AF_UNIX datagram socket pair and
the frame is sent from the other: the kernel runs a socket's filter on every datagram it queues
there as it does on a packet socket's frames (the same offsets: the first byte of the datagram
is the first of the Ethernet header; the packet type reads as PACKET_HOST), so no root and no
interface are needed, and what decides is the kernel, not a model of it.

The truth is the frames themselves, laid out byte by byte after the RFCs (``hostile.py``; the
BU body here: sequence number, flags, lifetime, RFC 6275 §6.1.7; Nonce Indices and the BAD,
§6.2.6-§6.2.7; PadN, §6.2.2) or by the codec, as an MN sends them: a short BU (no room for a
Signature, profile §6 "Cost before trust") goes to the priority socket, every other frame to the
port's own, and no frame to both or to neither (issue 14 item 2).
"""

from __future__ import annotations

import socket

import pytest
from hostile import DAR, Identity, a16, fragments, ipv6, mh, neighbour_solicitation, router_solicitation, udp

from scapy_fama.crypto import KeyPair
from scapy_fama.net import bpf
from scapy_fama.proto.authorise import RSA_BITS

COA = "2001:db8:ca::5"
HOA = "2001:db8:1::77"
ETHER = bytes.fromhex("020000000001 02000000000a 86dd")


def accepts(program: bpf.Program, frame: bytes) -> bool:
    """Whether the kernel passes ``frame`` (whole) through ``program``."""
    sender, receiver = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with sender, receiver:
        program.attach(receiver)
        receiver.setblocking(False)
        sender.send(frame)
        try:
            return receiver.recv(65536) == frame
        except BlockingIOError:
            return False


def bu_mh(options: bytes, src: str = HOA, mhtype: int = 5) -> bytes:
    """A BU (seq 1, A=1 H=1, lifetime 1) or another MH type with the same body, to the DAR."""
    return mh(mhtype, bytes((0, 1, 0xC0, 0, 0, 1)) + options, src, DAR)


REFRESH_OPTIONS = bytes((4, 4, 0, 0, 0, 0)) + bytes((5, 12)) + bytes(12)  # Nonce Indices, BAD (at 8n+2)


def padded(size: int) -> bytes:
    """BU options making the MH ``size`` bytes long: Nonce Indices, PadN, the BAD last."""
    pad = size - 12 - len(REFRESH_OPTIONS)
    return REFRESH_OPTIONS[:6] + bytes((1, pad - 2)) + bytes(pad - 2) + REFRESH_OPTIONS[6:]


def hao(nh: int = 135) -> bytes:
    """A Destination Options header (RFC 8200 §4.6) holding a HAO (RFC 6275 §6.3) at 8n+6:
    Next Header, Hdr Ext Len 2, PadN of 4 bytes, type 201, length 16, the home address."""
    return bytes((nh, 2, 1, 2, 0, 0, 0xC9, 16)) + a16(HOA)


def with_hao(mh_bytes: bytes) -> bytes:
    return ipv6(COA, DAR, 60, hao() + mh_bytes)


REFRESH = with_hao(bu_mh(REFRESH_OPTIONS))
SHORT = {
    "refresh behind a HAO": REFRESH,
    "refresh, no HAO": ipv6(HOA, DAR, 135, bu_mh(REFRESH_OPTIONS)),
    f"BU of {bpf.SHORT_BU} bytes": with_hao(bu_mh(padded(bpf.SHORT_BU))),
    "BU with a tiny CGA Parameters option": with_hao(bu_mh(REFRESH_OPTIONS[:6] + bytes((12, 0, 1, 2, 0, 0)))),  # no key in it, PadN
}
OTHER = {
    f"BU of {bpf.SHORT_BU + 8} bytes": with_hao(bu_mh(padded(bpf.SHORT_BU + 8))),
    "BA": ipv6(DAR, COA, 135, bu_mh(REFRESH_OPTIONS, mhtype=6)),
    "refresh behind a Hop-by-Hop header": ipv6(COA, DAR, 0, bytes((60, 0, 1, 4, 0, 0, 0, 0)) + hao() + bu_mh(REFRESH_OPTIONS)),
    "Destination Options, then UDP": udp(COA, DAR, b"x" * 20, before=hao(17), first_nh=60),
    "refresh, first fragment": fragments(REFRESH, 7, 24)[0],
    "refresh, second fragment": fragments(REFRESH, 7, 24)[1],
    "NS": neighbour_solicitation(COA, DAR, DAR, b"\x02\0\0\0\0\x0a"),
    "RS": router_solicitation("fe80::a"),
    "MH behind a HAO whose Hdr Ext Len runs past the frame": ipv6(COA, DAR, 60, bytes((135, 200)) + bytes(30)),
}


@pytest.fixture(scope="module")
def codec_frames() -> dict[str, bytes]:
    """An MN's CGA-signed first BU (the smallest key the DAR verifies) and its PHKT refresh."""
    mn = Identity.make(KeyPair.generate(min(RSA_BITS)))
    first = mn.first_bu(COA)
    mn.phkt = bytes(8)
    return {"CGA-signed BU": first, "PHKT refresh": mn.refresh(COA)}


def test_short_means_no_room_for_a_signature_of_the_smallest_key_the_dar_verifies() -> None:
    assert bpf.SIGNATURE_MIN == 2 + min(RSA_BITS) // 8  # RFC 4866 §5.2: type, length, the signature
    assert bpf.SHORT_BU == 136 and bpf.SHORT_BU_HEADER_LEN == 16  # 12 + 130 = 142 > 136, < 144
    assert len(bu_mh(padded(bpf.SHORT_BU))) == bpf.SHORT_BU


@pytest.mark.parametrize("name", SHORT)
def test_a_short_bu_goes_to_the_priority_socket_only(name: str) -> None:
    frame = ETHER + SHORT[name]
    assert accepts(bpf.short_bus(), frame)
    assert not accepts(bpf.own_frames(priority=True), frame) and not accepts(bpf.signalling(priority=True), frame)
    assert accepts(bpf.own_frames(), frame) and accepts(bpf.signalling(), frame)  # as without the split


@pytest.mark.parametrize("name", OTHER)
def test_every_other_frame_stays_with_the_port_s_socket(name: str) -> None:
    frame = ETHER + OTHER[name]
    assert not accepts(bpf.short_bus(), frame)
    assert accepts(bpf.own_frames(priority=True), frame)
    assert accepts(bpf.signalling(priority=True), frame) == accepts(bpf.signalling(), frame)


def test_the_codec_s_refresh_is_short_and_its_cga_bu_is_not(codec_frames: dict[str, bytes]) -> None:
    assert accepts(bpf.short_bus(), ETHER + codec_frames["PHKT refresh"])
    assert not accepts(bpf.short_bus(), ETHER + codec_frames["CGA-signed BU"])
    assert accepts(bpf.own_frames(priority=True), ETHER + codec_frames["CGA-signed BU"])


def test_not_ipv6_reaches_neither_socket() -> None:
    frame = ETHER[:12] + b"\x08\x00" + REFRESH
    assert not accepts(bpf.short_bus(), frame) and not accepts(bpf.own_frames(priority=True), frame)


def test_each_frame_cut_at_every_length_reaches_exactly_one_socket(codec_frames: dict[str, bytes]) -> None:
    """A load past the end of a frame makes classic BPF drop it: the length checks keep every
    truncation of every frame above with exactly one of the two sockets, as the unsplit
    program keeps it (own_frames) and as signalling() sorts it."""
    programs = [bpf.short_bus(), bpf.own_frames(priority=True), bpf.signalling(priority=True)]
    whole, signalling = bpf.own_frames(), bpf.signalling()
    for name, packet in {**SHORT, **OTHER, **codec_frames}.items():
        frame = ETHER + packet
        for end in range(14, min(len(frame), 200) + 1):
            cut = frame[:end]
            short, own, signal = (accepts(p, cut) for p in programs)
            assert accepts(whole, cut) and short != own, (name, end, short, own)
            assert (short or signal) == accepts(signalling, cut) and not (short and signal), (name, end)


# ---------------------------------------------------------------- a DAR in kernel mode: to=

DAR_LL, OTHER_DAR = "fe80::1", "2001:db8:2::1"
MINE = ("ff02::1", "ff02::2", DAR, DAR_LL)  # what DarAutomaton._destinations() gives


def to(dst: str, packet: bytes) -> bytes:
    """``packet`` with its IPv6 destination (bytes 24-39) replaced; the MH checksum is not
    looked at by the filters."""
    return packet[:24] + a16(dst) + packet[40:]


def test_a_dar_in_kernel_mode_takes_mobility_headers_to_its_own_addresses_only(codec_frames: dict[str, bytes]) -> None:
    """Each frame reaches the priority socket (short BUs), the port's socket, or, when it is to
    another DAR (the kernel forwards it), neither; ND keeps reaching the port whatever its
    destination (a DAD NS goes to a solicited-node group)."""
    priority, port = bpf.short_bus(MINE), bpf.signalling(True, MINE)
    cases = {
        "refresh to the DAR": (REFRESH, "priority"),
        "refresh to its link-local address": (to(DAR_LL, REFRESH), "priority"),
        "refresh to all nodes": (to("ff02::1", REFRESH), "priority"),
        "refresh to another DAR": (to(OTHER_DAR, REFRESH), None),
        "refresh, no HAO, to another DAR": (to(OTHER_DAR, SHORT["refresh, no HAO"]), None),
        "CGA-signed BU to the DAR": (codec_frames["CGA-signed BU"], "port"),
        "CGA-signed BU to another DAR": (to(OTHER_DAR, codec_frames["CGA-signed BU"]), None),
        "fragment to the DAR": (OTHER["refresh, first fragment"], "port"),
        "fragment to another DAR": (to(OTHER_DAR, OTHER["refresh, first fragment"]), None),
        "BA passing by": (to(OTHER_DAR, OTHER["BA"]), None),
        "DAD NS to a solicited-node group": (to("ff02::1:ff00:77", OTHER["NS"]), "port"),
        "RS": (OTHER["RS"], "port"),
    }
    for name, (packet, where) in cases.items():
        frame = ETHER + packet
        got = (accepts(priority, frame), accepts(port, frame))
        assert got == (where == "priority", where == "port"), name
        if where is not None:  # as the unfiltered programs sort it
            assert got == (accepts(bpf.short_bus(), frame), accepts(bpf.signalling(True), frame)), name


def test_the_destination_filter_cut_at_every_length_never_reaches_both_sockets(codec_frames: dict[str, bytes]) -> None:
    """A truncated frame to the DAR is sorted as the unfiltered programs sort it, or dropped
    when the cut takes the destination address (bytes 38-53 of the frame) away."""
    priority, port = bpf.short_bus(MINE), bpf.signalling(True, MINE)
    for name, packet in {**SHORT, **codec_frames}.items():
        frame = ETHER + packet
        for end in range(14, min(len(frame), 200) + 1):
            cut = frame[:end]
            got = (accepts(priority, cut), accepts(port, cut))
            assert not all(got), (name, end)
            if end >= 54 and got[0]:
                assert accepts(bpf.short_bus(), cut), (name, end)


def test_the_data_plane_takes_tunnelled_packets_and_leaves_a_bu_s_hao_to_the_automaton() -> None:
    """``tunnelled``: IPv6-in-IPv6 to the DAR (RFC 2473 §3), also behind a Destination Options
    header holding a Tunnel Encapsulation Limit option (§5.1: type 4, length 1, then PadN to
    8 bytes), on a cooked socket (no link header) and on Ethernet; a BU behind its HAO (the
    same header type, then 135), a datagram behind one, and a packet for another host are not
    the data plane's. (No interfaces to ``skip`` here: the kernel reads no interface index for
    a datagram of this harness's socket pair.)"""
    inner = udp(HOA, "2001:db8:ff::9", b"data")
    limit = bytes((41, 0, 4, 1, 4, 1, 3, 0))  # Next Header 41, Tunnel Encapsulation Limit 4, PadN of 3
    cases = {
        "IPv6-in-IPv6": (ipv6(COA, DAR, 41, inner), True),
        "IPv6-in-IPv6 behind an encapsulation limit": (ipv6(COA, DAR, 60, limit + inner), True),
        "refresh behind a HAO": (REFRESH, False),
        "Destination Options, then UDP": (OTHER["Destination Options, then UDP"], False),
        "IPv6-in-IPv6 to another host": (ipv6(COA, "2001:db8:ff::1", 41, inner), False),
        "Destination Options cut after the IPv6 header": (ipv6(COA, DAR, 60, b""), False),
    }
    cooked, raw = bpf.tunnelled(DAR), bpf.tunnelled(DAR, link=len(ETHER))
    for name, (packet, taken) in cases.items():
        assert accepts(cooked, packet) is taken, name
        assert accepts(raw, ETHER + packet) is taken, name
