"""Each handover of a capture, step by step (:mod:`scapy_fama.latency`), from what crossed the wire.

Theory of operation
-------------------
A capture sees packets, not link events, so a handover's moments are the times
its packets crossed the capture point (one clock, whoever captured)::

    RS, RA        the attachment the reconstruction paired with the handover
    CoA usable    the first signalling from the new CoA (its first BU or CoTI)
    per binding   the care-of test with its DAR (the first CoTI, the first CoT: a CoTI may be sent
                  again), the first BU of the attempt (after the CoT when there is one; a BU
                  before the test, refused 137, and that refusal are steps of their own, profile §5),
                  retransmissions
                  and retries after 135, 137, 147 counted in ``bus``), the BU that BA answers when
                  a later one and the refusal it was sent again for, the BA that ended it
    down, up      the first IPv6-in-IPv6 packet DAR -> CoA for the HoA, and CoA -> DAR from it,
                  at or after the handover's start (a stream that starts again counts,
                  :meth:`TunnelCount.first_after`); up takes any inner source when none is the
                  HoA (ns-3's MIPv6 writes :: there)

A de-registration has no tunnel after it: from home its data is native again, and
a released address has none.

A capture that starts after a move (or during one, its BU missed) sees the MN's
first BU from its CoA only at a refresh. The first handover of an MN whose
binding's tunnel carried packets before that BU is such a refresh for that
binding, and no step of it: the binding was registered before the capture began.
A handover all of whose bindings are so has no breakdown.
"""

from __future__ import annotations

from scapy_fama.analysis.classify import TunnelCount
from scapy_fama.analysis.reconstruct import Exchange, Handover, MobileNode
from scapy_fama.latency import BindingMoments, Breakdown, Moments, again, breakdown, refusal, untested

Tunnels = dict[tuple[str, str, str, str], TunnelCount]


def _first(tunnels: Tunnels, t: float, outer: tuple[str, str], inner: tuple[int, str] | None) -> float | None:
    """The first tunnelled packet from ``t`` on between the ``outer`` addresses (with the inner
    address at position ``inner[0]`` of the key equal to ``inner[1]``, when given)."""
    found = [count.first_after(t) for key, count in tunnels.items()
             if key[:2] == outer and (inner is None or key[inner[0]] == inner[1])]  # fmt: skip
    times = [f for f in found if f is not None]
    return min(times) if times else None


def _older(tunnels: Tunnels, h: Handover, dar: str, hoa: str) -> bool:
    """Whether the tunnel of ``hoa`` between ``dar`` and ``h``'s CoA carried a packet before ``h``'s first signalling."""
    return any(count.first < h.time for key, count in tunnels.items()
               if (key[:2] == (dar, h.coa) and key[3] == hoa) or (key[:2] == (h.coa, dar) and key[2] == hoa))  # fmt: skip


def _attempt(exchanges: list[Exchange], coa: str, start: float, end: float) -> list[Exchange]:
    """The exchanges of one handover for one binding: from ``coa``, up to the first accepted."""
    attempt = []
    for ex in exchanges:
        if ex.coa == coa and start <= ex.time < end:
            attempt.append(ex)
            if ex.accepted:
                break
    return attempt


def moments(node: MobileNode, k: int, tunnels: Tunnels) -> Moments:
    """What the capture shows of ``node``'s handover number ``k``."""
    h: Handover = node.handovers[k]
    end = node.handovers[k + 1].start if k + 1 < len(node.handovers) else float("inf")
    seen = Moments(coa=h.coa, usable=h.time)
    if h.attachment is not None:
        seen.rs, seen.ra = h.attachment.time, h.attachment.ra_time
    involved = set(h.kept) | set(h.released) | set(h.failed)
    for b in node.bindings:
        attempt = _attempt(b.exchanges, h.coa, h.start, end) if b.hoa in involved else []
        if not attempt or (k == 0 and _older(tunnels, h, b.dar, b.hoa)):
            continue
        last = attempt[-1]
        one = BindingMoments(b.hoa, b.dar, ba=last.ba_last_seen, status=last.status,
                             bus=sum(1 + ex.retransmissions for ex in attempt), released=last.deregistration)  # fmt: skip
        tests = [t for t in node.tests if not t.home and t.address == h.coa and t.peer == b.dar and h.start <= t.time < end]
        if tests:  # a CoTI sent again (its CoT lost): the test runs from the first CoTI to the first CoT
            one.coti = tests[0].time
            one.cot = next((t.reply_time for t in tests if t.reply_time is not None), None)
        one.bu = next((ex.time for ex in attempt if one.cot is None or ex.time >= one.cot), attempt[0].time)
        one.again = again(one.bu, last.time if last.ba_last_seen is not None else None)
        answers = [(ex.ba_last_seen, ex.status) for ex in attempt if ex.ba_last_seen is not None and ex.status is not None]
        refusal(one, answers)
        untested(one, attempt[0].time, answers)
        if not last.deregistration:  # released (from home, or from elsewhere): no tunnel after it
            one.down = _first(tunnels, h.start, (b.dar, h.coa), (3, b.hoa))
            up = _first(tunnels, h.start, (h.coa, b.dar), (2, b.hoa))
            one.up = up if up is not None else _first(tunnels, h.start, (h.coa, b.dar), None)
        seen.bindings.append(one)
    return seen


def breakdowns(node: MobileNode, tunnels: Tunnels) -> list[Breakdown | None]:
    """The breakdown of each of ``node``'s handovers, in order (None: the capture holds none of it)."""
    seen = [moments(node, k, tunnels) for k in range(len(node.handovers))]
    return [breakdown(m) if m.bindings else None for m in seen]
