"""The ICMPv6 errors a role sends, and when it must not (RFC 4443 §2.4).

Theory of operation
-------------------
Three events make a role answer a packet with an ICMPv6 error, quoting it
(:mod:`scapy_fama.wire.icmpv6` builds them)::

    unrecognised option, action bits 10 or 11 (RFC 8200 §4.2) --> Parameter Problem, code 2, at the option
    a transit packet that came with hop limit 1 or 0 (§3)       --> Time Exceeded, code 0 (a router)
    a reassembly abandoned after 60 s, first fragment in (§4.5) --> Time Exceeded, code 1
    a fragment of a bad size (§4.5)                             --> Parameter Problem, code 0

:class:`IcmpErrors` says whether one may go (RFC 4443 §2.4 (e)): never for an
ICMPv6 error or a Redirect, never to a source that does not name one node
(``::``, multicast), never for a packet sent to a multicast group or as a
link-layer multicast, except a Parameter Problem code 2 for an option whose
action bits are 10; and it rate-limits them all with one token bucket (§2.4
(f)), so that a flood of offending packets costs a few errors a second.
"""

from __future__ import annotations

from scapy_fama.wire import WireInfo, icmpv6
from scapy_fama.wire.numbers import ACTION_REPORT, ICMPV6, PP_OPTION, REDIRECT

PER_SECOND = 10.0  # errors sent per second at most, after a burst of
BURST = 10


def _multicast(address: str) -> bool:
    return address[:2].lower() == "ff"


class IcmpErrors:
    """Whether an ICMPv6 error may answer a packet, and the error's bytes."""

    def __init__(self, per_second: float = PER_SECOND, burst: int = BURST) -> None:
        self.per_second = per_second
        self.burst = burst
        self._tokens = float(burst)
        self._at = 0.0
        self.sent = 0
        self.limited = 0  # errors the rate limit held back

    def parameter_problem(
        self, source: str | None, ip: bytes, info: WireInfo, code: int, pointer: int, now: float, *, link_multicast: bool
    ) -> bytes | None:
        """Parameter Problem for ``ip`` at byte ``pointer``, from ``source`` (None: this node has
        no address to send it from)."""
        allow_multicast = code == PP_OPTION and ip[pointer] >> 6 == ACTION_REPORT
        if source is None or not self._may(ip, info, now, allow_multicast, link_multicast):
            return None
        return icmpv6.parameter_problem(source, info.src, code, pointer, ip[: info.end])

    def time_exceeded(
        self, source: str | None, ip: bytes, info: WireInfo, code: int, now: float, *, link_multicast: bool
    ) -> bytes | None:
        if source is None or not self._may(ip, info, now, False, link_multicast):
            return None
        return icmpv6.time_exceeded(source, info.src, ip[: info.end], code)

    def _may(self, ip: bytes, info: WireInfo, now: float, allow_multicast: bool, link_multicast: bool) -> bool:
        if info.proto == ICMPV6 and info.upper is not None and info.upper < info.end:
            kind = ip[info.upper]
            if kind < 128 or kind == REDIRECT:  # (e.1), (e.2)
                return False
        if info.src == "::" or _multicast(info.src):  # (e.6)
            return False
        if (_multicast(info.dst) or link_multicast) and not allow_multicast:  # (e.3), (e.4)
            return False
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.per_second)  # (f)
        self._at = now
        if self._tokens < 1:
            self.limited += 1
            return False
        self._tokens -= 1
        self.sent += 1
        return True
