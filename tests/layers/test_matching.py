"""BU/BA pairing as Scapy's sr() does it: hashret() equality, then answers()."""

from __future__ import annotations

from scapy.layers.inet6 import HAO, IPv6, IPv6ExtHdrDestOpt
from scapy.plist import PacketList

from scapy_fama.layers import BA, BU, RH2

HOA, DAR, COA = "2001:db8:1::100", "2001:db8:1::1", "2001:db8:2::100"


def _bu(seq: int, flags: str = "HA") -> IPv6:
    return IPv6(bytes(IPv6(src=COA, dst=DAR) / IPv6ExtHdrDestOpt(options=[HAO(hoa=HOA)]) / BU(seq=seq, flags=flags)))


def _ba(seq: int, status: int = 0, hoa: str = HOA) -> IPv6:
    return IPv6(bytes(IPv6(src=DAR, dst=COA) / RH2(addresses=[hoa]) / BA(seq=seq, status=status)))


def _pairs(*pkts: IPv6) -> list[tuple[int, int]]:
    """(request index, reply index) pairs found by PacketList.sr(), Scapy's own matcher."""
    lst = list(pkts)
    matched, _ = PacketList(lst).sr()
    return [(lst.index(q), lst.index(r)) for q, r in matched]


def test_ba_pairs_with_its_bu() -> None:
    assert _pairs(_bu(7), _ba(7)) == [(0, 1)]


def test_stock_hashret_would_not_pair() -> None:
    stock = IPv6.hashret.stock  # Scapy's own method, kept by our fix
    assert stock(_ba(7)) != stock(_bu(7))
    assert _ba(7).hashret() == _bu(7).hashret()


def test_sequence_number_must_match() -> None:
    assert _pairs(_bu(7), _ba(8)) == []


def test_a_bu_is_answered_whatever_its_a_and_p_bits() -> None:
    # profile §6 step 7: the DAR answers every BU it processes; Scapy 2.8 paired on the P bit
    for flags in ("H", "HA", "HP"):
        assert _pairs(_bu(7, flags=flags), _ba(7)) == [(0, 1)], flags
        assert _pairs(_bu(7, flags=flags), _ba(7, status=148)) == [(0, 1)], flags


def test_135_carries_last_accepted_sequence_number() -> None:
    assert _pairs(_bu(7), _ba(1234, status=135)) == [(0, 1)]


def test_ba_for_another_home_address_does_not_pair() -> None:
    assert _pairs(_bu(7), _ba(7, hoa="2001:db8:1::999")) == []
