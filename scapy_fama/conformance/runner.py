"""Run cases against an IUT: one verdict per case, whatever the case or the IUT does.

Theory of operation
-------------------
::

    (probe_first: tester.ready() -> silent, or not of the role: TestBedError, nothing runs)
    for case in selection:     the IUT died after an earlier case -> INCONCLUSIVE, not run
                               tester.applicable(case)  -> a reason: INCONCLUSIVE, not run
                               tester.begin(case.setup) -> executor: fresh frame log (fresh IUT)
                               case.run(tester)         -> PASS | Fail | Inconclusive | a bug of ours
                               tester.doubt(Fail)       -> FAIL, or INCONCLUSIVE where the role says
                                                           the failure may be the link's
                               executor.end()
                               executor.bed_problem()   -> the test bed is broken: TestBedError
                               tester.alive()           -> silent: this case FAILs ("stopped
                                                           answering during this case"), and
                                                           every later one is INCONCLUSIVE
                               Outcome(verdict, reason, the case's frames) -> on_outcome (live table)

A silent IUT must never pass a case that expects silence, and a dead one must
not fail the cases after it: so after every case that ran, the tester checks
that the IUT still answers (an RA to an RS, or a BA to a valid BU; an MN's RS
on link-up). The case during which it stopped answering fails, naming the
crash where the executor saw one; the run then reports the rest as
inconclusive "after" that case instead of sending them into silence.

A case's duration is the executor's: virtual seconds in-process, wall-clock
seconds on an interface (``Outcome.duration``; ``wall`` is the real time it
took here). An exception other than Fail or Inconclusive is the tester's own
fault (ERROR, with its one-line cause); the run goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from scapy_fama.conformance.case import Case, Fail, Inconclusive, TestBedError, Verdict
from scapy_fama.conformance.executor import Executor, Frame, Setup


class Tester(Protocol):
    x: Executor

    def applicable(self, case: Case) -> str | None: ...

    def begin(self, setup: Setup) -> None: ...

    def alive(self) -> str | None: ...

    def ready(self) -> str | None: ...

    def doubt(self, fail: Fail) -> Fail | Inconclusive: ...


@dataclass
class Outcome:
    case: Case
    verdict: Verdict
    reason: str = ""
    duration: float = 0.0  # the executor's seconds (virtual in-process)
    wall: float = 0.0  # wall-clock seconds the case took here
    frames: list[Frame] = field(default_factory=list)
    epoch: float = 0.0  # the Unix time of the case's second 0 (the frames' times count from it)
    ran: bool = True  # False: not run (not applicable here, or the IUT was already dead)


def run_case(case: Case, tester: Any) -> Outcome:
    why = tester.applicable(case)
    if why is not None:
        return Outcome(case, Verdict.INCONCLUSIVE, why, ran=False)
    started = time.monotonic()
    tester.begin(case.setup)
    verdict, reason = Verdict.PASS, ""
    try:
        try:
            case.run(tester)
        except Fail as exc:
            raise tester.doubt(exc) from None
    except Fail as exc:
        verdict, reason = Verdict.FAIL, str(exc)
    except Inconclusive as exc:
        verdict, reason = Verdict.INCONCLUSIVE, str(exc)
    except TestBedError:
        raise
    except Exception as exc:  # noqa: BLE001 - a fault of the tester must not end the run
        verdict, reason = Verdict.ERROR, f"tester error: {type(exc).__name__}: {exc}"
    finally:
        tester.x.end()
    x = tester.x
    return Outcome(
        case, verdict, reason, x.now(), time.monotonic() - started, list(x.frames), x.epoch
    )


def stopped_answering(outcome: Outcome, why: str) -> Outcome:
    """The outcome of the case during which the IUT stopped answering: FAIL, saying so first."""
    reason = f"the IUT stopped answering during this case ({why})"
    if outcome.verdict is not Verdict.PASS:
        reason += f"; the case: {outcome.reason}"
    return replace(outcome, verdict=Verdict.FAIL, reason=reason)


def run_all(
    cases: Iterable[Case],
    tester: Tester,
    on_outcome: Callable[[Outcome], None] | None = None,
    *,
    probe_first: bool = False,
) -> list[Outcome]:
    """Every case's outcome (see the module doc). ``probe_first``: the IUT outlives the cases
    (a real one): check that it answers, as the role it is tested for, before the first."""
    if probe_first and (why := tester.ready()) is not None:
        raise TestBedError(why)
    outcomes: list[Outcome] = []
    dead_after: str | None = None
    for c in cases:
        if dead_after is not None:
            why = f"the IUT stopped answering after {dead_after}"
            outcome = Outcome(c, Verdict.INCONCLUSIVE, why, ran=False)
        else:
            outcome = run_case(c, tester)
            if outcome.ran:
                problem = tester.x.bed_problem()
                if problem is not None:
                    raise TestBedError(problem)
                why = tester.alive()
                if why is not None:
                    outcome, dead_after = stopped_answering(outcome, why), c.id
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    return outcomes
