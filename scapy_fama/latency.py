"""Handover latency, step by step: where the time from losing the old link to data in every tunnel goes.

Theory of operation
-------------------
The MIPv6 measurement literature splits a handover into the link-layer
handover, movement detection, address configuration (DAD), the registration
(BU -> BA, with the return-routability or care-of test first when there is
one) and the time until data flows again. A FAMA handover (profile §2, §3, §7)
has each of those steps, with one registration per kept address, sent to every
anchoring DAR at once::

    link down --L2 handover--> link up --trigger--> RS --router discovery--> RA
        --address configuration (optimistic: 0; RFC 4862: DAD)--> CoA usable
    per binding (HoA_i at DAR_i), side by side:
        CoA usable --to signal--> [BU --registration--> BA refused (137) --to test the CoA-->]
            [CoTI --care-of test--> CoT --to register-->] BU
        [--no answer--> the BU the BA answers, sent again]
        [--registration--> BA refused (135, 147: profile §7) --to signal again--> the BU sent again]
        --registration--> BA --resumption--> first tunnelled packet DAR_i -> MN (down)
                             --resumption--> first tunnelled packet MN -> DAR_i (up)

A feeder fills :class:`Moments` with what it saw, any of it missing (a capture
sees no link event, a DAR's log no RA); :func:`breakdown` orders them into
:class:`Step` rows: each step's time from the origin (link up when known, else
the first moment seen) and from the step before it in its chain, named by the
phase that interval is. A first tunnelled packet may come before the BA: the
DAR tunnels once it holds the binding, and its BA is still on its way; that
step's interval is then negative, and says so. A BA's step carries its status: a
refusal (128 and above, RFC 6275 §6.1.8) is no registration, so a handover with one has
no time to its last BA (``to_last_ba``), as its own duration has none. A MN that learns of
secure mode from a BA 137 (profile §5, §6 step 4: its first BU there carried no care-of
token) shows that BU and that refusal before its care-of test: the test then starts from the
refusal ("to test the CoA"), not from the CoA; when the feeder did not see that refusal (a
capture that lacks the BA), the CoTI is timed from that BU, and the interval holds both the
registration the refusal ended and the MN's turn to the test: "registration, to test the CoA"
(the MN tests the CoA only once a DAR refused it 137; it does not give up a BU that got no answer
for a test, it sends it again, profile §7). :func:`table` shows one. The feeders:

    fama-analyze    a capture (scapy_fama.analysis.latency): packets on the wire
    SimNet          its event log (scapy_fama.net.sim_latency): the virtual clock
    fama-lab demo   the MN's JSON log (scapy_fama.lab.breakdown): the MN's clock, as the
                    literature's MN-side measurements

The interruption itself is what a periodic echo probe sees (the lab's ping,
SimNet's echo flow, measured alike so that the two compare): the loss runs,
each from the last answered echo sent before it to the first answered one
sent after it (:func:`loss_runs`), and per handover the longest run starting
near it (:func:`interruptions`). It holds the link-layer handover, the
echoes lost in flight when the link went, and up to a probe interval at
each end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.table import Table

from scapy_fama.proto.status import REFUSED

LINK_DOWN, LINK_UP, RS, RA, COA = "link-down", "link-up", "RS", "RA", "CoA"
COTI, COT, BU, AGAIN, BA, DOWN, UP = "CoTI", "CoT", "BU", "BU-again", "BA", "down", "up"
REFUSAL = "BA-refused"  # an error BA the MN answered by sending the BU again
NEAR = 1.0  # seconds before a handover in which its loss run may start
Echo = Sequence[Any]  # (number, send time, round trip in seconds or None: unanswered)
Span = tuple[float, float, int]  # (start, end, echoes lost): a loss run, or a pause
LABELS = {
    LINK_DOWN: "link down",
    LINK_UP: "link up",
    RS: "RS",
    RA: "RA",
    COA: "CoA usable",
    COTI: "CoTI",
    COT: "CoT",
    BU: "BU",
    AGAIN: "BU sent again",
    REFUSAL: "BA refused",
    BA: "BA",
    DOWN: "first packet DAR -> MN",
    UP: "first packet MN -> DAR",
}
PHASES = {  # the interval that ends at a step, by the step
    LINK_UP: "link-layer handover",
    RS: "trigger",
    RA: "router discovery",
    COA: "address configuration",
    COTI: "to signal",
    COT: "care-of test",
    BU: "to signal",  # "to register" after a care-of test
    AGAIN: "no answer",  # to the BUs before it: lost, or their answers were
    REFUSAL: "registration",  # from the BU it answers
    BA: "registration",  # from the BU it answers
    DOWN: "resumption DAR -> MN",
    UP: "resumption MN -> DAR",
}
AFTER = {  # a phase named by the step before it
    (COT, BU): "to register",
    (REFUSAL, AGAIN): "to signal again",
    (REFUSAL, COTI): "to test the CoA",
    (BU, COTI): "registration, to test the CoA",  # the BU before the test; its refusal (137) not seen
}


@dataclass
class BindingMoments:
    """The registration of one kept (or released) address at its DAR in one handover."""

    hoa: str
    dar: str
    untested: float | None = None  # a BU before the care-of test, refused for lack of one (137, profile §5)
    untested_refused: float | None = None  # the BA that refused it
    untested_status: int | None = None
    coti: float | None = None
    cot: float | None = None
    bu: float | None = None  # the first BU of this handover's attempt (after the CoT, if any)
    again: float | None = None  # the BU the BA answers, when a later one (a retransmission)
    refused: float | None = None  # the error BA before that BU, when it was sent again for one
    refused_status: int | None = None
    ba: float | None = None  # the BA that ended it
    status: int | None = None
    bus: int = 0  # BUs sent in the attempt (retransmissions and retries included)
    released: bool = False  # a de-registration (profile §3): no tunnel after it, no data to wait for
    down: float | None = None  # first tunnelled packet DAR -> MN for the HoA
    up: float | None = None  # first tunnelled packet MN -> DAR from the HoA


@dataclass
class Moments:
    """What a feeder saw of one handover (seconds on its own clock)."""

    coa: str | None = None
    link_down: float | None = None
    link_up: float | None = None
    rs: float | None = None
    ra: float | None = None
    usable: float | None = None  # the new CoA can be used (optimistic: as it is made)
    bindings: list[BindingMoments] = field(default_factory=list)


@dataclass(frozen=True)
class Step:
    """One moment: ``at`` seconds from the origin, ``since`` from the step before it in its chain."""

    what: str
    at: float
    since: float | None
    phase: str | None
    hoa: str | None = None
    dar: str | None = None
    status: int | None = None  # a BA's

    def as_dict(self) -> dict[str, Any]:
        return {"what": self.what, "hoa": self.hoa, "dar": self.dar, "phase": self.phase, "status": self.status,
                "at_ms": _ms(self.at), "since_ms": None if self.since is None else _ms(self.since)}  # fmt: skip


@dataclass(frozen=True)
class Breakdown:
    """The steps of one handover, and its totals (seconds; None: a moment is missing)."""

    origin: str  # the step the times count from
    steps: list[Step]
    link_down: float | None  # the link-layer handover: link down -> link up
    to_last_ba: float | None  # origin -> the last BA, when every binding's BU was accepted
    to_data: float | None  # origin -> the last kept binding's first downlink packet

    def as_dict(self) -> dict[str, Any]:
        return {"origin": self.origin, "steps": [s.as_dict() for s in self.steps],
                "link_layer_ms": _ms(self.link_down), "to_last_ba_ms": _ms(self.to_last_ba),
                "to_data_ms": _ms(self.to_data)}  # fmt: skip


def again(first: float | None, answered: float | None) -> float | None:
    """When the BU a BA answered was sent, if later than the attempt's ``first`` BU (it was sent
    again: :attr:`BindingMoments.again`); None otherwise or when not known."""
    return answered if first is not None and answered is not None and answered > first else None


def refusal(one: BindingMoments, answers: list[tuple[float, int]]) -> None:
    """Set ``one.refused`` from the BAs (arrival, status) of the attempt: the last refusal between
    its first BU and the BU sent again (profile §7: 135 resync the seq and resend, 147 resend
    with CGA). A refusal before the first BU (137 before a care-of test) is none of its steps."""
    if one.bu is None or one.again is None:
        return
    errors = [(t, status) for t, status in answers if status >= REFUSED and one.bu <= t <= one.again]
    if errors:
        one.refused, one.refused_status = errors[-1]


def untested(one: BindingMoments, first: float | None, answers: list[tuple[float, int]]) -> None:
    """Set ``one.untested`` (and its refusal) when the attempt's ``first`` BU came before the
    care-of test: a MN that has not learnt a DAR's secure mode sends its BU without a care-of
    token, is refused (137, profile §5 and §6 step 4) and tests the CoA then. ``answers`` are the
    attempt's BAs (arrival, status); the refusal is the first between that BU and the CoTI."""
    if one.coti is None or first is None or first >= one.coti:
        return
    one.untested = first
    errors = [(t, status) for t, status in answers if status >= REFUSED and first <= t <= one.coti]
    if errors:
        one.untested_refused, one.untested_status = errors[0]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1e3, 3)


