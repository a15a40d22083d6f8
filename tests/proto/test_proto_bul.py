"""bul: the entry's sequence numbers, exchanges and care-of tokens (profile §7)."""

from __future__ import annotations

from scapy_fama.proto.bul import BulEntry, BulState, CareOfToken, Due, SentBu

HOA, DAR, COA = "2001:db8:1::a", "2001:db8:1::1", "2001:db8:2::a"


def test_every_bu_takes_a_new_greater_seq_across_the_wrap() -> None:
    entry = BulEntry(HOA, DAR, seq=65534)
    assert [entry.next_seq() for _ in range(3)] == [65535, 0, 1]


def test_an_exchange_starts_clean_and_settles() -> None:
    entry = BulEntry(HOA, DAR, seq=10)
    entry.start(BulState.REGISTERING, COA)
    assert entry.backoff is not None and entry.backoff.wait == 1.5  # first registration
    seq = entry.next_seq()
    entry.sent[seq] = SentBu(seq, COA, COA, 0.0, False, None, None)
    entry.set_timer(1.5, Due.TIMEOUT)
    assert entry.latest() is entry.sent[11]
    entry.settle(BulState.BOUND)
    assert (entry.sent, entry.backoff, entry.timer, entry.due) == ({}, None, None, None)
    entry.ever_bound = True
    entry.start(BulState.REGISTERING, COA)
    assert entry.backoff is not None and entry.backoff.wait == 1.0 and entry.latest() is None


def test_a_care_of_token_is_good_for_its_coa_for_210_s() -> None:
    token = CareOfToken(COA, 3, bytes(8), received=100.0)
    assert token.usable(COA, 309.9) and not token.usable(COA, 310.0)
    assert not token.usable("2001:db8:3::a", 101.0)
