"""A lab handover step by step (:mod:`scapy_fama.latency`), from the MN's JSON log: the MN's own clock.

Theory of operation
-------------------
The MN logs every step of a handover as it takes it, on one clock, which is
where the MIPv6 literature measures a handover too (at the MN)::

    link-down, link-up events      the carrier went and came (rtnetlink: at once)
    out RS, in RA                  router discovery (an in-record's time is its ``rx``, the
                                   kernel's receive time, when it has one)
    address-configured event       the new CoA is usable (optimistic: as it is made)
    out CoTI / in CoT, out BU / in BA, per DAR (the BU's destination, the BA's source); a
                                   BU before the CoTI and its BA 137 (a MN new to the DAR's
                                   secure mode, profile §5) are steps of their own
    first-packet events            the data plane's first packet of each new tunnel, each way

:func:`moments` reads them from the records logged after a mark taken just
before the move (the demo's). A return home configures no new address: there
is then no CoA step, and the BUs count from the RA.
"""

from __future__ import annotations

from typing import Any

from scapy_fama.latency import BindingMoments, Moments, again, refusal, untested
from scapy_fama.proto.messages import is_deregistration
from scapy_fama.proto.status import REFUSED

Record = dict[str, Any]


def _first(records: list[Record], after: float | None, **match: Any) -> Record | None:
    return next((r for r in records if (after is None or r["t"] >= after)
                 and all(r.get(k) == v for k, v in match.items())), None)  # fmt: skip


def arrival(record: Record) -> float:
    """When a record's message came in: the kernel's receive time (``rx``) when the role's
    port had it, else when the role read it (``t``); a sent message's ``t``."""
    return float(record.get("rx", record["t"]))


def _time(record: Record | None) -> float | None:
    return None if record is None else arrival(record)


def moments(records: list[Record]) -> Moments:
    """The moments of the handover whose records (the MN's, from just before the move) are given."""
    seen = Moments()
    seen.link_down = _time(_first(records, None, dir="event", kind="link-down"))
    up = _first(records, seen.link_down, dir="event", kind="link-up")
    seen.link_up = _time(up)
    after = seen.link_up
    seen.rs = _time(_first(records, after, dir="out", kind="RS"))
    seen.ra = _time(_first(records, after, dir="in", kind="RA"))
    usable = _first(records, after, dir="event", kind="address-configured")
    seen.usable, seen.coa = _time(usable), None if usable is None else usable["address"]
    bus = [r for r in records if (after is None or r["t"] >= after) and r["dir"] == "out" and r["kind"] == "BU"]
    for dar in dict.fromkeys(r["dst"] for r in bus):
        to_dar = [r for r in bus if r["dst"] == dar]
        hoa = to_dar[0]["hoa"] or to_dar[0]["src"]  # a de-registration from home has no HAO
        answers = [r for r in records if r["dir"] == "in" and r["kind"] == "BA" and r["src"] == dar
                   and r["t"] >= to_dar[0]["t"]]  # fmt: skip
        ba = next((r for r in answers if r["status"] < REFUSED), answers[-1] if answers else None)
        first = to_dar[0]  # the handover's: a later release in the same stay is not
        one = BindingMoments(hoa, dar, ba=_time(ba), status=None if ba is None else ba["status"],
                             bus=len([r for r in to_dar if ba is None or r["t"] <= ba["t"]]),
                             released=is_deregistration(first["src"], first["hoa"], first["lifetime"]))  # fmt: skip
        one.coti = _time(_first(records, after, dir="out", kind="CoTI", dst=dar))
        one.cot = _time(_first(records, after, dir="in", kind="CoT", src=dar))
        one.bu = _time(_first(to_dar, one.cot) or to_dar[0])  # after the CoT, if any
        answered = None if ba is None or "seq" not in ba else _first(to_dar, None, seq=ba["seq"])
        one.again = again(one.bu, _time(answered))
        statuses = [(arrival(r), r["status"]) for r in answers]
        refusal(one, statuses)
        untested(one, arrival(to_dar[0]), statuses)  # a BU before the care-of test, refused 137 (profile §5)
        one.down = _time(_first(records, after, dir="event", kind="first-packet", hoa=hoa, way="down"))
        one.up = _time(_first(records, after, dir="event", kind="first-packet", hoa=hoa, way="up"))
        seen.bindings.append(one)
    seen.coa = seen.coa or (bus[0]["src"] if bus else None)
    return seen


def attachments(records: list[Record]) -> list[list[Record]]:
    """The MN's records cut at each link-down event: its first attachment, then one part a move."""
    cuts = [i for i, r in enumerate(records) if r["dir"] == "event" and r["kind"] == "link-down"]
    bounds = [0, *(c for c in cuts if c > 0), len(records)]
    return [records[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]