def _chain(origin: float, steps: list[Step], prior: tuple[str, float] | None,
           moments: list[tuple[str, float | None, int | None]], b: BindingMoments | None = None) -> None:  # fmt: skip
    """Append the known ``moments`` (step, time, a BA's status) as steps, each timed from the
    last known one before it."""
    hoa, dar = (None, None) if b is None else (b.hoa, b.dar)
    for what, t, status in moments:
        if t is None:
            continue
        phase = AFTER.get((prior[0], what), PHASES.get(what)) if prior is not None else None
        since = None if prior is None else t - prior[1]
        steps.append(Step(what, t - origin, since, phase, hoa, dar, status))
        if what not in (DOWN, UP):  # both resumptions count from the BA
            prior = (what, t)


def breakdown(m: Moments) -> Breakdown | None:
    """The steps of ``m`` in the profile's order (None: nothing was seen)."""
    seen = [t for t in (m.link_down, m.link_up, m.rs, m.ra, m.usable) if t is not None]
    seen += [t for b in m.bindings for t in (b.untested, b.untested_refused, b.coti, b.cot, b.bu, b.refused,
                                             b.again, b.ba, b.down, b.up) if t is not None]
    if not seen:
        return None
    origin_name, origin = (LINK_UP, m.link_up) if m.link_up is not None else ("first moment", min(seen))
    assert origin is not None
    steps: list[Step] = []
    attach = [(LINK_DOWN, m.link_down, None), (LINK_UP, m.link_up, None), (RS, m.rs, None), (RA, m.ra, None),
              (COA, m.usable, None)]  # fmt: skip
    _chain(origin, steps, None, attach)
    known = [(what, t) for what, t, _ in attach if t is not None]
    for b in m.bindings:
        _chain(origin, steps, known[-1] if known else None,
               [(BU, b.untested, None), (REFUSAL, b.untested_refused, b.untested_status), (COTI, b.coti, None),
                (COT, b.cot, None), (BU, b.bu, None), (REFUSAL, b.refused, b.refused_status), (AGAIN, b.again, None),
                (BA, b.ba, b.status), (DOWN, b.down, None), (UP, b.up, None)], b)  # fmt: skip
    bas = [b.ba for b in m.bindings if b.ba is not None and (b.status is None or b.status < REFUSED)]
    kept = [b for b in m.bindings if not b.released]
    downs = [b.down for b in kept if b.down is not None]
    complete = bool(kept) and len(downs) == len(kept)
    return Breakdown(
        origin_name,
        steps,
        None if m.link_down is None or m.link_up is None else m.link_up - m.link_down,
        max(bas) - origin if bas and len(bas) == len(m.bindings) else None,
        max(downs) - origin if complete else None,
    )


