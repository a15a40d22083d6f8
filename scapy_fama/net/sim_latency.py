"""SimNet's handovers step by step (:mod:`scapy_fama.latency`), from its event log: the virtual clock.

Theory of operation
-------------------
A handover of an MN is what its event log holds from one of its ``link-up``
changes to the next (the ``link-down`` just before it is the move's start)::

    Change link-down, link-up                      the move (the MN's link, no carrier between)
    Hop mn -> * RS (sent), Hop * -> mn RA          router discovery (the RA as it arrives)
    NodeEffect mn Notify address-configured        the new CoA is usable
    Hop mn -> DAR_i CoTI / BU (sent), Hop -> mn CoT / BA from DAR_i (arrived)
    Hop DAR_i -> ... Tunnelled for HoA_i, the hop that reaches mn (arrival): down
    Hop mn -> ... Tunnelled from HoA_i to DAR_i (sent): up

Only messages that arrive count as received (a lost hop never does); a BU
sent again counts once, the first (after the CoT when there is a care-of test),
and ``bus`` says how many there were; the BA that answers a later one is timed
from it, after the refusal it was sent again for (135, 147), if any. A BU sent
before the care-of test and its BA 137 (a MN new to the DAR's secure mode,
profile §5) are steps of their own (:func:`scapy_fama.latency.untested`).
"""

from __future__ import annotations

from scapy_fama.latency import BindingMoments, Breakdown, Moments, again, breakdown, refusal, untested
from scapy_fama.net.sim_events import Change, Event, Hop, NodeEffect
from scapy_fama.proto.effects import Notify
from scapy_fama.proto.messages import (
    BindingAck,
    BindingUpdate,
    CareOfTest,
    CareOfTestInit,
    RouterAdvertisement,
    RouterSolicitation,
    Tunnelled,
    is_deregistration,
)
from scapy_fama.proto.status import REFUSED


def _windows(events: list[Event], mn: str) -> list[tuple[float | None, list[Event]]]:
    """Per link-up of ``mn``: the link-down just before it, and the events from it to the next."""
    ups = [k for k, e in enumerate(events) if isinstance(e, Change) and e.node == mn and e.what == "link-up"]
    out = []
    for n, k in enumerate(ups):
        down = next((e.time for e in reversed(events[:k]) if isinstance(e, Change) and e.node == mn
                     and e.what == "link-down"), None)  # fmt: skip
        end = ups[n + 1] if n + 1 < len(ups) else len(events)
        out.append((down, events[k:end]))
    return out


def _binding(hops: list[Hop], mn: str, hoa: str, dar: str) -> BindingMoments:
    sent = [h for h in hops if h.src == mn and not h.forwarded]
    arrived = [h for h in hops if h.dst == mn and h.lost is None]
    bus = [h for h in sent if isinstance(h.msg, BindingUpdate) and h.msg.dst == dar]
    bas = [h for h in arrived if isinstance(h.msg, BindingAck) and h.msg.src == dar]
    ba = next((h for h in bas if h.msg.status < REFUSED), bas[-1] if bas else None)  # type: ignore[union-attr]
    one = BindingMoments(hoa, dar)
    if ba is not None:
        one.ba, one.status = ba.arrival, ba.msg.status  # type: ignore[union-attr]
    one.bus = len([h for h in bus if ba is None or h.time <= ba.arrival])
    one.released = is_deregistration(bus[0].msg.src, bus[0].msg.hoa, bus[0].msg.lifetime)  # type: ignore[union-attr]
    one.coti = next((h.time for h in sent if isinstance(h.msg, CareOfTestInit) and h.msg.dst == dar), None)
    one.cot = next((h.arrival for h in arrived if isinstance(h.msg, CareOfTest) and h.msg.src == dar), None)
    one.bu = next((h.time for h in bus if one.cot is None or h.time >= one.cot), bus[0].time if bus else None)
    answers = [(h.arrival, h.msg.status) for h in bas]  # type: ignore[union-attr]
    if ba is not None:
        one.again = again(one.bu, next((h.time for h in bus if h.msg.seq == ba.msg.seq), None))  # type: ignore[union-attr]
        refusal(one, answers)
    untested(one, bus[0].time, answers)
    one.down = next((h.arrival for h in arrived if isinstance(h.msg, Tunnelled) and h.msg.src == dar
                     and h.msg.inner.dst == hoa), None)  # fmt: skip
    one.up = next((h.time for h in sent if isinstance(h.msg, Tunnelled) and h.msg.dst == dar
                   and h.msg.inner.src == hoa), None)  # fmt: skip
    return one


def moments(events: list[Event], mn: str) -> list[Moments]:
    """What the log shows of each attachment of ``mn`` (its first one included)."""
    found = []
    for down, window in _windows(events, mn):
        hops = [e for e in window if isinstance(e, Hop)]
        seen = Moments(link_down=down, link_up=window[0].time)
        seen.rs = next((h.time for h in hops if h.src == mn and isinstance(h.msg, RouterSolicitation)), None)
        seen.ra = next((h.arrival for h in hops if h.dst == mn and h.lost is None
                        and isinstance(h.msg, RouterAdvertisement)), None)  # fmt: skip
        usable = next((e for e in window if isinstance(e, NodeEffect) and e.node == mn and isinstance(e.effect, Notify)
                       and e.effect.event == "address-configured"), None)  # fmt: skip
        if usable is not None:
            seen.usable, seen.coa = usable.time, str(usable.effect.data["address"])  # type: ignore[union-attr]
        bus = [h.msg for h in hops if h.src == mn and not h.forwarded and isinstance(h.msg, BindingUpdate)]
        for dar, hoa in dict.fromkeys((bu.dst, bu.hoa or bu.src) for bu in bus):
            seen.bindings.append(_binding(hops, mn, hoa, dar))
        found.append(seen)
    return found


def breakdowns(events: list[Event], mn: str) -> list[Breakdown | None]:
    """Each attachment of ``mn``, step by step."""
    return [breakdown(m) for m in moments(events, mn)]
