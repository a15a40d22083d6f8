"""Blind campaigns on several cores: cases shared out by index, results as from one process.

Theory of operation
-------------------
Case ``i`` depends on ``(seed, i)`` alone, so cases can run in any process and any
order. :func:`run_parallel` forks ``jobs`` workers from the campaign as it was built
(world, templates and target are inherited: no second set-up). Each worker takes
the next chunk of :data:`CHUNK` case indices from a shared counter, runs every case
exactly as :meth:`Campaign.run` does, and reports on its own pipe the counts and the
failures of the cases it ran since its last report::

    parent  counter = 0 --fork--> worker k: until --cases, --seconds or stop:
                                    take [a, a + CHUNK) from the counter
                                    run each case: count it; a failure -> (signature, case,
                                    the minimised Finding if it is the worker's first of
                                    that signature, else None)
                                    report when REPORT_EVERY has passed or a first failure came
            <------ Report(tally, failures), then a last one with done=True
    parent  summary.add(tally); per signature keep the Finding of the lowest case and
            count every other occurrence as a duplicate; save findings as they come

The lowest case of a signature is the first the serial run meets, and it is
minimised by whichever worker ran it exactly as the serial run would (minimising
depends on the case alone). So with ``--cases`` the findings, their duplicates
and the coverage are those of ``Campaign.run`` for any ``jobs``; a ``--seconds``
campaign ends where its time does. Targets that keep state between cases (an
implementation on an interface) cannot be shared out and are refused.

What lets N workers run at close to N times one process's speed: a worker reports a few
times a second, not per chunk, and writes to its own pipe itself (a ``multiprocessing.Queue``
hands every item to a feeder thread in the worker, which then takes the GIL from the
cases), and the parent sleeps until a report comes or a worker ends (no polling). The heap
the workers inherit is frozen (:func:`frozen_heap`): their collector neither walks it nor
writes to the pages they share with the parent.

Ctrl-C or SIGTERM (:class:`CtrlC`; the workers ignore both, so a signal to the whole process
group reaches the parent alone) only sets a flag and wakes the parent's wait; no exception is raised
in the middle of reading a report, which would leave that pipe mid-message. The parent then
says stop and reads each worker's last report (for at most :data:`STOP_WAIT` s).
"""

from __future__ import annotations

import multiprocessing as mp
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from types import FrameType, TracebackType

from scapy_fama.fuzz import findings
from scapy_fama.fuzz.campaign import Campaign, Case, Summary, Tally, TargetError, frozen_heap
from scapy_fama.fuzz.findings import Finding
from scapy_fama.fuzz.oracles import Failure, alarm_handler

CHUNK = 64  # cases a worker takes at a time: small enough to share the tail evenly
REPORT_EVERY = 0.25  # seconds between a worker's reports (as often as the serial run's progress)
STOP_WAIT = 30.0  # seconds the parent waits, after Ctrl-C, for the workers' last reports


@dataclass
class Report:
    """What a worker sends: the counts of the cases it ran since its last report, their failures."""

    tally: Tally
    failures: list[tuple[str, int, Finding | None]] = field(default_factory=list)
    done: bool = False
    error: str | None = None  # the worker stopped on a target that cannot be fuzzed


class _Share:
    """A worker's side: the cases it ran since its last report, sent on its pipe."""

    def __init__(self, campaign: Campaign, out: Connection) -> None:
        self.campaign, self.out = campaign, out
        self.mine = set[str]()  # signatures this worker has minimised
        self._fresh()

    def _fresh(self) -> None:
        self.part, self.failures, self.since = Summary(self.campaign.config), [], time.monotonic()

    def count(self, i: int, case: Case, result: str | Failure) -> None:
        self.part.count(case, result)
        self.part.cases += 1
        if isinstance(result, Failure):
            new = result.signature not in self.mine
            self.mine.add(result.signature)
            self.failures.append((result.signature, i, self.campaign.finding(case, result) if new else None))
            if new:  # the parent saves a finding as soon as it is found
                self.send()

    def due(self) -> bool:
        return time.monotonic() - self.since >= REPORT_EVERY

    def send(self, done: bool = False, error: str | None = None) -> None:
        self.out.send(Report(self.part.tally(), self.failures, done, error))
        self._fresh()


def _worker(campaign: Campaign, counter: Synchronized, deadline: float | None, stop: Event, out: Connection) -> None:
    for signum in STOPS:  # the parent handles Ctrl-C and SIGTERM and says stop
        signal.signal(signum, signal.SIG_IGN)
    limit, share = campaign.config.cases, _Share(campaign, out)
    error = None
    try:
        with alarm_handler():  # SIGALRM ours for the whole share: each case only arms a timer
            while not stop.is_set():
                with counter.get_lock():
                    start = counter.value
                    counter.value += CHUNK
                end = start + CHUNK if limit is None else min(start + CHUNK, limit)
                if start >= end:
                    break
                for i in range(start, end):
                    if deadline is not None and time.monotonic() >= deadline:
                        break
                    case, result, _ = campaign.run_case(i)
                    share.count(i, case, result)
                if deadline is not None and time.monotonic() >= deadline:
                    break
                if share.due():
                    share.send()
    except TargetError as exc:
        error = str(exc)
    finally:
        campaign.target.close()
        share.send(done=True, error=error)
        out.close()


