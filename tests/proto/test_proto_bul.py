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
    # a late BA brings the PHKT the DAR holds (RFC 4866 §4.9), whatever the state by then
    **{(state, E.PHKT_RENEWED): state for state in BulState},
    # PHKT-authorised BUs of the exchange went unanswered: the next ones are CGA-signed
    # (RFC 4866 §4.4); only while an exchange sends BUs
    (R, E.PHKT_DOUBTED): R,
    (T, E.PHKT_DOUBTED): T,
    (D, E.PHKT_DOUBTED): D,
}


RENEWAL = 12  # a CGA-signed BU sent after the last one a BA accepted
PHKT = bytes(range(8))


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
        fire(entry, event, coa)
    entry.renewals[RENEWAL] = cga_bu(RENEWAL)
    assert entry.state is state
    return entry


def cga_bu(seq: int, *, cga: bool = True) -> SentBu:
    return SentBu(seq, COA, COA, 0.0, False, None, None, cga=cga)


def fire(entry: BulEntry, event: BulEvent, coa: str | None = None) -> None:
    """``event`` with what it needs: its CoA if it starts an exchange, a seq if it accepts a BU."""
    seq = {E.ACCEPTED: 11, E.DEREGISTERED: 11, E.PHKT_RENEWED: RENEWAL}.get(event)
    if event is E.PHKT_DOUBTED:
        entry.phkt = PHKT
    entry.fire(event, coa, seq=seq)


def test_the_table_is_exactly_the_legal_transitions() -> None:
    assert TRANSITIONS == LEGAL


@pytest.mark.parametrize(("state", "event"), sorted(LEGAL, key=str))
def test_every_legal_transition(state: BulState, event: BulEvent) -> None:
    entry = entry_in(state)
    starts = event in (E.REGISTER, E.DEREGISTER)
    fire(entry, event, COA if starts else None)
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
        fire(entry, event, COA if starts else None)
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
    entry.fire(E.ACCEPTED, seq=11)
    assert (entry.sent, entry.backoff, entry.timer, entry.due) == ({}, None, None, None)
    entry.ever_bound = True
    entry.fire(E.REGISTER, COA)
    assert entry.backoff is not None and entry.backoff.wait == 1.0 and entry.latest() is None


def test_a_care_of_token_is_good_for_its_coa_for_210_s() -> None:
    token = CareOfToken(COA, 3, bytes(8), received=100.0)
    assert token.usable(COA, 309.9) and not token.usable(COA, 310.0)
    assert not token.usable("2001:db8:3::a", 101.0)


def exchange_of(entry: BulEntry, *bus: SentBu) -> None:
    entry.fire(E.REGISTER, COA)
    entry.sent = {bu.seq: bu for bu in bus}


@pytest.mark.parametrize("accepting", [E.ACCEPTED, E.DEREGISTERED])
def test_a_ba_accepting_a_bu_keeps_the_later_cga_signed_bus_as_renewals(
    accepting: BulEvent,
) -> None:
    """RFC 4866 §4.9 with profile §6 step 3: the DAR took the exchange's BUs in seq order and
    each CGA-signed one it accepted replaced the PHKT; those sent after the accepted one may
    still bring the PHKT it holds. Across the wrap (65535 -> 0), and PHKT-authorised BUs never."""
    entry = BulEntry(HOA, DAR, seq=65533)
    start = E.DEREGISTER if accepting is E.DEREGISTERED else E.REGISTER
    entry.fire(start, COA)
    entry.sent = {s: cga_bu(s) for s in (65534, 65535, 0)} | {1: cga_bu(1, cga=False)}
    entry.fire(accepting, seq=65535)
    assert set(entry.renewals) == {0} and entry.sent == {}
    entry.fire(E.PHKT_RENEWED, seq=0)
    assert entry.renewals == {} and entry.state is (I if accepting is E.DEREGISTERED else B)


def test_a_renewal_makes_the_older_ones_moot_and_survives_a_new_exchange() -> None:
    """BAs reordered: the newest renewal's PHKT is the DAR's, an older one's no longer counts.
    A new exchange (a refresh) leaves them; a BA accepting one of its BUs, which the DAR took
    after any renewal, makes them all moot."""
    entry = BulEntry(HOA, DAR, seq=10)
    exchange_of(entry, cga_bu(11), cga_bu(12), cga_bu(13), cga_bu(14))
    entry.fire(E.ACCEPTED, seq=11)
    assert set(entry.renewals) == {12, 13, 14}
    entry.fire(E.PHKT_RENEWED, seq=13)
    assert set(entry.renewals) == {14} and entry.state is B
    with pytest.raises(ValueError, match="12 is no CGA-signed BU newer than the last one accepted"):
        entry.fire(E.PHKT_RENEWED, seq=12)
    exchange_of(entry, cga_bu(15, cga=False))
    assert set(entry.renewals) == {14}
    entry.fire(E.ACCEPTED, seq=15)
    assert entry.renewals == {}


