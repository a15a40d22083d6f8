"""dosguard: token buckets, global and per source /64 (profile §6 DoS guard, Binding Errors)."""

from __future__ import annotations

from scapy_fama.proto.dosguard import SourceLimiter, TokenBucket


def test_bucket_spends_its_burst_then_refills_at_its_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=3)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert not bucket.take(0.4) and bucket.take(0.5)  # 0.5 s x 2/s = one token
    assert not bucket.full(0.6) and bucket.full(10.0)


def test_a_clock_that_goes_backwards_mints_nothing() -> None:
    bucket = TokenBucket(rate=1.0, burst=1)
    assert bucket.take(5.0) and not bucket.take(4.0) and not bucket.take(5.5)


def test_per_prefix_budget_spares_other_prefixes() -> None:
    guard = SourceLimiter(rate=100.0, burst=100, prefix_rate=1.0, prefix_burst=2)
    assert guard.admit("2001:db8:9::1", 0.0) is None
    assert guard.admit("2001:db8:9::2", 0.0) is None  # same /64
    assert guard.admit("2001:db8:9::3", 0.0) == "per-prefix"
    assert guard.admit("2001:db8:8::1", 0.0) is None  # another /64
    assert guard.admit("2001:db8:9::3", 1.0) is None  # refilled


def test_global_budget_caps_all_prefixes_together() -> None:
    guard = SourceLimiter(rate=1.0, burst=3, prefix_rate=10.0, prefix_burst=10)
    results = [guard.admit(f"2001:db8:{i}::1", 0.0) for i in range(5)]
    assert results == [None, None, None, "global", "global"]


def test_a_flood_of_prefixes_does_not_grow_memory_without_bound() -> None:
    guard = SourceLimiter(rate=1e9, burst=10**9, prefix_rate=1000.0, prefix_burst=1)
    for i in range(5000):
        assert guard.admit(f"2001:db8:{i:x}::1", i / 1000) is None
    assert len(guard._per_prefix) <= 2048  # full buckets are swept
