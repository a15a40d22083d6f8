"""The campaign loop: seeded, reproducible, case by case.

Theory of operation
-------------------
Case ``i`` of campaign ``seed`` draws everything from ``Random(f"{seed}:{i}")``:
its mutator family (round robin over the families asked for), its seed message,
one to four mutations, and the probe's fresh MN. So any case replays alone, on
any machine, from ``(seed, i)``::

    for i in 0, 1, ...:                      until --cases or --seconds
        case    = make_case(world, seed, i)  seed message -> mutations -> render (re-signed
                                             with --keep-valid)
        outcome = target.run(case)           oracles: exception, hang ...
        every N cases: target.alive()        ... liveness, bounds
        a failure: minimise -> save <id>.pcap + <id>.json (once per signature)
        coverage[(family, mutator)] += outcome

The summary (:meth:`Summary.as_dict`, fama-fuzz/1) holds the numbers a tester
needs to judge an empty result honestly: cases, execs/s, and the distinct
(mutator, outcome) pairs reached per family. Ctrl-C, or a SIGTERM (``kill``, a CI job's
time limit: :func:`sigterm_raises`), ends the loop, not the summary: ``stopped`` is
``interrupted`` or ``terminated``, and a finding being minimised is filed as far as it got
(:class:`Unfinished`).
"""

from __future__ import annotations

import gc
import importlib
import inspect
import os
import random
import signal
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

from scapy_fama.fuzz import findings
from scapy_fama.fuzz.findings import Chain, Finding
from scapy_fama.fuzz.frame import Frame, parse_frame, render
from scapy_fama.fuzz.mutators import FAMILIES, apply_chain, mutate, mutators_of
from scapy_fama.fuzz.oracles import Failure, alarm_handler, guarded
from scapy_fama.fuzz.seeds import Seed, World, build_world
from scapy_fama.fuzz.targets import (
    CASE_START,
    AnalyzeTarget,
    DarTarget,
    DecodeTarget,
    DissectTarget,
    InprocTarget,
    MnTarget,
    Target,
    remember,
)
from scapy_fama.schemas import document

T = TypeVar("T")
SUMMARY_FORMAT = "fama-fuzz/1"
RENDERS_REMEMBERED = 16384  # frames whose bytes a campaign keeps (then forgets them all at once)
LOST_AFTER = 3  # failed probes in a row after which a stateful target counts as lost
BUILTIN_TARGETS: dict[str, Callable[[], Target]] = {
    t.name: t for t in (DissectTarget, DecodeTarget, InprocTarget, DarTarget, MnTarget, AnalyzeTarget)
}


class TargetError(Exception):
    """A target that cannot be fuzzed: not a Target class, or one with a part not implemented."""


def resolve_target(spec: str, options: dict[str, Any] | None = None) -> Target:
    """A target by name ("dissect", "inproc", "iface") or as ``module:Class`` (your own; its module
    also from the current folder, which an installed command's ``sys.path`` lacks).

    ValueError for a name that is neither; :class:`TargetError` for a ``module:Class``
    that is not a :class:`Target` subclass with its own ``run``, or that fails to start.
    """
    if spec == "iface":
        from scapy_fama.fuzz.iface import IfaceTarget  # Scapy sockets only when asked for

        return IfaceTarget(**(options or {}))
    if spec in BUILTIN_TARGETS:
        return BUILTIN_TARGETS[spec]()
    module, _, name = spec.partition(":")
    if not name:
        raise ValueError(f"unknown target {spec!r}: use {', '.join(BUILTIN_TARGETS)}, iface or module:Class")
    if os.getcwd() not in sys.path and "" not in sys.path:  # found as python -m finds it, after the rest
        sys.path.append(os.getcwd())
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"target {spec!r} cannot be loaded: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, Target)):
        raise TargetError(f"target {spec!r} is a {type(cls).__name__}, not a subclass of scapy_fama.fuzz.targets.Target")
    if cls.run is Target.run:
        raise TargetError(f"target {spec!r} does not implement run(raw, seed, now)")
    try:  # a run() of another shape would fail on every case: a TypeError per case, not findings
        inspect.signature(cls.run).bind(cls, b"", None, 0.0)
    except TypeError:
        raise TargetError(f"target {spec!r}: run{inspect.signature(cls.run)} does not take (raw, seed, now)") from None
    try:
        return cls()
    except NotImplementedError as exc:
        raise TargetError(f"target {spec!r} is not implemented: {exc or 'NotImplementedError'}") from None
    except Exception as exc:  # noqa: BLE001  (a user's class that fails to start: one line, not a finding)
        raise TargetError(f"target {spec!r} failed to start: {type(exc).__name__}: {exc}") from None


