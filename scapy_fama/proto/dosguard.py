"""Token buckets: the DAR's budget of CGA verifications and of Binding Errors.

Theory of operation
-------------------
A CGA check plus an RSA verification is the one expensive thing a DAR does for
an unauthenticated sender (profile §6 "DoS guard"; RFC 4866 §6.6). The guard
(a :class:`SourceLimiter`) holds a token bucket for all sources and one per /64
of the BU's source address; a CGA-signed BU is verified only if both buckets
hold a token, and is otherwise answered at once with BA 130::

    CGA BU from 2001:db8:9::5 --> global bucket  [o o o .]  and
                                  2001:db8:9::/64 [o .]      --> both have one: take, verify
                                                               otherwise: BA 130, no RSA work

Nothing is queued, so a PHKT-authorised BU (an HMAC) never waits behind CGA
work: it does not touch the buckets at all. A bucket refills at ``rate`` tokens
per second up to ``burst``; per-prefix buckets that have refilled completely
are forgotten, since a new one would be identical, which bounds the memory a
flood of sources can claim.

Binding Errors (RFC 6275 §9.3.3: rate-limited like ICMPv6 errors) have a
SourceLimiter of their own, so that one sender cannot spend everyone's (profile
§6). Its unit is the /64 too: a host picks any interface identifier in its
/64 (RFC 4862, RFC 4941), so a budget per address would be one per packet.
"""

from __future__ import annotations

from scapy_fama.crypto import addr_bytes

_SWEEP_AT = 1024  # per-prefix buckets held before the full ones are swept


class TokenBucket:
    """``burst`` tokens, refilled at ``rate`` per second of the caller's clock."""

    __slots__ = ("rate", "burst", "_tokens", "_stamp")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._tokens = float(burst)
        self._stamp: float | None = None

    def _refill(self, now: float) -> None:
        stamp = self._stamp
        if stamp is None:
            self._stamp = now
        elif now > stamp:  # a clock that steps back refills nothing
            self._tokens = min(self.burst, self._tokens + (now - stamp) * self.rate)
            self._stamp = now

    def available(self, now: float) -> bool:
        self._refill(now)
        return self._tokens >= 1.0

    def take(self, now: float) -> bool:
        """Spend one token if there is one."""
        if not self.available(now):
            return False
        self._tokens -= 1.0
        return True

    def full(self, now: float) -> bool:
        self._refill(now)
        return self._tokens >= self.burst


class SourceLimiter:
    """A budget for all sources together and one per source /64 (profile §6)."""

    def __init__(self, rate: float, burst: int, prefix_rate: float, prefix_burst: int) -> None:
        self._global = TokenBucket(rate, burst)
        self._prefix_rate = prefix_rate
        self._prefix_burst = prefix_burst
        self._per_prefix: dict[bytes, TokenBucket] = {}
        self._sweep_at = _SWEEP_AT

    def admit(self, source: str, now: float) -> str | None:
        """Spend one token on ``source``; None if admitted, else which budget is spent."""
        key = addr_bytes(source)[:8]  # its /64
        bucket = self._per_prefix.get(key)
        if bucket is not None and not bucket.available(now):
            return "per-prefix"
        if not self._global.take(now):
            return "global"
        if bucket is None:  # created only for admitted work: the global rate bounds their number
            bucket = self._per_prefix[key] = TokenBucket(self._prefix_rate, self._prefix_burst)
        bucket.take(now)
        if len(self._per_prefix) > self._sweep_at:
            self._per_prefix = {k: b for k, b in self._per_prefix.items() if not b.full(now)}
            self._sweep_at = max(_SWEEP_AT, 2 * len(self._per_prefix))
        return None
