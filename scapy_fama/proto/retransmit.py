"""Retransmission back-off and the per-peer rate limit of the MN's signalling.

Theory of operation
-------------------
RFC 6275 §11.8 and profile §7: a BU without an answer is sent again after an
initial timeout (1.5 s for a first registration at that DAR, which must wait
for its DAD; 1 s otherwise), the timeout doubling up to MAX_BINDACK_TIMEOUT
(32 s); the MN gives up when the 32 s wait passes without an answer. Every
retransmission is a new BU with a new, greater sequence number (the caller's
job, :mod:`scapy_fama.proto.bul`)::

    t=0 BU#s   1.5 s   BU#s+1   3 s   BU#s+2   6 s  ...  24 s  BU#s+5   32 s   give up
        |--------------|----------------|-- ... --------|----------------|

At most MAX_UPDATE_RATE (3) messages of one type go to one peer in any one
second (RFC 6275 §13); a message that would exceed it is held back until
:meth:`RateWindow.allowed_at`, not dropped.

Random delays (the jitter of a retry after BA 130, the RFCs' random RS and RA
delays) come from the core's injected ``rand`` through :func:`random_delay`, so
the same seed gives the same times.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable

from scapy_fama.proto.config import (
    INITIAL_BINDACK_TIMEOUT,
    INITIAL_BINDACK_TIMEOUT_FIRST_REG,
    MAX_BINDACK_TIMEOUT,
    MAX_UPDATE_RATE,
)


def random_delay(rand: Callable[[int], bytes], upto: float) -> float:
    """A delay drawn evenly from [0, ``upto``) with 16 bits of ``rand``; 0 (no draw) if ``upto`` is 0."""
    if upto <= 0:
        return 0.0
    return upto * int.from_bytes(rand(2), "big") / 65536


class Backoff:
    """The wait before the next retransmission of one exchange."""

    def __init__(self, first_registration: bool) -> None:
        self.wait = (
            INITIAL_BINDACK_TIMEOUT_FIRST_REG if first_registration else INITIAL_BINDACK_TIMEOUT
        )

    def expired(self) -> bool:
        """The current wait passed unanswered: double it (to 32 s) and return True,
        or return False when that was the 32 s step: give up (profile §7)."""
        if self.wait >= MAX_BINDACK_TIMEOUT:
            return False
        self.wait = min(2 * self.wait, MAX_BINDACK_TIMEOUT)
        return True


class RateWindow:
    """At most ``limit`` sends per key in any ``period`` seconds (RFC 6275 §13 MAX_UPDATE_RATE)."""

    def __init__(self, limit: int = MAX_UPDATE_RATE, period: float = 1.0) -> None:
        self.limit = limit
        self.period = period
        self._sent: dict[Hashable, deque[float]] = {}

    def allowed_at(self, key: Hashable, now: float) -> float:
        """The earliest time at or after ``now`` when one more send to ``key`` fits."""
        times = self._sent.get(key)
        if times is None:
            return now
        while times and times[0] + self.period <= now:  # the very sum returned below: a send
            times.popleft()  # held until then is not refused again by a rounding of now - period
        if len(times) < self.limit:
            return now
        return times[0] + self.period

    def note(self, key: Hashable, now: float) -> None:
        self._sent.setdefault(key, deque()).append(now)