class _Collector:
    """The parent's side: fold reports into one summary, keep each signature's lowest case."""

    def __init__(self, campaign: Campaign, summary: Summary) -> None:
        self.out = campaign.config.out
        self.summary = summary
        self.best: dict[str, Finding] = {}
        self.occurrences: Counter[str] = Counter()

    def take(self, report: Report) -> None:
        self.summary.add(report.tally)
        for signature, _case, found in report.failures:
            self.occurrences[signature] += 1
            if found is not None and (signature not in self.best or found.case < self.best[signature].case):
                self.best[signature] = found
                if self.out is not None:  # on disk as soon as found, as the serial run does
                    self.summary.paths[found.id] = findings.save(found, self.out)

    def finish(self) -> None:
        self.summary.findings = sorted(self.best.values(), key=lambda f: f.case)
        for f in self.summary.findings:
            f.duplicates = self.occurrences[f.failure.signature] - 1
            if self.out is not None:
                self.summary.paths[f.id] = findings.save(f, self.out)


STOPS = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}  # Ctrl-C, kill: the summary's stopped


class CtrlC:
    """While entered in the main thread, SIGINT or SIGTERM sets ``pressed`` (``stopped`` says
    which) and makes ``wakeup`` readable (signal.set_wakeup_fd) instead of ending the run; once
    pressed, both stay ignored after it. Elsewhere it changes nothing."""

    def __init__(self) -> None:
        self.pressed = False
        self.stopped = "interrupted"
        self.wakeup, self._writer = socket.socketpair()
        for end in (self.wakeup, self._writer):
            end.setblocking(False)
        self._restore: tuple[dict[int, Callable[..., object] | int | None], int] | None = None

    def _press(self, signum: int, frame: FrameType | None) -> None:
        if not self.pressed:
            self.pressed, self.stopped = True, STOPS[signum]

    def drain(self) -> None:
        """Read away the signal numbers the wakeup wrote."""
        try:
            while self.wakeup.recv(64):
                pass
        except BlockingIOError:
            pass

    def __enter__(self) -> CtrlC:
        if threading.current_thread() is threading.main_thread():
            handlers = {signum: signal.signal(signum, self._press) for signum in STOPS}
            self._restore = (handlers, signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False))
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if self._restore is not None:
            handlers, fd = self._restore
            signal.set_wakeup_fd(fd)
            # pressed: the run is ending at the user's word, so more presses are ignored while
            # its summary is written (one would cut it short with a traceback)
            for signum, handler in handlers.items():
                signal.signal(signum, signal.SIG_IGN if self.pressed else handler)
        self.wakeup.close()
        self._writer.close()


def run_parallel(campaign: Campaign, jobs: int, progress: Callable[[Summary], None] | None = None) -> Summary:
    """``campaign`` on ``jobs`` processes (see the module docstring)."""
    if campaign.target.keeps_state:
        raise ValueError(f"--jobs {jobs}: target {campaign.config.target!r} keeps state between cases, "
                         "so its cases cannot be shared out; run it with --jobs 1")
    ctx = mp.get_context("fork")  # workers inherit the built campaign
    counter, stop = ctx.Value("q", 0), ctx.Event()
    seconds = campaign.config.seconds
    start = time.monotonic()
    deadline = start + seconds if seconds is not None else None
    summary = Summary(campaign.config)
    collect = _Collector(campaign, summary)
    with CtrlC() as ctrl_c:  # before the fork: no Ctrl-C between it and the loop raises
        workers: dict[Connection, mp.process.BaseProcess] = {}
        with frozen_heap():
            for _ in range(jobs):
                reader, writer = ctx.Pipe(duplex=False)
                workers[reader] = ctx.Process(target=_worker, args=(campaign, counter, deadline, stop, writer),
                                              daemon=True)
                workers[reader].start()
                writer.close()  # the worker holds the only writer: its end is the pipe's end
        pending = list(workers)  # the workers whose last report has not come
        errors: list[str] = []
        until = None  # after Ctrl-C: how long the workers' last reports are waited for
        try:
            while pending:
                ready = wait([*pending, ctrl_c.wakeup], None if until is None else max(0.0, until - time.monotonic()))
                if ctrl_c.pressed and until is None:
                    summary.stopped = ctrl_c.stopped
                    stop.set()
                    until = time.monotonic() + STOP_WAIT
                if not ready:
                    break
                for reader in ready:
                    if reader is ctrl_c.wakeup:
                        ctrl_c.drain()
                        continue
                    try:
                        report = reader.recv()
                    except EOFError:
                        raise RuntimeError("fuzzing workers died without a word") from None
                    collect.take(report)
                    if report.done:
                        pending.remove(reader)
                        if report.error:
                            errors.append(report.error)
                            stop.set()
                    summary.seconds = time.monotonic() - start
                    if progress is not None:
                        progress(summary)
            if until is None:
                summary.stopped = "cases" if campaign.config.cases is not None and \
                    summary.cases >= campaign.config.cases else "seconds"
        finally:
            stop.set()
            for reader, worker in workers.items():
                if reader in pending:  # it did not report its end: it is ended (it ignores SIGTERM)
                    worker.kill()
                worker.join()
                reader.close()
            campaign.target.close()
    if errors:
        raise TargetError(errors[0])
    collect.finish()
    summary.seconds = time.monotonic() - start
    return summary
