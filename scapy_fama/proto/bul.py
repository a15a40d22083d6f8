"""The MN's Binding Update List: one entry per kept address and its DAR (profile §7).

Theory of operation
-------------------
An entry remembers what the MN and DAR_i share about HoA_i (the sequence
number, the PHKT, the care-of token of secure mode) and where the current
exchange stands. An *exchange* is one registration or de-registration: BUs
(each with a new sequence number) until a BA settles it or the back-off gives
up; in secure mode it starts with CoTI/CoT. Its one timer says what to do next
(SEND: a message held by the rate limit; TIMEOUT: retransmit or give up;
REFRESH: 80 % of the granted lifetime).

The entry's state changes only by an event, through one table, in the manner
of h11's ``_state.py``: (state, event) -> state, and a pair the table lacks
raises :class:`IllegalTransition` (a bug in the caller, never a peer's doing:
the MN checks a message before it fires an event)::

    state          event          next state      what the event is
    IDLE           REGISTER       REGISTERING     handover, keep policy, re-registration
    IDLE           DEREGISTER     DEREGISTERING   released, or back home (profile §3, §4)
    REGISTERING    COA_TEST       TESTING         a CoTI goes out first (profile §5)
    TESTING        COA_TEST       TESTING         the CoTI is retransmitted
    TESTING        COT            REGISTERING     the care-of token came: the BU goes next
    REGISTERING,   ACCEPTED       BOUND           a BA accepts a BU of the exchange
      TESTING      REGISTER       REGISTERING     a new CoA: a new exchange
                   DEREGISTER     DEREGISTERING
                   GIVE_UP        IDLE            refused, or the back-off is spent
    BOUND          REGISTER       REGISTERING     refresh, a new CoA, a Binding Error
    BOUND          DEREGISTER     DEREGISTERING
    DEREGISTERING  DEREGISTERED   IDLE            a BA accepts the de-registration
    DEREGISTERING  DEREGISTER     DEREGISTERING   from a new CoA
    DEREGISTERING  GIVE_UP        IDLE
    any            SUSPEND        IDLE            the link went down
    any            PHKT_RENEWED   (unchanged)     a late BA brings the DAR's PHKT (below)
    REGISTERING,   PHKT_DOUBTED   (unchanged)     PHKT-authorised BUs go unanswered (below)
      TESTING,
      DEREGISTERING

A release is final: nothing leads from DEREGISTERING back to REGISTERING. The
table also says what each event does to the exchange (:data:`EXCHANGE`): REGISTER
and DEREGISTER start a new one (earlier BUs no longer count); ACCEPTED,
DEREGISTERED, GIVE_UP and SUSPEND end it; COA_TEST, COT, PHKT_RENEWED and
PHKT_DOUBTED carry it on (or leave it alone when there is none).

A BA is matched against the BUs of the current exchange (``sent``); each sent
BU remembers the keys its BA must verify with (RFC 6275 §11.7.3). The entry
holds no policy: :class:`scapy_fama.proto.mn.MnCore` drives it.

Late PHKTs. Without a PHKT every BU is CGA-signed, retransmissions included, and
the DAR takes each one it receives in seq order (profile §6 step 3: one that is
not newer gets 135) and issues a new PHKT for each, which replaces the one before
(RFC 4866 §4.9). When the BA to BU(s) arrives after BU(s+1) has left (a slow
link, a busy DAR), the exchange ends with PHKT(s) while the DAR holds PHKT(s+1)::

    MN                                     DAR
     |-- BU(s, CGA) ------------------------>|  PHKT1
     |   ... no BA within the timeout ...    |
     |-- BU(s+1, CGA) ---------------------->|  PHKT2 replaces PHKT1
     |<- BA(s, 0, PHKT1) --------------------|  ACCEPTED: bound, PHKT1
     |<- BA(s+1, 0, PHKT2) ------------------|  PHKT_RENEWED: PHKT2, as the DAR

So the events that accept a BU (ACCEPTED, DEREGISTERED, PHKT_RENEWED) name its
seq. When a BA ends an exchange by accepting BU(s), the entry keeps in
``renewals`` the exchange's CGA-signed BUs newer than s: a BA 0 for one of them,
carrying a PHKT its BAD verifies with, brings the PHKT the DAR holds, whatever
the state by then (PHKT_RENEWED), and makes the older renewals moot (a BA for one
of those that comes later, reordered, changes nothing). A later accepted BU
makes them all moot: the DAR took it after them, with the key the MN holds.

Doubted PHKTs. The MN's PHKT can differ from the DAR's for good: the BA with the
DAR's newer PHKT went to a CoA the MN had left, or the DAR lost and rebuilt its
state without a restart. The DAR then drops every PHKT-authorised BU without a
word (profile §6 step 4: a wrong BAD is a silent drop; no BA 147, it holds a
PHKT), so only the MN can notice, by the silence. The entry counts the
PHKT-authorised BUs of the exchange sent since a BA last verified, a late one
bringing a PHKT included (``unanswered``, :meth:`BulEntry.note`,
:meth:`BulEntry.heard`, PHKT_RENEWED: BUs unanswered under the PHKT it
replaces say nothing of the new one); when the MN
decides it has heard nothing for too long, PHKT_DOUBTED drops the PHKT, so that
the exchange's next BU, and every one after it until a BA brings a new PHKT, is
CGA-signed as if the MN had never held one (RFC 4866 §4.4: repeated failures
with a PHKT, renew it with a CGA BU; §4.9: the MN may renew at any time). A BA
to one of the earlier BUs still verifies: each sent BU keeps its own key
(``SentBu.phkt``). ``phkt_seq`` stays: it goes with the next PHKT stored.
Doubting is the MN's guess from silence, not news that the DAR dropped the
PHKT: when BAs were lost the DAR holds it still, and profile §7 takes a BA only
with a valid BAD while a PHKT exists. So the doubted PHKT (``doubted``) keys the
refusals to the BUs signed after it, as it did before: a refusal forged without
its BAD (a 148 ends the binding) is dropped, and the DAR's own refusals verify.
Storing a new PHKT (:meth:`BulEntry.store`), or a 147 (the DAR holds none),
ends it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from scapy_fama.proto.config import MAX_TOKEN_LIFETIME
from scapy_fama.proto.retransmit import Backoff
from scapy_fama.proto.seqno import seq_add, seq_newer


class BulState(Enum):
    IDLE = "idle"
    TESTING = "testing"  # CoTI sent, waiting for the CoT (profile §5)
    REGISTERING = "registering"
    BOUND = "bound"
    DEREGISTERING = "deregistering"


class BulEvent(Enum):
    REGISTER = "register"
    DEREGISTER = "deregister"
    COA_TEST = "coa-test"
    COT = "cot"
    ACCEPTED = "accepted"
    DEREGISTERED = "deregistered"
    GIVE_UP = "give-up"
    SUSPEND = "suspend"
    PHKT_RENEWED = "phkt-renewed"
    PHKT_DOUBTED = "phkt-doubted"


class Exchange(Enum):
    """What an event does to the entry's exchange."""

    START = "start"  # a new exchange from a given CoA: earlier BUs no longer count
    CARRY_ON = "carry-on"
    END = "end"  # sent BUs, back-off, cookie and timer are cleared


