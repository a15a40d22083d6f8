"""NodeSocket's backlog at its bound (issue 14 item 2, profile §6 "Cost before trust"): cheap
frames first, and a full backlog sheds CGA-signed BUs rather than leave a PHKT refresh waiting
behind them in the kernel's buffer; a priority member (the kernel's second socket for short
BUs) read before anything else, all it holds into the fair intake (intake.py, bound sources
first), and at most PRIORITY_RUN of its frames in a row. Frames go
through a memlink, the node's port read as the kernel's socket would be, and the priority
member is a datagram socket whose reads never block, as the kernel's; the BUs are an MN's,
laid out by the codec (``hostile.Identity``)."""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator

import pytest
from hostile import Identity, unauthorised_bus

from scapy_fama.automata import ports
from scapy_fama.automata.ports import Frame, NodeSocket
from scapy_fama.crypto import KeyPair
from scapy_fama.net.memlink import MemLink, MemPort
from scapy_fama.wire import parse
from scapy_fama.wire.numbers import BU, CGA_PARAMS, SIGNATURE
from tests.corpus import build_corpus

BACKLOG = 8
COA = "2001:db8:ca::5"


@pytest.fixture
def bed(monkeypatch: pytest.MonkeyPatch) -> tuple[MemPort, NodeSocket]:
    """A peer's port and the node's socket on one link, the backlog bound at BACKLOG."""
    monkeypatch.setattr(ports, "BACKLOG", BACKLOG)
    link = MemLink("l")
    peer, port = link.port("peer"), link.port("node")
    return peer, NodeSocket(port)


@pytest.fixture(scope="module")
def frames() -> tuple[bytes, bytes]:
    """A CGA-signed first BU (costly) and a PHKT refresh (cheap), as Ethernet frames."""
    mn = Identity.make(KeyPair.generate(1024))
    costly = mn.first_bu(COA)
    mn.phkt = bytes(8)  # any PHKT: the socket reads the options, not the BAD
    cheap = mn.refresh(COA)
    header = bytes.fromhex("020000000001 02000000000a 86dd")
    return header + costly, header + cheap


def test_a_full_backlog_sheds_cga_bus_and_a_refresh_behind_them_comes_first(
    bed: tuple[MemPort, NodeSocket], frames: tuple[bytes, bytes]
) -> None:
    peer, node = bed
    costly, cheap = frames
    for _ in range(20):
        peer.send(costly)
    peer.send(cheap)
    assert node.recv().data == cheap  # one drain read all 21
    # 8 BUs queued, the 12 read at a full backlog dropped, the refresh took the newest BU's place
    assert node.shed == 13 and node.backlog == BACKLOG - 2 + 1
    rest = [node.recv() for _ in range(8)]
    assert [f.data for f in rest[:7]] == [costly] * 7 and rest[7] is None


def test_a_backlog_of_cheap_frames_stops_the_drain_and_sheds_nothing(
    bed: tuple[MemPort, NodeSocket], frames: tuple[bytes, bytes]
) -> None:
    peer, node = bed
    _, cheap = frames
    for _ in range(BACKLOG + 3):
        peer.send(cheap)
    assert node.recv().data == cheap
    assert node.backlog == BACKLOG - 1  # the other three wait in the port, as in the kernel
    out = [node.recv() for _ in range(BACKLOG + 3)]
    assert [f.data for f in out[: BACKLOG + 2]] == [cheap] * (BACKLOG + 2) and out[-1] is None
    assert node.shed == 0


class Priority:
    """A priority member: a datagram socket pair's end, read without blocking."""

    def __init__(self) -> None:
        self.peer, self.sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setblocking(False)

    def fileno(self) -> int:
        return self.sock.fileno()

    def recv_bytes(self) -> bytes | None:
        try:
            return self.sock.recv(65535)
        except BlockingIOError:
            return None


@pytest.fixture
def split() -> Iterator[tuple[MemPort, Priority, NodeSocket]]:
    """A peer's port, the priority member's sending end and the node's socket, default bounds."""
    link = MemLink("l")
    peer, priority = link.port("peer"), Priority()
    yield peer, priority, NodeSocket(link.port("node"), priority=priority)
    priority.sock.close()
    priority.peer.close()


def test_a_refresh_in_the_priority_member_comes_before_a_burst_is_even_read(
    split: tuple[MemPort, Priority, NodeSocket], frames: tuple[bytes, bytes]
) -> None:
    peer, priority, node = split
    costly, cheap = frames
    for _ in range(300):  # more than one drain reads
        peer.send(costly)
    priority.peer.send(cheap)
    assert NodeSocket.select([node]) == [node]
    assert node.recv().data == cheap and node.backlog == 0  # none of the burst read yet
    assert [node.recv().data for _ in range(300)] == [costly] * 300 and node.recv() is None


