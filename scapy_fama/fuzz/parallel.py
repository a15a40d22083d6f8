"""Blind campaigns on several cores: cases shared out by index, results as from one process.

Theory of operation
-------------------
Case ``i`` depends on ``(seed, i)`` alone, so cases can run in any process and any
order. :func:`run_parallel` forks ``jobs`` workers from the campaign as it was built
(world, templates and target are inherited: no second set-up). Each worker takes
the next chunk of :data:`CHUNK` case indices from a shared counter, runs every case
exactly as :meth:`Campaign.run` does, and sends back per chunk the counts and the
failures::

    parent  counter = 0 --fork--> worker k: until --cases, --seconds or stop:
                                    take [a, a + CHUNK) from the counter
                                    run each case: count it; a failure -> (signature, case,
                                    the minimised Finding if it is the worker's first of
                                    that signature, else None)
            <------ Chunk(tally, failures) per chunk, then a last one with done=True
    parent  summary.add(tally); per signature keep the Finding of the lowest case and
            count every other occurrence as a duplicate; save findings as they come

The lowest case of a signature is the first the serial run meets, and it is
minimised by whichever worker ran it exactly as the serial run would (minimising
depends on the case alone). So with ``--cases`` the findings, their duplicates
and the coverage are those of ``Campaign.run`` for any ``jobs``; a ``--seconds``
campaign ends where its time does. Targets that keep state between cases (an
implementation on an interface) cannot be shared out and are refused.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event

from scapy_fama.fuzz import findings
from scapy_fama.fuzz.campaign import Campaign, Summary, Tally, TargetError
from scapy_fama.fuzz.findings import Finding
from scapy_fama.fuzz.oracles import Failure, alarm_handler

CHUNK = 64  # cases a worker takes at a time: small enough to share the tail evenly
POLL = 0.1  # seconds the parent waits for a chunk before checking the clock
EXIT_POLL = 0.005  # seconds between two looks at the workers ending (see _drain)


@dataclass
class Chunk:
    """What a worker sends: the counts of the cases it ran and their failures."""

    tally: Tally
    failures: list[tuple[str, int, Finding | None]] = field(default_factory=list)
    done: bool = False
    error: str | None = None  # the worker stopped on a target that cannot be fuzzed


def _worker(campaign: Campaign, counter: Synchronized, deadline: float | None, stop: Event, out: mp.Queue) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and says stop
    limit, mine = campaign.config.cases, set[str]()
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
                part, failures = Summary(campaign.config), []
                for i in range(start, end):
                    if deadline is not None and time.monotonic() >= deadline:
                        break
                    case, result, _ = campaign.run_case(i)
                    part.count(case, result)
                    part.cases += 1
                    if isinstance(result, Failure):
                        new = result.signature not in mine
                        mine.add(result.signature)
                        failures.append((result.signature, i, campaign.finding(case, result) if new else None))
                out.put(Chunk(part.tally(), failures))
                if deadline is not None and time.monotonic() >= deadline:
                    break
    except TargetError as exc:
        error = str(exc)
    finally:
        campaign.target.close()
        out.put(Chunk(Summary(campaign.config).tally(), done=True, error=error))


class _Collector:
    """The parent's side: fold chunks into one summary, keep each signature's lowest case."""

    def __init__(self, campaign: Campaign, summary: Summary) -> None:
        self.out = campaign.config.out
        self.summary = summary
        self.best: dict[str, Finding] = {}
        self.occurrences: Counter[str] = Counter()

    def take(self, chunk: Chunk) -> None:
        self.summary.add(chunk.tally)
        for signature, _case, found in chunk.failures:
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


def _drain(out: mp.Queue, workers: list[mp.Process], collect: _Collector | None, wait: float = 30.0) -> None:
    """Empty the queue while the workers end (a worker with unsent chunks cannot exit), looking
    every EXIT_POLL: a worker that sent its last chunk ends within milliseconds (waiting POLL
    added 0.1 s to every run, a sixth of 10,000 inproc cases on 2 processes)."""
    until = time.monotonic() + wait
    while any(w.is_alive() for w in workers) and time.monotonic() < until:
        try:
            chunk = out.get(timeout=EXIT_POLL)
        except queue.Empty:
            continue
        if collect is not None:
            collect.take(chunk)
    for w in workers:
        if w.is_alive():
            w.terminate()
        w.join()


def run_parallel(campaign: Campaign, jobs: int, progress: Callable[[Summary], None] | None = None) -> Summary:
    """``campaign`` on ``jobs`` processes (see the module docstring)."""
    if campaign.target.keeps_state:
        raise ValueError(f"--jobs {jobs}: target {campaign.config.target!r} keeps state between cases, "
                         "so its cases cannot be shared out; run it with --jobs 1")
    ctx = mp.get_context("fork")  # workers inherit the built campaign
    counter, stop, out = ctx.Value("q", 0), ctx.Event(), ctx.Queue()
    seconds = campaign.config.seconds
    start = time.monotonic()
    deadline = start + seconds if seconds is not None else None
    summary = Summary(campaign.config)
    collect = _Collector(campaign, summary)
    workers = [ctx.Process(target=_worker, args=(campaign, counter, deadline, stop, out), daemon=True)
               for _ in range(jobs)]
    for w in workers:
        w.start()
    running, errors = jobs, []
    try:
        while running:
            try:
                chunk = out.get(timeout=POLL)
            except queue.Empty:
                if not any(w.is_alive() for w in workers) and out.empty():
                    raise RuntimeError("fuzzing workers died without a word") from None
                continue
            collect.take(chunk)
            if chunk.done:
                running -= 1
                if chunk.error:
                    errors.append(chunk.error)
                    stop.set()
            summary.seconds = time.monotonic() - start
            if progress is not None:
                progress(summary)
        summary.stopped = "cases" if campaign.config.cases is not None and summary.cases >= campaign.config.cases \
            else "seconds"
    except KeyboardInterrupt:
        summary.stopped = "interrupted"
        stop.set()
    finally:
        stop.set()
        _drain(out, workers, collect if summary.stopped == "interrupted" else None)
        campaign.target.close()
    if errors:
        raise TargetError(errors[0])
    collect.finish()
    summary.seconds = time.monotonic() - start
    return summary