_S, _E = BulState, BulEvent
_EXCHANGE_RUNNING = (_S.REGISTERING, _S.TESTING)

TRANSITIONS: dict[tuple[BulState, BulEvent], BulState] = {
    (_S.IDLE, _E.REGISTER): _S.REGISTERING,
    (_S.IDLE, _E.DEREGISTER): _S.DEREGISTERING,
    (_S.REGISTERING, _E.COA_TEST): _S.TESTING,
    (_S.TESTING, _E.COA_TEST): _S.TESTING,
    (_S.TESTING, _E.COT): _S.REGISTERING,
    **{(state, _E.ACCEPTED): _S.BOUND for state in _EXCHANGE_RUNNING},
    **{(state, _E.REGISTER): _S.REGISTERING for state in _EXCHANGE_RUNNING},
    **{(state, _E.DEREGISTER): _S.DEREGISTERING for state in _EXCHANGE_RUNNING},
    **{(state, _E.GIVE_UP): _S.IDLE for state in _EXCHANGE_RUNNING},
    (_S.BOUND, _E.REGISTER): _S.REGISTERING,
    (_S.BOUND, _E.DEREGISTER): _S.DEREGISTERING,
    (_S.DEREGISTERING, _E.DEREGISTERED): _S.IDLE,
    (_S.DEREGISTERING, _E.DEREGISTER): _S.DEREGISTERING,
    (_S.DEREGISTERING, _E.GIVE_UP): _S.IDLE,
    **{(state, _E.SUSPEND): _S.IDLE for state in BulState},
    **{(state, _E.PHKT_RENEWED): state for state in BulState},
    **{(state, _E.PHKT_DOUBTED): state for state in (*_EXCHANGE_RUNNING, _S.DEREGISTERING)},
}

