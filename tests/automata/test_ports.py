"""NodeSocket's backlog at its bound (issue 14 item 2, profile §6 "Cost before trust"): cheap
frames first, and a full backlog sheds CGA-signed BUs rather than leave a PHKT refresh waiting
behind them in the kernel's buffer. Frames go through a memlink, the node's port read as the
kernel's socket would be; the BUs are an MN's, laid out by the codec (``hostile.Identity``)."""

from __future__ import annotations

import pytest
from hostile import Identity

from scapy_fama.automata import ports
from scapy_fama.automata.ports import NodeSocket
from scapy_fama.crypto import KeyPair
from scapy_fama.net.memlink import MemLink, MemPort

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
