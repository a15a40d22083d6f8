"""The fast path on packets built with Scapy: what is counted where, the memo, capture points."""

from __future__ import annotations

from scapy.layers.inet import UDP
from scapy.layers.inet6 import HAO, ICMPv6EchoRequest, IPv6, IPv6ExtHdrDestOpt
from scapy.packet import Raw

from scapy_fama.analysis.classify import FastPath, TunnelCount
from scapy_fama.layers import BU

DAR, COA, HOA, CN = "2001:db8:1::1", "2001:db8:2::a", "2001:db8:1::a", "2001:db8:ff::1"
DOWN = bytes(IPv6(src=DAR, dst=COA) / IPv6(src=CN, dst=HOA) / UDP(sport=1, dport=2) / Raw(bytes(60)))
NATIVE = bytes(IPv6(src=CN, dst=COA) / UDP(sport=1, dport=2) / Raw(bytes(60)))
WITH_HAO = bytes(IPv6(src=COA, dst=CN) / IPv6ExtHdrDestOpt(options=[HAO(hoa=HOA)]) / UDP() / Raw(bytes(52)))
SIGNAL = bytes(IPv6(src=COA, dst=DAR) / IPv6ExtHdrDestOpt(options=[HAO(hoa=HOA)]) / BU(seq=1))
ECHO = bytes(IPv6(src=CN, dst=COA) / ICMPv6EchoRequest())


def classify(packets: list[tuple[bytes, int]], vantages: int = 1, signalling: bool = True) -> tuple[FastPath, list]:
    seen: list = []

    def handler(ref, now, ip, info, vantage, again):  # type: ignore[no-untyped-def]
        seen.append((ref[1], info.proto, again))
        return signalling

    fast = FastPath(handler, vantages=vantages)
    fast.consume((n, n / 10, ip, vantage, 0) for n, (ip, vantage) in enumerate(packets, 1))
    return fast, seen


def test_data_is_counted_and_signalling_handed_on() -> None:
    fast, seen = classify([(DOWN, 0), (DOWN, 0), (NATIVE, 0), (SIGNAL, 0), (WITH_HAO, 0), (b"\x45" + bytes(39), 0)])
    t = fast.totals
    assert (t.frames, t.ipv6, t.tunnelled, t.native, t.signalling, t.other) == (6, 5, 2, 2, 1, 1)
    (key, count), = fast.tunnels.items()
    assert key == (DAR, COA, CN, HOA) and count.packets == 2
    assert count.bytes == 2 * len(DOWN) and count.overhead == 2 * 40 and count.per_second() == [(0, 2)]
    assert seen == [(4, 135, False)]
    assert fast.native[COA].received_packets == 1 and fast.native[COA].sent_packets == 1  # NATIVE in, WITH_HAO out


def test_icmpv6_the_handler_declines_is_native() -> None:
    fast, seen = classify([(ECHO, 0)], signalling=False)
    assert seen == [(1, 58, False)] and fast.totals.native == 1 and fast.totals.signalling == 0


def test_the_memo_never_answers_for_headers_past_the_fixed_one() -> None:
    # same 40 first bytes, different chains: a data packet with a HAO, then a BU
    same_head = bytes(IPv6(src=COA, dst=DAR) / IPv6ExtHdrDestOpt(options=[HAO(hoa=HOA)]) / UDP() / Raw(bytes(8)))
    bu = SIGNAL
    assert len(same_head) == len(bu) and same_head[:6] == bu[:6]
    fast, seen = classify([(same_head, 0), (bu, 0), (same_head, 0)])
    assert fast.totals.native == 2 and seen == [(2, 135, False)]


def test_copies_at_other_capture_points_count_once() -> None:
    hop = bytearray(DOWN)
    hop[7] -= 1  # a router on the way decremented the hop limit
    fast, seen = classify([(DOWN, 0), (bytes(hop), 1), (SIGNAL, 1), (SIGNAL, 0), (DOWN, 0)], vantages=2)
    assert fast.totals.duplicates == 2 and fast.totals.tunnelled == 2  # the last DOWN: same point, again
    assert seen == [(3, 135, False), (4, 135, True)]


def test_tunnel_count_seconds() -> None:
    count = TunnelCount()
    for second, n in ((10, 1), (12, 2), (8, 1)):
        count.bump(second, n)
    assert count.per_second() == [(8, 1), (10, 1), (12, 2)] and count.base == 8
    total = TunnelCount(packets=1, first=1.0)
    total.add(count)
    assert total.per_second() == count.per_second()