@dataclass(frozen=True)
class CampaignConfig:
    target: str = "inproc"
    seed: int = 1
    cases: int | None = 1000
    seconds: float | None = None
    families: tuple[str, ...] = FAMILIES
    keep_valid: bool = False
    time_limit: float = 2.0  # seconds a case may take (0: no limit of ours, e.g. under libFuzzer's -timeout)
    liveness_every: int | None = None  # None: the target's own default
    out: Path | None = None  # where findings go (None: kept in memory only)
    minimise: bool = True
    target_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = set(self.families) - set(FAMILIES)
        if not self.families:
            raise ValueError(f"--family names no mutator family: choose from {', '.join(FAMILIES)}")
        if unknown:
            raise ValueError(f"--family: unknown mutator families {sorted(unknown)}: choose from {', '.join(FAMILIES)}")
        if self.cases is not None and self.cases < 0:
            raise ValueError("--cases must not be negative")
        if self.seconds is not None and self.seconds <= 0:
            raise ValueError("--seconds must be positive")
        if self.time_limit < 0 or (self.liveness_every is not None and self.liveness_every < 1):
            raise ValueError("the per-case time limit (0: none) and --liveness-every must be positive")


@dataclass(frozen=True)
class Case:
    index: int
    family: str
    seed: Seed
    chain: Chain
    raw: bytes


@dataclass
class Tally:
    """The counts of a share of cases: :meth:`Summary.tally` and :meth:`Summary.add`."""

    cases: int
    outcomes: dict[str, dict[str, int]]
    pairs: dict[str, dict[str, set[str]]]
    family_cases: dict[str, int]


@dataclass
class Summary:
    config: CampaignConfig
    cases: int = 0
    seconds: float = 0.0
    findings: list[Finding] = field(default_factory=list)
    paths: dict[str, Path] = field(default_factory=dict)  # finding id -> its JSON
    outcomes: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    pairs: dict[str, dict[str, set[str]]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(set)))
    family_cases: Counter[str] = field(default_factory=Counter)
    stopped: str = "cases"

    @property
    def execs_per_second(self) -> float:
        return self.cases / self.seconds if self.seconds > 0 else 0.0

    def count(self, case: Case, result: str | Failure) -> None:
        """Case ``case`` came out as ``result``: its outcome and (mutator, outcome) pairs."""
        outcome = f"FAILED:{result.oracle}" if isinstance(result, Failure) else result
        self.outcomes[case.family][outcome] += 1
        self.family_cases[case.family] += 1
        for name, _ in case.chain:
            self.pairs[case.family][name].add(outcome)

    def tally(self) -> Tally:
        """What cases added to this summary, as plain data (to send between processes)."""
        return Tally(self.cases, {f: dict(c) for f, c in self.outcomes.items()},
                     {f: {m: set(o) for m, o in ms.items()} for f, ms in self.pairs.items()}, dict(self.family_cases))

    def add(self, tally: Tally) -> None:
        """Fold in the counts of cases run elsewhere (another process's share)."""
        self.cases += tally.cases
        for fam, counts in tally.outcomes.items():
            self.outcomes[fam].update(counts)
        for fam, mutators in tally.pairs.items():
            for name, outcomes in mutators.items():
                self.pairs[fam][name] |= outcomes
        self.family_cases.update(tally.family_cases)

    def pair_count(self, family: str | None = None) -> int:
        fams = [family] if family else list(self.pairs)
        return sum(len(outs) for f in fams for outs in self.pairs[f].values())

    def as_dict(self) -> dict[str, Any]:
        c = self.config
        return document(SUMMARY_FORMAT, {
            "target": c.target, "seed": c.seed, "keep_valid": c.keep_valid, "families": list(c.families),
            "cases": self.cases, "seconds": round(self.seconds, 3),
            "execs_per_second": round(self.execs_per_second, 1), "stopped": self.stopped,
            "findings": [f.summary(self.paths.get(f.id)) for f in self.findings],
            "coverage": {
                "pairs": self.pair_count(),
                "by_family": {
                    fam: {
                        "cases": self.family_cases[fam],
                        "pairs": self.pair_count(fam),
                        "outcomes": dict(self.outcomes[fam].most_common()),
                        "mutators": {m: sorted(o) for m, o in sorted(self.pairs[fam].items())},
                    }
                    for fam in c.families
                },
            },
        })


