"""The neighbour cache (automata/nd.py) against RFC 4861 §7.2-§7.3, on a clock of the test's own."""

from __future__ import annotations

import random

from scapy_fama.automata import nd
from scapy_fama.automata.nd import Neighbors, State

MN, ATTACKER, OTHER = "02:00:00:00:00:05", "02:00:00:00:0b:ad", "02:00:00:00:00:07"
A, B = "2001:db8:1::5", "2001:db8:1::7"


def _cache(**kwargs: int) -> Neighbors:
    return Neighbors(rng=random.Random(1), **kwargs)


def test_an_unsolicited_na_for_an_address_without_an_entry_creates_none() -> None:
    cache = _cache()
    assert cache.advertised(A, ATTACKER, solicited=False, override=True, now=0.0) == []
    assert cache.advertised(A, ATTACKER, solicited=True, override=True, now=0.0) == []  # §7.2.5
    assert cache.entry(A) is None and cache.lookup(A, 0.0) is None


def test_a_router_takes_an_unsolicited_na_for_an_address_of_its_link_as_stale() -> None:
    """RFC 9131 §4.2: an unsolicited NA with a TLLA creates a STALE entry at a router (the
    caller says ``untracked`` for an address of its link); a solicited one, one without a TLLA,
    or one for an address off its link creates none, and a known address is not replaced
    without the Override flag (RFC 4861 §7.2.5)."""
    cache = _cache()
    assert cache.advertised(A, None, solicited=False, override=False, now=0.0, untracked=True) == []
    assert cache.advertised(A, MN, solicited=True, override=False, now=0.0, untracked=True) == []
    assert cache.advertised(B, MN, solicited=False, override=False, now=0.0, untracked=False) == []
    assert cache.entry(A) is None and cache.entry(B) is None
    assert cache.advertised(A, MN, solicited=False, override=False, now=0.0, untracked=True) == []
    entry = cache.entry(A)
    assert entry is not None and (entry.state, entry.mac) == (State.STALE, MN)
    assert cache.lookup(A, 0.1) == MN  # in use at once: DELAY, probed later (§7.3.3)
    cache.advertised(A, ATTACKER, solicited=False, override=False, now=0.2, untracked=True)
    assert cache.lookup(A, 0.3) == MN
    assert cache.due(nd.STALE_LIFETIME + 1.0).probe == [(A, MN)]  # DELAY ran out: a unicast probe


def test_resolution_queues_then_sends_on_the_na_and_gives_up_after_three_nss() -> None:
    cache = _cache()
    assert cache.wait(A, b"p1", 0.0) is True  # the first NS leaves now
    assert cache.wait(A, b"p2", 0.1) is False  # queued behind it
    assert cache.advertised(A, None, solicited=True, override=True, now=0.2) == []  # no TLLA: §7.2.5
    assert cache.advertised(A, MN, solicited=True, override=False, now=0.3) == [b"p1", b"p2"]
    assert (cache.entry(A).state, cache.lookup(A, 0.4)) == (State.REACHABLE, MN)  # type: ignore[union-attr]

    assert cache.wait(B, b"q", 0.0) is True
    assert cache.due(0.5).solicit == []
    assert cache.due(1.0).solicit == [B] and cache.due(2.0).solicit == [B]  # RETRANS_TIMER apart
    assert cache.due(3.0).lost == [b"q"] and cache.entry(B) is None  # MAX_MULTICAST_SOLICIT = 3


def test_an_unsolicited_na_resolves_an_incomplete_entry_as_stale() -> None:
    cache = _cache()
    cache.wait(A, b"p", 0.0)
    assert cache.advertised(A, MN, solicited=False, override=True, now=0.1) == [b"p"]
    assert cache.entry(A).state is State.STALE  # type: ignore[union-attr]


def test_the_override_rules_of_7_2_5() -> None:
    cache = _cache()
    cache.wait(A, b"p", 0.0)
    cache.advertised(A, MN, solicited=True, override=True, now=0.0)
    # without O another link-layer address never replaces the cached one; REACHABLE is doubted
    cache.advertised(A, ATTACKER, solicited=False, override=False, now=1.0)
    entry = cache.entry(A)
    assert entry is not None and (entry.mac, entry.state) == (MN, State.STALE)
    cache.advertised(A, ATTACKER, solicited=True, override=False, now=1.5)
    assert (entry.mac, entry.state) == (MN, State.STALE)
    # the same address without O confirms it; with O a new address replaces it
    cache.advertised(A, MN, solicited=True, override=False, now=2.0)
    assert (entry.mac, entry.state) == (MN, State.REACHABLE)
    cache.advertised(A, OTHER, solicited=False, override=True, now=3.0)
    assert (entry.mac, entry.state) == (OTHER, State.STALE)


