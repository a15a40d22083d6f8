"""Run cases against an IUT: one verdict per case, whatever the case or the IUT does.

Theory of operation
-------------------
::

    for case in selection:     tester.applicable(case)  -> a reason: INCONCLUSIVE, not run
                               tester.begin(case.setup) -> executor: fresh frame log (fresh IUT)
                               case.run(tester)         -> PASS | Fail | Inconclusive | a bug of ours
                               executor.end()
                               Outcome(verdict, reason, the case's frames) -> on_outcome (live table)

A case's duration is the executor's: virtual seconds in-process, wall-clock
seconds on an interface. An exception other than Fail or Inconclusive is the
tester's own fault (ERROR, with its one-line cause); the run goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from scapy_fama.conformance.case import Case, Fail, Inconclusive, Verdict
from scapy_fama.conformance.executor import Executor, Frame, Setup


class Tester(Protocol):
    x: Executor

    def applicable(self, case: Case) -> str | None: ...

    def begin(self, setup: Setup) -> None: ...


@dataclass
class Outcome:
    case: Case
    verdict: Verdict
    reason: str = ""
    duration: float = 0.0  # the executor's seconds (virtual in-process)
    wall: float = 0.0  # wall-clock seconds the case took here
    frames: list[Frame] = field(default_factory=list)


def run_case(case: Case, tester: Any) -> Outcome:
    why = tester.applicable(case)
    if why is not None:
        return Outcome(case, Verdict.INCONCLUSIVE, why)
    started = time.monotonic()
    tester.begin(case.setup)
    verdict, reason = Verdict.PASS, ""
    try:
        case.run(tester)
    except Fail as exc:
        verdict, reason = Verdict.FAIL, str(exc)
    except Inconclusive as exc:
        verdict, reason = Verdict.INCONCLUSIVE, str(exc)
    except Exception as exc:  # noqa: BLE001 - a fault of the tester must not end the run
        verdict, reason = Verdict.ERROR, f"tester error: {type(exc).__name__}: {exc}"
    finally:
        tester.x.end()
    return Outcome(
        case, verdict, reason, tester.x.now(), time.monotonic() - started, list(tester.x.frames)
    )


def run_all(
    cases: Iterable[Case], tester: Tester, on_outcome: Callable[[Outcome], None] | None = None
) -> list[Outcome]:
    outcomes = []
    for c in cases:
        outcome = run_case(c, tester)
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    return outcomes