EXCHANGE: dict[BulEvent, Exchange] = {
    _E.REGISTER: Exchange.START,
    _E.DEREGISTER: Exchange.START,
    _E.COA_TEST: Exchange.CARRY_ON,
    _E.COT: Exchange.CARRY_ON,
    _E.ACCEPTED: Exchange.END,
    _E.DEREGISTERED: Exchange.END,
    _E.GIVE_UP: Exchange.END,
    _E.SUSPEND: Exchange.END,
    _E.PHKT_RENEWED: Exchange.CARRY_ON,
    _E.PHKT_DOUBTED: Exchange.CARRY_ON,
}
# the events of a BA that accepts a BU: they name its seq (see "Late PHKTs" above)
ACCEPTING = frozenset({_E.ACCEPTED, _E.DEREGISTERED, _E.PHKT_RENEWED})


class IllegalTransition(RuntimeError):
    """An event the entry's state does not allow: a bug in the caller."""


def next_state(state: BulState, event: BulEvent) -> BulState:
    """The state ``event`` leads to from ``state``; raises IllegalTransition if none."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise IllegalTransition(f"BUL: {event.value} is not allowed in {state.value}") from None


class Due(Enum):
    """What the entry's timer does when it fires."""

    SEND = "send"  # a message held back by the rate limit
    TIMEOUT = "timeout"  # no answer: retransmit (new seq / new cookie) or give up
    REFRESH = "refresh"  # 80 % of the granted lifetime has passed


@dataclass(frozen=True)
class CareOfToken:
    """A care-of keygen token from a CoT (RFC 6275 §5.2.5), valid for one CoA."""

    coa: str
    index: int
    token: bytes
    received: float

    def usable(self, coa: str, now: float) -> bool:
        return self.coa == coa and now - self.received < MAX_TOKEN_LIFETIME  # RFC 6275 §5.2.7


@dataclass(frozen=True)
class SentBu:
    """One BU of the current exchange, and what its BA must be checked with."""

    seq: int
    src: str
    auth_coa: str  # the CoA its signature / BAD cover (the HoA to de-register)
    at: float
    deregistration: bool
    phkt: bytes | None  # the PHKT held (or doubted) when it was sent: keys the BA unless a new one comes
    care_of: bytes | None  # the care-of token it used
    cga: bool = False  # CGA-signed: a BA accepting it must issue a PHKT (profile §4)


