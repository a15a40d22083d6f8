"""FairIntake (intake.py): the priority socket's short BUs per source, bound sources first, each
source in turn, and bounded. The frames are Ethernet frames whose IPv6 source address (bytes
22-37: a 14-byte Ethernet header, then bytes 8-23 of the IPv6 header, RFC 8200 §3) is written
here by hand; the intake reads nothing else of them."""

from __future__ import annotations

import socket

from scapy_fama.automata.intake import FairIntake
from scapy_fama.automata.ports import Frame

ETHERNET = bytes.fromhex("020000000001 02000000000a 86dd")


def frame(src: str, n: int = 0) -> Frame:
    """A frame from ``src``; ``n`` in its last bytes tells frames of one source apart."""
    head = bytes.fromhex("6000000000088740")  # version 6, Payload Length 8, Next Header 135, hop limit 64
    dst = socket.inet_pton(socket.AF_INET6, "2001:db8:1::1")
    return Frame(ETHERNET + head + socket.inet_pton(socket.AF_INET6, src) + dst + n.to_bytes(8, "big"))


def drain(intake: FairIntake) -> list[bytes]:
    out = []
    while (f := intake.get()) is not None:
        out.append(f.data)
    return out


def test_each_source_gets_one_turn_a_round_however_many_it_sent() -> None:
    intake = FairIntake()
    flood = [frame("2001:db8:f000::5", n) for n in range(5)]
    quiet = [frame("2001:db8:a::5", n) for n in range(2)]
    for f in flood[:3] + quiet[:1] + flood[3:] + quiet[1:]:
        intake.put(f)
    assert len(intake) == 7
    expected = [flood[0], quiet[0], flood[1], quiet[1], flood[2], flood[3], flood[4]]
    assert drain(intake) == [f.data for f in expected]
    assert len(intake) == 0 and not intake


def test_a_bound_source_comes_before_all_others_and_is_its_own_address() -> None:
    intake = FairIntake()
    intake.bind("2001:db8:c::5")
    other = frame("2001:db8:c::6")  # the bound care-of address's /64, another address: not bound
    flood = [frame("2001:db8:f000::5", n) for n in range(3)]
    refresh = frame("2001:db8:c::5")
    for f in [*flood, other, refresh]:
        intake.put(f)
    assert drain(intake)[:1] == [refresh.data]


def test_unbound_sources_share_a_queue_per_64() -> None:
    intake = FairIntake()
    spoofed = [frame(f"2001:db8:f000::{n + 1:x}") for n in range(4)]  # four addresses of one /64
    honest = frame("2001:db8:a::5")
    for f in [*spoofed, honest]:
        intake.put(f)
    assert drain(intake)[:2] == [spoofed[0].data, honest.data]


def test_unbind_counts_the_tunnels_ending_at_an_address() -> None:
    intake = FairIntake()
    intake.bind("2001:db8:c::5")
    intake.bind("2001:db8:c::5")  # two home addresses through one care-of address
    intake.unbind("2001:db8:c::5")
    intake.put(frame("2001:db8:f000::5"))
    intake.put(frame("2001:db8:c::5"))
    assert drain(intake)[0] == frame("2001:db8:c::5").data  # still bound
    intake.unbind("2001:db8:c::5")
    intake.unbind("2001:db8:c::5")  # one more than bound: nothing to undo
    intake.put(frame("2001:db8:f000::5"))
    intake.put(frame("2001:db8:c::5"))
    assert drain(intake)[0] == frame("2001:db8:f000::5").data  # no longer


def test_a_full_queue_evicts_its_oldest_and_a_full_ring_drops_the_newcomer() -> None:
    intake = FairIntake(limit=4, depth=3)
    flood = [frame("2001:db8:f000::5", n) for n in range(5)]
    for f in flood:
        intake.put(f)
    assert len(intake) == 3 and intake.shed == 2  # the two oldest evicted
    intake.put(frame("2001:db8:a::5"))
    intake.put(frame("2001:db8:b::5"))  # the ring holds 4 frames: dropped
    assert len(intake) == 4 and intake.shed == 3
    intake.bind("2001:db8:c::5")
    intake.put(frame("2001:db8:c::5"))  # the bound ring has a bound of its own
    assert len(intake) == 5
    assert drain(intake) == [f.data for f in (frame("2001:db8:c::5"), flood[2], frame("2001:db8:a::5"), *flood[3:])]


def test_a_flood_from_many_sources_stays_within_the_bound() -> None:
    intake = FairIntake(limit=64, depth=4)
    for n in range(10_000):
        intake.put(frame(f"2001:db8:{n % 500:x}::5", n))
    assert len(intake) == 64 and intake.shed == 10_000 - 64
    assert len(drain(intake)) == 64