class Campaign:
    """One campaign against one target (see the module docstring)."""

    def __init__(self, config: CampaignConfig, target: Target | None = None, world: World | None = None) -> None:
        self.config = config
        self.target = target or resolve_target(config.target, config.target_options)
        self.world = world or build_world(config.seed)
        self.target.setup(self.world)
        self.every = config.liveness_every or self.target.liveness_every
        self._frames: dict[str, Frame] = {}
        self._rendered: dict[tuple[object, ...], bytes] = {}  # see render()
        self._pools = {f: mutators_of(f, config.keep_valid) for f in config.families}  # drawn from per case
        self._seeds = [s for s in self.world.seeds.values() if s.role in self.target.roles]
        if not self._seeds:
            raise ValueError(f"target {config.target!r} takes none of the seed messages")

    def frame(self, seed: Seed) -> Frame:
        if seed.name not in self._frames:
            self._frames[seed.name] = parse_frame(seed.raw)
        return self._frames[seed.name].copy()

    def render(self, seed: Seed, frame: Frame) -> bytes:
        """The frame's bytes (re-signed as mutants of ``seed`` with --keep-valid); a frame equal
        to one rendered before is not rendered again (a quarter of the cases of a campaign)."""
        key = (seed.auth, seed.role, frame.key()) if self.config.keep_valid else frame.key()
        raw = self._rendered.get(key)
        if raw is None:
            raw = render(frame, self.world.seed_signer(seed) if self.config.keep_valid else None)
            remember(self._rendered, key, raw, RENDERS_REMEMBERED)
        return raw

    def make_case(self, i: int) -> Case:
        rng = random.Random(f"{self.config.seed}:{i}")
        family = self.config.families[i % len(self.config.families)]
        seed = self._seeds[rng.randrange(len(self._seeds))]
        frame = self.frame(seed)
        chain = mutate(rng, frame, self._pools[family])
        return Case(i, family, seed, chain, self.render(seed, frame))

    def run_case(self, i: int) -> tuple[Case, str | Failure, bool]:
        """Case ``i``, what it came out as, and whether the liveness probe ran after it."""
        case = self.make_case(i)
        live = (i + 1) % self.every == 0
        return case, self.check(case.raw, case.seed, i, live), live

    def check(self, raw: bytes, seed: Seed, i: int, live: bool) -> str | Failure:
        """One case through the target and the oracles: its outcome, or its Failure.

        A NotImplementedError is the target's own gap, not a finding: :class:`TargetError`.
        """
        target, limit = self.target, self.config.time_limit
        if not target.keeps_state:
            target.reset()
        outcome = _implemented(guarded(lambda: target.run(raw, seed, CASE_START), limit), self.config.target)
        if isinstance(outcome, Failure):
            return outcome
        if live and target.needs_probe():
            rng = random.Random(f"{self.config.seed}:{i}:probe")
            problem = _implemented(guarded(lambda: target.alive(rng, CASE_START + 0.5), limit), self.config.target)
            if isinstance(problem, Failure):
                return Failure("liveness", problem.kind, problem.detail, problem.where)
            if problem is not None:
                return Failure("liveness", "probe", problem)
        bounds = target.bounded()
        return Failure("bounds", "growth", bounds) if bounds is not None else outcome

    def _triggers(self, case: Case, failure: Failure) -> Callable[[Chain], bool]:
        def triggers(chain: Chain) -> bool:
            raw = self.render(case.seed, apply_chain(self.frame(case.seed), chain))
            result = self.check(raw, case.seed, case.index, True)
            return isinstance(result, Failure) and result.signature == failure.signature

        return triggers

    def finding(self, case: Case, failure: Failure) -> Finding:
        """Minimise ``case`` (when it replays alone) into a Finding. A Ctrl-C or SIGTERM meanwhile
        (minimising tries up to 80 chains, each up to --time-limit) raises :class:`Unfinished`
        with the finding as far as it got: the shortest chain that still triggered, or the case as
        generated, and ``reproduced_alone`` only if that was seen (None, not known, when the
        signal came while the case was run alone to see it). Its ``minimised`` says which."""
        triggers = self._triggers(case, failure)
        chain, alone = case.chain, None

        def kept(candidate: Chain) -> bool:  # minimise goes on from each chain that triggers
            nonlocal chain
            if not triggers(candidate):
                return False
            chain = candidate
            return True

        try:
            alone = not self.target.keeps_state and triggers(case.chain)
            if alone and self.config.minimise:
                chain = findings.minimise(case.chain, kept)
        except KeyboardInterrupt as stop:
            raise Unfinished(self._finding(case, failure, chain, alone, cut=True), stop) from None
        return self._finding(case, failure, chain, alone, cut=False)

    def _finding(self, case: Case, failure: Failure, chain: Chain, alone: bool | None, cut: bool) -> Finding:
        raw = self.render(case.seed, apply_chain(self.frame(case.seed), chain))
        return Finding(
            self.config.target, self.config.seed, case.index, case.family, self.config.keep_valid,
            case.seed.name, case.chain, chain, failure, case.raw, raw, alone, dict(self.config.target_options),
            minimised=self._minimised(alone, cut),
        )

    def _minimised(self, alone: bool | None, cut: bool) -> str:
        """How far :meth:`finding` minimised (findings.MINIMISED), ``cut`` short by a signal or not."""
        if not self.config.minimise:
            return "off"
        if alone is None:
            return "alone-unknown"
        if not alone:
            return "not-alone"
        return "cut-short" if cut else "done"

    def run(self, progress: Callable[[Summary], None] | None = None, progress_every: float = 0.25) -> Summary:
        """Run the campaign; ``progress(summary)`` every ``progress_every`` seconds of it."""
        c, summary = self.config, Summary(self.config)
        seen: dict[str, Finding] = {}
        start, last = time.perf_counter(), 0.0  # last: seconds into the campaign, as summary.seconds
        i = lost = 0
        # SIGALRM ours for the whole campaign: each case only arms a timer; SIGTERM stops it as Ctrl-C does
        with alarm_handler(), frozen_heap(), sigterm_raises():
            try:
                while c.cases is None or i < c.cases:
                    if c.seconds is not None and time.perf_counter() - start >= c.seconds:
                        summary.stopped = "seconds"
                        break
                    case, result, live = self.run_case(i)
                    summary.count(case, result)
                    if isinstance(result, Failure):
                        self._record(case, result, seen, summary)
                    if live:  # probes failed in a row
                        lost = lost + 1 if isinstance(result, Failure) and result.oracle == "liveness" else 0
                    i += 1
                    summary.cases, summary.seconds = i, time.perf_counter() - start
                    if lost >= LOST_AFTER and self.target.keeps_state:
                        summary.stopped = "target-lost"
                        break
                    if progress is not None and summary.seconds - last >= progress_every:
                        last = summary.seconds
                        progress(summary)
            except KeyboardInterrupt as stop:  # a tester's Ctrl-C (or a SIGTERM) ends the campaign, not its report
                summary.stopped = stopped_by(stop)
            finally:
                summary.cases, summary.seconds = i, time.perf_counter() - start
                self.target.close()
        return summary

    def _record(self, case: Case, failure: Failure, seen: dict[str, Finding], summary: Summary) -> None:
        if failure.signature in seen:
            seen[failure.signature].duplicates += 1
            if self.config.out is not None:
                findings.save(seen[failure.signature], self.config.out)
            return
        try:
            found, stop = self.finding(case, failure), None
        except Unfinished as cut:  # the campaign ends, the finding filed as far as it got first
            found, stop = cut.finding, cut.stop
        seen[failure.signature] = found
        summary.findings.append(found)
        if self.config.out is not None:
            summary.paths[found.id] = findings.save(found, self.config.out)
        if stop is not None:
            raise stop