def table(found: dict[str, Any], title: str) -> Table:
    """A breakdown (:meth:`Breakdown.as_dict`, or that read back from JSON) as a rich table:
    step, binding (HoA at DAR), ms from the origin, ms from the step before it, the phase."""
    out = Table(title=f"{title} (ms from the {found['origin']})", title_justify="left")
    for column, justify in (("step", "left"), ("binding", "left"), ("ms", "right"), ("+ms", "right"), ("phase", "left")):
        out.add_column(column, justify=justify)  # type: ignore[arg-type]
    for step in found["steps"]:
        since = "" if step["since_ms"] is None else f"{step['since_ms']:+.1f}"
        status = step["status"]
        label = f"BA refused ({status})" if status is not None and status >= REFUSED else LABELS[step["what"]]
        out.add_row(label, f"{step['hoa']} at {step['dar']}" if step["hoa"] else "",
                    f"{step['at_ms']:.1f}", since, step["phase"] or "")  # fmt: skip
    return out


def loss_runs(echoes: list[Echo]) -> list[Span]:
    """Runs of unanswered echoes, in send order: (last answered send time before the run,
    first answered send time after it, echoes lost). A run still open at the end is not one."""
    runs: list[Span] = []
    before, lost = None, 0
    for _, sent, rtt in echoes:
        if rtt is None:
            lost += 1
        elif lost:
            runs.append((before if before is not None else sent, sent, lost))
            before, lost = sent, 0
        else:
            before = sent
    return runs


def per_handover(spans: list[Span], at: list[float], near: float = NEAR) -> list[Span | None]:
    """For each handover (its start times ``at``), the longest span starting from ``near``
    seconds before it to ``near`` before the next one (a span just before a handover is
    that handover's: echoes in flight when the link went)."""
    picked: list[Span | None] = []
    for k, start in enumerate(at):
        end = at[k + 1] - near if k + 1 < len(at) else float("inf")
        close = [span for span in spans if start - near <= span[0] < end]
        picked.append(max(close, key=lambda span: span[1] - span[0], default=None))
    return picked


def in_flight(echoes: list[Echo], start: float, near: float = NEAR) -> float:
    """The longest round trip of the echoes answered that were sent in the ``near`` seconds
    before ``start``: an echo sent later than that before a move had its answer on the way
    when the link went."""
    return max((rtt for _, sent, rtt in echoes if rtt is not None and start - near <= sent < start), default=0.0)


def interruptions(echoes: list[Echo], at: list[float]) -> tuple[list[Span], list[Span | None], int]:
    """The probe's loss runs, each handover's interruption (its longest run, None: no
    echo lost) and the echoes lost outside them: not in those runs, and not sent so
    shortly before a handover that their answers were in flight when it began
    (:func:`in_flight`; with a 20 ms link each way such an echo may stand apart from the
    interruption, an answered one between them)."""
    runs = loss_runs(echoes)
    picked = per_handover(runs, at)
    flights = [(start - in_flight(echoes, start), start) for start in at]
    elsewhere = 0
    for first, last, lost in runs:
        if (first, last, lost) in picked:
            continue
        flying = [sent for _, sent, rtt in echoes if rtt is None and first < sent < last]
        elsewhere += lost - sum(any(lo <= sent < hi for lo, hi in flights) for sent in flying)
    return runs, picked, elsewhere