def test_a_run_of_priority_frames_lets_one_of_the_others_through(
    split: tuple[MemPort, Priority, NodeSocket], frames: tuple[bytes, bytes]
) -> None:
    peer, priority, node = split
    costly, cheap = frames
    for _ in range(ports.PRIORITY_RUN + 4):
        priority.peer.send(cheap)
    peer.send(costly)
    out = [node.recv().data for _ in range(ports.PRIORITY_RUN + 5)]
    assert out == [cheap] * ports.PRIORITY_RUN + [costly] + [cheap] * 4 and node.recv() is None


def test_the_priority_member_is_emptied_into_the_intake_and_a_bound_sources_refresh_overtakes_a_flood(
    split: tuple[MemPort, Priority, NodeSocket], frames: tuple[bytes, bytes]
) -> None:
    _, priority, node = split
    _, refresh = frames
    flood = unauthorised_bus(refresh[:6], refresh[6:12], 100, 4)
    node.intake.bind(COA)  # as the DAR's tunnel to it does
    for f in flood:
        priority.peer.send(f)
    priority.peer.send(refresh)
    assert node.recv().data == refresh and len(node.intake) == 100  # all of the flood read, none handed out
    assert NodeSocket.select([node], 0) == [node]  # the intake waits: ready at once
    assert [node.recv().data for _ in range(4)] == flood[:4]  # then each source in turn


def test_the_hand_off_gives_its_packets_in_order_as_routed_frames_and_refuses_beyond_its_bound() -> None:
    """A kernel-mode DAR's data plane hands signalling to the automaton (dataplane.py): the
    node's socket is ready when a packet waits, gives them in the order handed, as upstream
    (IPv6) frames, and a hand-off at its bound refuses, never blocks; closed, it refuses all."""
    link = MemLink("l")
    handoff = ports.Handoff(capacity=3)
    node = NodeSocket(link.port("node"), handoff=handoff)
    assert NodeSocket.select([node], 0) == []
    packets = [bytes([0x60, 0, 0, n]) + bytes(36) for n in range(4)]
    assert [handoff.hand(p) for p in packets] == [True, True, True, False]
    assert NodeSocket.select([node], 0) == [node]
    out = [node.recv() for _ in range(3)]
    assert [(f.data, f.upstream) for f in out] == [(p, True) for p in packets[:3]] and node.recv() is None
    assert handoff.hand(packets[3]) and node.recv().data == packets[3]
    node.close()
    assert handoff.closed and not handoff.hand(packets[0])


def test_a_revive_that_fails_after_opening_keeps_the_old_socket_and_closes_the_new(monkeypatch: pytest.MonkeyPatch) -> None:
    """An interface created anew, whose new socket opens and then fails (the filter, the drain
    of what came before it: ENETDOWN when the link flaps again): the port keeps its old socket,
    index and MAC, closes the new one, counts the error, and tries again at the next look."""
    import errno

    from scapy_fama.net.faults import Faults
    from scapy_fama.net.iface import IfacePort

    port = IfacePort.__new__(IfacePort)  # no interface needed: the socket opening is played below
    old = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    port.name, port.faults, port.priority, port._program = "fama-x", Faults(), None, None
    port.ins = port.outs = old
    port._index, port.mac = "5", "02:00:00:00:00:05"
    opened: list[socket.socket] = []

    def half_open() -> None:
        port.ins = port.outs = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        opened.append(port.ins)
        port._index, port.mac = "7", "02:00:00:00:00:07"
        raise OSError(errno.ENETDOWN, "Network is down")

    monkeypatch.setattr(port, "_sys", lambda name: "7")
    monkeypatch.setattr(port, "_open", half_open)
    with old:
        assert port.revive() is False
        assert port.ins is old and port.outs is old and (port._index, port.mac) == ("5", "02:00:00:00:00:05")
        assert opened[0].fileno() == -1 and old.fileno() != -1  # the new one closed, the old one open
        assert port.faults.take()[0] == 1
        assert port.revive() is False and len(opened) == 2  # tried again: the index still differs


def test_a_frame_is_costly_exactly_when_it_is_a_bu_carrying_a_cga_option(frames: tuple[bytes, bytes]) -> None:
    """Frame.costly tells a signed BU of the toolkit's layout by its head, without a parse; on
    every frame (the corpus as Ethernet frames and as upstream packets, a signed BU and its
    mutants) it says what the parse says: a BU with CGA Parameters or a Signature."""
    rng = random.Random(11)
    packets = [e.raw for e in build_corpus()] + [frames[0][14:], frames[1][14:]]
    for _ in range(300):
        raw = bytearray(frames[0][14:])
        for _ in range(rng.randint(1, 3)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        packets.append(bytes(raw[: rng.choice([len(raw), rng.randrange(len(raw))])]))
    told = 0
    for ip in packets:
        info = parse(ip)
        mh = None if info is None else info.mh
        expected = mh is not None and mh.mhtype == BU and any(t in (CGA_PARAMS, SIGNATURE) for t, _, _ in mh.options)
        for frame in (Frame(ip, upstream=True), Frame(bytes.fromhex("020000000001 02000000000a 86dd") + ip)):
            assert frame.costly() == expected, ip.hex()
            told += frame._parsed is False  # told by its head: never parsed
    assert told > 0 and Frame(frames[0]).costly() and not Frame(frames[1]).costly()