class Unfinished(Exception):
    """A Ctrl-C or SIGTERM (``stop``) while a finding was minimised, and the finding as far as it
    got (:meth:`Campaign.finding`): the campaign files it, then ends as ``stop`` says (it was
    lost, and the summary said "no findings")."""

    def __init__(self, finding: Finding, stop: KeyboardInterrupt) -> None:
        super().__init__(f"stopped while minimising {finding.id}")
        self.finding, self.stop = finding, stop


class Terminated(KeyboardInterrupt):
    """SIGTERM to fama-fuzz (``kill``, a CI job's time limit) during a campaign of either engine,
    raised by the handler :func:`sigterm_raises` installs: it ends the campaign as Ctrl-C does,
    with its summary (``stopped: terminated``)."""


def stopped_by(stop: KeyboardInterrupt) -> str:
    """The summary's ``stopped`` for a campaign that ``stop`` ended: Ctrl-C's or SIGTERM's."""
    return "terminated" if isinstance(stop, Terminated) else "interrupted"


def _terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` inside the block (the main thread only: elsewhere no
    handler can be installed)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGTERM, _terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if before is None else before)


@contextmanager
def frozen_heap() -> Iterator[None]:
    """The objects that exist now (modules, world, templates, target) out of the collector's
    sight until the block ends (``gc.freeze``): a full collection during a campaign walks only
    what the campaign made, and a forked worker's does not write to the pages it shares with
    its parent (CPython's recipe for fork). A heap the caller froze stays frozen."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _implemented(result: T, target: str) -> T:
    if isinstance(result, Failure) and result.oracle == "exception" and result.kind == "NotImplementedError":
        raise TargetError(f"target {target!r} is not fully implemented: {result.detail.splitlines()[-1]}")
    return result


@dataclass(frozen=True)
class Replay:
    finding: Finding
    failure: Failure | None  # what the replay produced (None: the case passed)
    regenerated: bool | None  # the minimal chain applied to the seed gives the pcap's bytes (None: no chain)

    @property
    def reproduced(self) -> bool:
        return self.failure is not None and self.failure.signature == self.finding.failure.signature


def replay(path: Path, target: Target | None = None) -> Replay:
    """Run a saved finding's minimised packet again against a fresh target. A finding that cannot
    be run (unreadable, a target unknown here) is a ValueError ``PATH: problem``."""
    found = findings.load(path)
    config = CampaignConfig(target=found.target, seed=found.seed, keep_valid=found.keep_valid,
                            minimise=False, target_options=found.target_options)
    try:
        campaign = Campaign(config, target)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    seed = campaign.world.seeds.get(found.seed_message)
    if seed is None:
        raise ValueError(f"{path}: unknown seed message {found.seed_message!r}")
    regenerated = None if found.engine != "blind" else \
        campaign.render(seed, apply_chain(campaign.frame(seed), found.minimal_chain)) == found.minimal_raw
    try:
        result = campaign.check(found.minimal_raw, seed, found.case, True)
    finally:
        campaign.target.close()
    return Replay(found, result if isinstance(result, Failure) else None, regenerated)