@dataclass
class BulEntry:
    hoa: str
    dar: str
    seq: int  # the last sequence number used
    phkt: bytes | None = None
    phkt_seq: int = 0  # the seq that brought the PHKT (renew before the seq space wraps)
    doubted: bytes | None = None  # the PHKT PHKT_DOUBTED dropped, until the next (see "Doubted PHKTs")
    _state: BulState = field(default=BulState.IDLE, init=False)
    coa: str | None = None  # the CoA of the current exchange
    sent: dict[int, SentBu] = field(default_factory=dict)
    # CGA-signed BUs newer than the last BU a BA accepted (see "Late PHKTs" above)
    renewals: dict[int, SentBu] = field(default_factory=dict)
    # PHKT-authorised BUs of the exchange sent since a BA last verified (see "Doubted PHKTs")
    unanswered: int = 0
    backoff: Backoff | None = None
    timer: float | None = None
    due: Due | None = None
    registered: bool = False  # a registration may stand at the DAR (de-register before dropping)
    ever_bound: bool = False  # a later registration is no "first registration" (1 s, not 1.5 s)
    bound_until: float | None = None
    tunnel: str | None = None  # the local end (CoA) of the MN's tunnel while it is up
    care_of: CareOfToken | None = None
    cookie: bytes | None = None  # of the outstanding CoTI

    def next_seq(self) -> int:
        """A new, greater sequence number for every BU (RFC 6275 §11.8)."""
        self.seq = seq_add(self.seq)
        return self.seq

    @property
    def state(self) -> BulState:
        return self._state

    def fire(self, event: BulEvent, coa: str | None = None, *, seq: int | None = None) -> None:
        """Move by ``event`` (see the table); an event that starts an exchange needs its CoA,
        one that accepts a BU (:data:`ACCEPTING`) that BU's ``seq``."""
        state = next_state(self._state, event)
        exchange = EXCHANGE[event]
        if exchange is Exchange.START and coa is None:
            raise ValueError(f"BUL: {event.value} starts an exchange and needs its CoA")
        if exchange is not Exchange.START and coa is not None:
            raise ValueError(f"BUL: {event.value} does not start an exchange: no CoA")
        if (event in ACCEPTING) != (seq is not None):
            need = "accepts a BU and needs its seq" if seq is None else "accepts no BU: no seq"
            raise ValueError(f"BUL: {event.value} {need}")
        if event is BulEvent.PHKT_RENEWED and seq not in self.renewals:
            raise ValueError(f"BUL: {seq} is no CGA-signed BU newer than the last one accepted")
        if event is BulEvent.PHKT_DOUBTED and self.phkt is None:
            raise ValueError("BUL: phkt-doubted needs a PHKT to doubt")
        if seq is not None:  # RFC 4866 §4.9 / profile §6 step 3: only a newer PHKT is the DAR's
            pending = self.renewals if exchange is Exchange.CARRY_ON else self.renewals | self.sent
            self.renewals = {s: bu for s, bu in pending.items() if bu.cga and seq_newer(s, seq)}
        if coa is not None:
            self.coa = coa
            self.backoff = Backoff(first_registration=not self.ever_bound)
        if exchange is not Exchange.CARRY_ON:
            self.sent = {}
            self.cookie = None
            self.unanswered = 0
        if event is BulEvent.PHKT_DOUBTED:  # the next BUs are CGA-signed (see "Doubted PHKTs")
            self.doubted, self.phkt = self.phkt, None
        if event in (BulEvent.PHKT_DOUBTED, BulEvent.PHKT_RENEWED):  # none sent with the new key
            self.unanswered = 0
        if exchange is Exchange.END:
            self.backoff = None
            self.set_timer(None, None)
        self._state = state

    def set_timer(self, when: float | None, due: Due | None) -> None:
        self.timer = when
        self.due = due

    def note(self, bu: SentBu) -> None:
        """``bu`` leaves: a BA is matched against it; a PHKT-authorised one counts as unanswered
        until a BA verifies (see "Doubted PHKTs")."""
        self.sent[bu.seq] = bu
        if not bu.cga:
            self.unanswered += 1

    def store(self, phkt: bytes, seq: int) -> None:
        """A verified BA to BU ``seq`` brought ``phkt``: the DAR's, and no PHKT is doubted now."""
        self.phkt, self.phkt_seq, self.doubted = phkt, seq, None

    def heard(self) -> None:
        """A BA to a BU of the exchange verified: the DAR hears the MN, with the MN's keys."""
        self.unanswered = 0

    def latest(self) -> SentBu | None:
        return self.sent.get(self.seq)
