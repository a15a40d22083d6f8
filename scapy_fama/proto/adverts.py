"""When a DAR sends its Router Advertisements, and to whom (profile §2 step 1, RFC 4861 §6.2.4-6).

Theory of operation
-------------------
A DAR advertises on a timer (unsolicited, to all nodes) and answers Router
Solicitations. An RS from a unicast source is answered with a unicast RA to
that source; one from ``::`` (a host without an address yet, as a moving MN
is) can only be answered to all nodes, and those multicast RAs are rate-limited::

    RS from fe80::5      -> RA to fe80::5 now (+ ra_delay draw)
    RS from ::  t=0      -> RA to ff02::1 now (+ draw)          last multicast = 0
    RS from ::  t=0.01   -> RA to ff02::1 at 0 + min_delay (+ draw), once for every RS until then
    timer                -> RA to ff02::1 every ra_interval; any multicast RA restarts that wait

``min_delay_between_ras`` is RFC 4861's MIN_DELAY_BETWEEN_RAS (3 s), which RFC
6275 §7.5 lets a mobility router lower to 30 ms (the profile's default): an RS
flood from ``::`` gets at most one multicast RA per that delay, however many
RSs it holds. ``ra_delay`` is the random delay before a solicited RA (RFC 4861
§6.2.6 MAX_RA_DELAY_TIME, 0.5 s); the profile uses 0 (§9). With a delay, the
unicast answers wait in a table bounded by ``UNICAST_PENDING``: an RS beyond
it is answered by the next multicast RA instead (RFC 4861 §6.2.6 lets a router
always multicast), so a flood of RSs from many sources costs no memory. A
unicast answer without delay is one RA for one RS: no amplification, nothing
kept.
"""

from __future__ import annotations

from collections.abc import Callable

from scapy_fama.proto.retransmit import random_delay

ALL_NODES = "ff02::1"
UNSPECIFIED = "::"
UNICAST_PENDING = 64  # unicast RAs waiting for their random delay at most


class RaSchedule:
    """The DAR's RA timing: which RAs are due now, and when the next one is."""

    def __init__(
        self,
        interval: float,
        min_delay: float,
        max_delay: float,
        rand: Callable[[int], bytes],
    ) -> None:
        self._interval = interval
        self._min_delay = min_delay
        self._max_delay = max_delay
        self._rand = rand
        self._unsolicited = 0.0  # the first unsolicited RA is due at once
        self._last_multicast: float | None = None
        self._multicast_due: float | None = None  # a solicited multicast RA, scheduled
        self._unicast: dict[str, float] = {}  # destination -> when its RA is due

    def next_deadline(self) -> float:
        times = [self._unsolicited, *self._unicast.values()]
        if self._multicast_due is not None:
            times.append(self._multicast_due)
        return min(times)

    def solicited(self, source: str, now: float) -> list[str]:
        """An RS from ``source`` arrived: the RA destinations due now (RFC 4861 §6.2.6)."""
        delay = random_delay(self._rand, self._max_delay)
        if source != UNSPECIFIED:
            if delay == 0:
                return [source]
            if source in self._unicast or len(self._unicast) < UNICAST_PENDING:
                self._unicast.setdefault(source, now + delay)
                return []
        if self._multicast_due is None:  # later RSs share the RA already scheduled
            earliest = now + delay
            if self._last_multicast is not None:
                earliest = max(earliest, self._last_multicast + self._min_delay + delay)
            self._multicast_due = earliest
        return self.due(now)

    def due(self, now: float) -> list[str]:
        """The RA destinations due at ``now``, taken off the schedule."""
        out = [dst for dst, when in self._unicast.items() if when <= now]
        for dst in out:
            del self._unicast[dst]
        solicited = self._multicast_due is not None and now >= self._multicast_due
        if solicited or now >= self._unsolicited:  # RFC 4861 §6.2.4 and §6.2.6
            out.append(ALL_NODES)
            self._last_multicast = now
            self._multicast_due = None
            self._unsolicited = now + self._interval  # a multicast RA restarts the wait
        return out