def test_only_the_events_accepting_a_bu_name_its_seq() -> None:
    with pytest.raises(ValueError, match="accepted accepts a BU and needs its seq"):
        entry_in(R).fire(E.ACCEPTED)
    with pytest.raises(ValueError, match="give-up accepts no BU: no seq"):
        entry_in(R).fire(E.GIVE_UP, seq=11)


def test_unanswered_counts_the_phkt_authorised_bus_since_a_ba_last_verified() -> None:
    """"Doubted PHKTs": CGA-signed BUs do not count, a verified BA starts the count again,
    and so does every new exchange."""
    entry = BulEntry(HOA, DAR, seq=10, phkt=PHKT)
    entry.fire(E.REGISTER, COA)
    entry.note(cga_bu(11, cga=False))
    entry.note(cga_bu(12))
    entry.note(cga_bu(13, cga=False))
    assert entry.unanswered == 2 and set(entry.sent) == {11, 12, 13}
    entry.heard()
    assert entry.unanswered == 0
    entry.note(cga_bu(14, cga=False))
    entry.fire(E.COA_TEST)  # carries the exchange on
    assert entry.unanswered == 1
    entry.fire(E.REGISTER, COA)
    assert entry.unanswered == 0


def test_a_late_phkt_starts_the_count_again_and_the_exchange_carries_on() -> None:
    """"Doubted PHKTs": the BUs unanswered under PHKT1 say nothing of the PHKT a renewal brings;
    the refresh under way goes on (its BUs, back-off and timer)."""
    entry = BulEntry(HOA, DAR, seq=10)
    exchange_of(entry, cga_bu(11), cga_bu(12))
    entry.fire(E.ACCEPTED, seq=11)
    entry.fire(E.REGISTER, COA)
    for seq in (13, 14):
        entry.note(cga_bu(seq, cga=False))
    entry.set_timer(3.0, Due.TIMEOUT)
    entry.fire(E.PHKT_RENEWED, seq=12)
    assert (entry.state, entry.unanswered, set(entry.sent)) == (R, 0, {13, 14})
    assert (entry.timer, entry.due) == (3.0, Due.TIMEOUT)


def test_a_doubted_phkt_is_dropped_and_the_exchange_carries_on() -> None:
    """RFC 4866 §4.4: the next BUs are CGA-signed (no PHKT held); the BUs sent keep their keys
    for their BAs, the back-off and the timer go on, phkt_seq waits for the next PHKT."""
    entry = BulEntry(HOA, DAR, seq=10, phkt=PHKT, phkt_seq=3)
    entry.fire(E.DEREGISTER, COA)
    for seq in (11, 12):
        entry.note(SentBu(seq, COA, HOA, 0.0, True, PHKT, None))
    entry.set_timer(3.0, Due.TIMEOUT)
    backoff = entry.backoff
    entry.fire(E.PHKT_DOUBTED)
    assert (entry.state, entry.phkt, entry.phkt_seq, entry.unanswered) == (D, None, 3, 0)
    assert [bu.phkt for bu in entry.sent.values()] == [PHKT, PHKT]
    assert (entry.backoff, entry.timer, entry.due) == (backoff, 3.0, Due.TIMEOUT)
    with pytest.raises(ValueError, match="phkt-doubted needs a PHKT to doubt"):
        entry.fire(E.PHKT_DOUBTED)


def test_a_doubted_phkt_keys_the_answers_to_the_bus_after_it_until_a_new_one_is_stored() -> None:
    """"Doubted PHKTs": the DAR may hold the doubted PHKT still (profile §7: a BA needs a valid
    BAD while a PHKT exists); the next PHKT stored, with the seq that brought it, ends that."""
    entry = BulEntry(HOA, DAR, seq=10, phkt=PHKT, phkt_seq=3)
    entry.fire(E.REGISTER, COA)
    entry.fire(E.PHKT_DOUBTED)
    assert (entry.phkt, entry.doubted) == (None, PHKT)
    entry.store(bytes(8), 13)
    assert (entry.phkt, entry.phkt_seq, entry.doubted) == (bytes(8), 13, None)