def test_an_ns_or_rs_or_ra_with_an_slla_creates_a_stale_entry_or_updates_it() -> None:
    cache = _cache()
    assert cache.heard(A, MN, 0.0) == []
    assert (cache.entry(A).state, cache.entry(A).mac) == (State.STALE, MN)  # type: ignore[union-attr]
    cache.wait(B, b"q", 0.0)
    assert cache.heard(B, OTHER, 0.1) == [b"q"]  # it resolves what waited (§7.2.3)
    cache.advertised(A, MN, solicited=True, override=True, now=0.2)
    cache.heard(A, OTHER, 0.3)
    assert (cache.entry(A).state, cache.entry(A).mac) == (State.STALE, OTHER)  # type: ignore[union-attr]


def test_a_stale_entry_in_use_is_probed_and_dropped_when_it_never_answers() -> None:
    cache = _cache()
    cache.heard(A, MN, 0.0)
    assert cache.lookup(A, 1.0) == MN and cache.entry(A).state is State.DELAY  # type: ignore[union-attr]
    assert cache.due(1.0 + nd.DELAY_FIRST_PROBE_TIME).probe == [(A, MN)]  # unicast, to the MAC known
    at = 1.0 + nd.DELAY_FIRST_PROBE_TIME
    assert cache.lookup(A, at + 0.1) == MN  # still used while probed
    assert cache.due(at + 1.0).probe == [(A, MN)] and cache.due(at + 2.0).probe == [(A, MN)]
    assert cache.due(at + 3.0).probe == [] and cache.entry(A) is None  # MAX_UNICAST_SOLICIT = 3


def test_a_probe_answered_makes_the_entry_reachable_again() -> None:
    cache = _cache()
    cache.heard(A, MN, 0.0)
    cache.lookup(A, 0.0)
    cache.due(nd.DELAY_FIRST_PROBE_TIME)
    cache.advertised(A, MN, solicited=True, override=True, now=nd.DELAY_FIRST_PROBE_TIME + 0.01)
    assert cache.entry(A).state is State.REACHABLE  # type: ignore[union-attr]


def test_entries_age_reachable_to_stale_and_unused_stale_ones_go() -> None:
    cache = _cache()
    cache.wait(A, b"p", 0.0)
    cache.advertised(A, MN, solicited=True, override=True, now=0.0)
    reachable = cache.entry(A).timer  # type: ignore[union-attr]
    assert nd.REACHABLE_TIME * nd.MIN_RANDOM_FACTOR <= reachable <= nd.REACHABLE_TIME * nd.MAX_RANDOM_FACTOR
    cache.due(reachable)
    assert cache.entry(A).state is State.STALE  # type: ignore[union-attr]
    cache.due(reachable + nd.STALE_LIFETIME)
    assert cache.entry(A) is None and len(cache) == 0


def test_the_table_holds_its_bounds_under_a_flood() -> None:
    cache = _cache(capacity=100, resolving=10)
    for n in range(10_000):  # spoofed NSs from ever new sources
        cache.heard(f"2001:db8:1::{n:x}", MN, n * 0.001)
    assert len(cache) == 100
    assert cache.entry("2001:db8:1::0") is None and cache.entry(f"2001:db8:1::{9999:x}") is not None
    for n in range(50):  # packets to ever new on-link addresses
        assert cache.wait(f"2001:db8:2::{n:x}", b"p", 11.0) is (True if n < 10 else None)
    assert len(cache) == 100
    for _ in range(nd.QUEUE):
        cache.wait("2001:db8:2::0", b"more", 11.0)
    assert cache.wait("2001:db8:2::0", b"one too many", 11.0) is None
    full = _cache(capacity=3, resolving=5)
    for n in range(3):
        full.wait(f"2001:db8:2::{n:x}", b"p", 0.0)
    assert full.wait("2001:db8:2::9", b"p", 0.0) is None  # nothing resolved to make room for
    assert full.heard(A, MN, 0.0) == [] and full.entry(A) is None
