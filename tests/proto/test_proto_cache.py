"""cache: bindings with expiry and capacity; security records outlive them (profile §6)."""

from __future__ import annotations

import hashlib

import pytest

from scapy_fama.proto.cache import BindingCache, grant_lifetime, key_hash

HOA, HOA2, COA, COA2 = "2001:db8:1::a", "2001:db8:1::b", "2001:db8:2::a", "2001:db8:3::a"
PHKT = bytes(range(8))
KEY = b"public key"


def test_grant_is_the_minimum_in_4_second_units() -> None:
    # profile §6 step 5: min(requested, 86 400, prefix valid lifetime, policy)
    assert grant_lifetime(400, 2_592_000, 86_400) == 400
    assert grant_lifetime(262_140, 2_592_000, 86_400) == 86_400
    assert grant_lifetime(4000, 1000, 86_400) == 1000
    assert grant_lifetime(4000, 5000, 302) == 300  # rounded down to 4 s units
    assert grant_lifetime(4000, 2, 86_400) == 0


def test_a_record_keeps_the_kbm_of_every_refresh() -> None:
    """RFC 4866 §4.1 with RFC 6275 §5.2.5: a BU without a care-of token is keyed with
    Kbm = SHA1(PHKT | 8 zero bytes); the record keeps it, computed once per PHKT."""
    cache = BindingCache(capacity=10, record_lifetime=1000, record_capacity=40)
    record, _ = cache.new_phkt(HOA, PHKT, KEY, now=0)
    assert record.early_kbm == hashlib.sha1(PHKT + bytes(8)).digest()
    renewed, _ = cache.new_phkt(HOA, PHKT[::-1], KEY, now=1)  # a new PHKT: a new key (RFC 4866 §4.9)
    assert renewed.early_kbm == hashlib.sha1(PHKT[::-1] + bytes(8)).digest()


def test_binding_expires_and_the_record_outlives_it() -> None:
    cache = BindingCache(capacity=10, record_lifetime=1000, record_capacity=40)
    record, _ = cache.new_phkt(HOA, PHKT, KEY, now=0)
    cache.accepted(record, 7, now=0)
    assert cache.bind(HOA, COA, 100, now=0) is None
    assert cache.next_expiry() == 100
    assert cache.expire(99.9) == ([], [])
    bindings, records = cache.expire(100)
    assert [b.coa for b in bindings] == [COA] and records == [] and cache.bindings() == []
    assert cache.record(HOA) is record and record.last_seq == 7 and record.key_hash == key_hash(KEY)
    assert cache.next_expiry() == 1000
    assert (
        cache.expire(1000)[1] == [record]
        and cache.record(HOA) is None
        and cache.next_expiry() is None
    )


def test_an_update_moves_the_expiry_and_the_old_one_is_stale() -> None:
    cache = BindingCache(capacity=10, record_lifetime=1000, record_capacity=40)
    cache.bind(HOA, COA, 100, now=0)
    old = cache.bind(HOA, COA2, 100, now=50)
    assert old is not None and old.coa == COA
    assert cache.expire(100) == ([], []) and cache.binding(HOA).coa == COA2
    assert cache.next_expiry() == 150


def test_accepting_a_bu_extends_the_record() -> None:
    cache = BindingCache(capacity=10, record_lifetime=1000, record_capacity=40)
    record, _ = cache.new_phkt(HOA, PHKT, KEY, now=0)
    cache.accepted(record, 1, now=600)
    assert cache.expire(1000) == ([], []) and cache.next_expiry() == 1600


def test_a_new_phkt_replaces_the_old_and_keeps_the_last_seq() -> None:
    cache = BindingCache(capacity=10, record_lifetime=1000, record_capacity=40)
    cache.accepted(cache.new_phkt(HOA, PHKT, KEY, now=0)[0], 41, now=0)
    renewed, evicted = cache.new_phkt(HOA, bytes(8), KEY, now=5)
    assert evicted is None
    assert renewed.phkt == bytes(8) and renewed.last_seq == 41


def test_capacity_counts_bindings_only() -> None:
    cache = BindingCache(capacity=1, record_lifetime=1000, record_capacity=4)
    cache.new_phkt(HOA2, PHKT, KEY, now=0)
    assert not cache.full_for(HOA)
    cache.bind(HOA, COA, 100, now=0)
    assert cache.full_for(HOA2) and not cache.full_for(HOA)  # an update is always room
    cache.unbind(HOA)
    assert not cache.full_for(HOA2) and cache.bindings() == [] and len(cache.records()) == 1


