"""bul: the entry's state table, sequence numbers, exchanges and care-of tokens (profile §7)."""

from __future__ import annotations

import itertools

import pytest

from scapy_fama.proto.bul import (
    TRANSITIONS,
    BulEntry,
    BulEvent,
    BulState,
    CareOfToken,
    Due,
    IllegalTransition,
    SentBu,
)

HOA, DAR, COA = "2001:db8:1::a", "2001:db8:1::1", "2001:db8:2::a"
I, T, R, B, D = (
    BulState.IDLE,
    BulState.TESTING,
    BulState.REGISTERING,
    BulState.BOUND,
    BulState.DEREGISTERING,
)
E = BulEvent

# Written out by hand from profile §3, §4, §5 and §7 (not derived from the module's table):
# what an MN may do with one BUL entry.
LEGAL = {
    (I, E.REGISTER): R,  # a handover, the keep policy, a re-registration
    (I, E.DEREGISTER): D,  # released while idle, or back home
    (R, E.COA_TEST): T,  # secure mode: a CoTI first (profile §5)
    (T, E.COA_TEST): T,  # the CoTI is retransmitted
    (T, E.COT): R,
    (R, E.ACCEPTED): B,
    (T, E.ACCEPTED): B,  # a BA to a BU sent before the token ran out
    (R, E.REGISTER): R,  # a new CoA during the exchange
    (T, E.REGISTER): R,
    (R, E.DEREGISTER): D,
    (T, E.DEREGISTER): D,
    (R, E.GIVE_UP): I,  # refused, or the back-off is spent (profile §7)
    (T, E.GIVE_UP): I,
    (B, E.REGISTER): R,  # refresh at 80 %, a new CoA, a Binding Error
    (B, E.DEREGISTER): D,
    (D, E.DEREGISTERED): I,
    (D, E.DEREGISTER): D,
    (D, E.GIVE_UP): I,
    **{(state, E.SUSPEND): I for state in BulState},  # link down
}


def entry_in(state: BulState) -> BulEntry:
    """A fresh entry brought into ``state`` by legal events."""
    entry = BulEntry(HOA, DAR, seq=10)
    path = {
        I: [],
        R: [(E.REGISTER, COA)],
        T: [(E.REGISTER, COA), (E.COA_TEST, None)],
        B: [(E.REGISTER, COA), (E.ACCEPTED, None)],
        D: [(E.DEREGISTER, COA)],
    }[state]
    for event, coa in path:
        entry.fire(event, coa)
    assert entry.state is state
    return entry


def test_the_table_is_exactly_the_legal_transitions() -> None:
    assert TRANSITIONS == LEGAL


@pytest.mark.parametrize(("state", "event"), sorted(LEGAL, key=str))
def test_every_legal_transition(state: BulState, event: BulEvent) -> None:
    entry = entry_in(state)
    starts = event in (E.REGISTER, E.DEREGISTER)
    entry.fire(event, COA if starts else None)
    assert entry.state is LEGAL[(state, event)]


@pytest.mark.parametrize(
    ("state", "event"),
    [pair for pair in itertools.product(BulState, BulEvent) if pair not in LEGAL],
)
def test_every_illegal_transition_raises_and_changes_nothing(
    state: BulState, event: BulEvent
) -> None:
    entry = entry_in(state)
    before = (entry.coa, entry.backoff, entry.timer)
    starts = event in (E.REGISTER, E.DEREGISTER)
    with pytest.raises(IllegalTransition, match=f"{event.value} is not allowed in {state.value}"):
        entry.fire(event, COA if starts else None)
    assert entry.state is state and (entry.coa, entry.backoff, entry.timer) == before


def test_a_release_is_final() -> None:
    """Profile §3: nothing brings a de-registering entry back to registering."""
    entry = entry_in(D)
    with pytest.raises(IllegalTransition):
        entry.fire(E.REGISTER, COA)


def test_an_exchange_is_started_with_its_coa_and_only_then() -> None:
    with pytest.raises(ValueError, match="needs its CoA"):
        BulEntry(HOA, DAR, seq=1).fire(E.REGISTER)
    with pytest.raises(ValueError, match="no CoA"):
        entry_in(R).fire(E.ACCEPTED, COA)


def test_the_state_is_read_only() -> None:
    entry = BulEntry(HOA, DAR, seq=1)
    with pytest.raises(AttributeError):
        entry.state = BulState.BOUND  # type: ignore[misc]


def test_every_bu_takes_a_new_greater_seq_across_the_wrap() -> None:
    entry = BulEntry(HOA, DAR, seq=65534)
    assert [entry.next_seq() for _ in range(3)] == [65535, 0, 1]


def test_an_exchange_starts_clean_and_ends_clean() -> None:
    entry = BulEntry(HOA, DAR, seq=10)
    entry.fire(E.REGISTER, COA)
    assert entry.backoff is not None and entry.backoff.wait == 1.5  # first registration
    seq = entry.next_seq()
    entry.sent[seq] = SentBu(seq, COA, COA, 0.0, False, None, None)
    entry.set_timer(1.5, Due.TIMEOUT)
    assert entry.latest() is entry.sent[11]
    entry.fire(E.COA_TEST)  # carries the exchange on
    assert entry.latest() is entry.sent[11] and entry.timer == 1.5
    entry.fire(E.COT)
    entry.fire(E.ACCEPTED)
    assert (entry.sent, entry.backoff, entry.timer, entry.due) == ({}, None, None, None)
    entry.ever_bound = True
    entry.fire(E.REGISTER, COA)
    assert entry.backoff is not None and entry.backoff.wait == 1.0 and entry.latest() is None


def test_a_care_of_token_is_good_for_its_coa_for_210_s() -> None:
    token = CareOfToken(COA, 3, bytes(8), received=100.0)
    assert token.usable(COA, 309.9) and not token.usable(COA, 310.0)
    assert not token.usable("2001:db8:3::a", 101.0)
