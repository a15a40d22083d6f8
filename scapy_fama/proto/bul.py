"""The MN's Binding Update List: one entry per kept address and its DAR (profile §7).

Theory of operation
-------------------
An entry remembers what the MN and DAR_i share about HoA_i (the sequence
number, the PHKT, the care-of token of secure mode) and where the current
exchange stands. An *exchange* is one registration or de-registration: BUs
(each with a new sequence number) until a BA settles it or the back-off gives
up; in secure mode it starts with CoTI/CoT. Its one timer says what to do next::

    state           timer action            leaves on
    IDLE            -                       handover / refresh -> REGISTERING (or TESTING)
    TESTING         TIMEOUT (new CoTI)      CoT -> REGISTERING
    REGISTERING     SEND (rate limit),      BA 0 -> BOUND; 135 / 147 / 137 -> same exchange
                    TIMEOUT (new BU)        148 and other refusals, back-off spent -> gone
    BOUND           REFRESH (80 %)          -> REGISTERING
    DEREGISTERING   SEND, TIMEOUT           BA 0 -> IDLE (or the address is dropped)

A BA is matched against the BUs of the current exchange (``sent``); each sent
BU remembers the keys its BA must verify with (RFC 6275 §11.7.3). The entry
holds no policy: :class:`scapy_fama.proto.mn.MnCore` drives it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from scapy_fama.proto.config import MAX_TOKEN_LIFETIME
from scapy_fama.proto.retransmit import Backoff
from scapy_fama.proto.seqno import seq_add


class BulState(Enum):
    IDLE = "idle"
    TESTING = "testing"  # CoTI sent, waiting for the CoT (profile §5)
    REGISTERING = "registering"
    BOUND = "bound"
    DEREGISTERING = "deregistering"


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
    phkt: bytes | None  # the PHKT held when it was sent (keys the BA unless a new one comes)
    care_of: bytes | None  # the care-of token it used


@dataclass
class BulEntry:
    hoa: str
    dar: str
    seq: int  # the last sequence number used
    phkt: bytes | None = None
    phkt_seq: int = 0  # the seq that brought the PHKT (renew before the seq space wraps)
    state: BulState = BulState.IDLE
    coa: str | None = None  # the CoA of the current exchange
    sent: dict[int, SentBu] = field(default_factory=dict)
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

    def start(self, state: BulState, coa: str) -> None:
        """Begin a new exchange from ``coa``: earlier BUs no longer count."""
        self.state = state
        self.coa = coa
        self.sent = {}
        self.backoff = Backoff(first_registration=not self.ever_bound)
        self.cookie = None

    def settle(self, state: BulState) -> None:
        """The exchange is over (answered, or suspended by a link change)."""
        self.state = state
        self.sent = {}
        self.backoff = None
        self.cookie = None
        self.set_timer(None, None)

    def set_timer(self, when: float | None, due: Due | None) -> None:
        self.timer = when
        self.due = due

    def latest(self) -> SentBu | None:
        return self.sent.get(self.seq)