def test_stale_heap_entries_do_not_pile_up() -> None:
    cache = BindingCache(capacity=10, record_lifetime=10**6, record_capacity=40)
    record, _ = cache.new_phkt(HOA, PHKT, KEY, now=0)
    for t in range(10_000):
        cache.accepted(record, t % 65536, now=t)
        cache.bind(HOA, COA, 100, now=t)
    assert len(cache._heap) <= 2 * 2 + 64 + 1


def test_refreshes_at_one_instant_keep_the_expiry_heap_bounded() -> None:
    cache = BindingCache(capacity=1000, record_lifetime=3600, record_capacity=4000)
    for i in range(200):
        cache.bind(f"2001:db8:1::{i:x}", "2001:db8:2::1", 60, now=0.0)
    for _ in range(20):  # the same BU refreshed again and again at the same time
        for i in range(200):
            cache.bind(f"2001:db8:1::{i:x}", "2001:db8:2::1", 60, now=0.0)
    assert len(cache._heap) <= 2 * 200 + 64


def test_records_are_bounded_and_the_oldest_idle_one_goes_first() -> None:
    """Profile §6 "Bounded state": at the cap, the record that expires first among those
    without a binding is replaced."""
    cache = BindingCache(capacity=2, record_lifetime=1000, record_capacity=3)
    hoas = [f"2001:db8:1::{i:x}" for i in range(1, 6)]
    for t, hoa in enumerate(hoas[:3]):
        record, evicted = cache.new_phkt(hoa, PHKT, KEY, now=t)
        cache.accepted(record, 1, now=t)
        assert evicted is None
    cache.bind(hoas[0], COA, 100, now=3)  # the oldest record has a binding: it stays
    cache.accepted(cache.record(hoas[1]), 2, now=4)  # the second is used again: now the newest
    _, evicted = cache.new_phkt(hoas[3], PHKT, KEY, now=5)
    assert evicted is not None and evicted.hoa == hoas[2]
    _, evicted = cache.new_phkt(hoas[4], PHKT, KEY, now=6)
    assert evicted is not None and evicted.hoa == hoas[1]
    assert [r.hoa for r in cache.records()] == [hoas[0], hoas[3], hoas[4]]


def test_the_record_cap_holds_a_record_for_every_binding() -> None:
    with pytest.raises(ValueError, match="every binding"):
        BindingCache(capacity=10, record_lifetime=1000, record_capacity=9)


@pytest.mark.parametrize("seed", range(20))
def test_expiry_matches_a_table_walk_whatever_the_order_of_binds_refreshes_and_removals(seed: int) -> None:
    """The lazy heap (refreshes push nothing, an earlier expiry is pushed at once) against the
    obvious model: walk both tables for the next expiry and for what has expired."""
    import random

    rng = random.Random(seed)
    cache = BindingCache(capacity=6, record_lifetime=50, record_capacity=8)
    hoas = [f"2001:db8:1::{i:x}" for i in range(1, 9)]
    now = 0.0
    for _ in range(600):
        hoa, op = rng.choice(hoas), rng.random()
        if op < 0.3:  # at the cap an idle record goes (capacity 6 < 8 records)
            cache.new_phkt(hoa, PHKT, KEY, now)
        elif op < 0.55 and cache.record(hoa) is not None:
            cache.accepted(cache.record(hoa), rng.randrange(65536), now)  # type: ignore[arg-type]
        elif op < 0.85 and not cache.full_for(hoa):
            cache.bind(hoa, COA, rng.choice([0, 4, 20, 60, 120]), now)
        elif op < 0.92:
            cache.unbind(hoa)
        else:
            now += rng.choice([0, 1, 7, 30])
        expected = sorted(
            [(b.expires, 0, b.hoa) for b in cache.bindings()] + [(r.expires, 1, r.hoa) for r in cache.records()]
        )
        assert cache.next_expiry() == (expected[0][0] if expected else None)
        if rng.random() < 0.3:
            gone = [e for e in expected if e[0] <= now]
            bindings, records = cache.expire(now)
            assert sorted([(b.expires, 0, b.hoa) for b in bindings] + [(r.expires, 1, r.hoa) for r in records]) == gone
            assert len(cache._heap) <= 2 * (len(cache.bindings()) + len(cache.records())) + 64
