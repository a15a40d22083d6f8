"""One line per message: what the automata log, as text for people and JSON lines for scripts.

Theory of operation
-------------------
Every message a node receives, sends, forwards, holds or drops, every core
event (``Notify``) and every life-cycle state becomes one :class:`Record`,
written by a :class:`LogSink` as a text line and/or a JSON object::

    t        node dir  kind src            dst               fields
    12.345   dar1 <    BU   2001:db8:2::5 -> 2001:db8:1::1    seq=7 hoa=2001:db8:1::5 lifetime=86400 A H cga
    12.351   dar1 >    BA   2001:db8:1::1 -> 2001:db8:2::5    status=0 seq=7 lifetime=86400 hoa=... phkt bad
    12.352   dar1 *    binding-created                        hoa=2001:db8:1::5 coa=2001:db8:2::5
    12.360   mn   @    BOUND

    {"t": 12.345, "node": "dar1", "dir": "in", "kind": "BU", "src": ..., "seq": 7, "cga": true, ...}

Directions: ``in`` <, ``out`` >, ``fwd`` = (routed on), ``held`` ? (intercepted),
``released`` +, ``drop`` !, ``event`` *, ``state`` @, ``error`` !!. ``t`` counts
seconds from the sink's creation, so automata sharing a sink share a clock.
A message that came in on a kernel interface also has ``rx``: when the kernel
received it, on the same clock (``t`` is when the role read it, which may be
later when it was busy).
A sink may keep its records (``keep=True``) for tests and shells to wait on.

Logging never stops a role (issue 14, profile §6 "Bounded state")::

    role thread --write()--> Limit: a token bucket per (node, dir, kind, drop code)
                               | over it: counted; every ``summary_every`` s one
                               | ``log-suppressed`` record says how many, of what
                               v
                             queue (at most QUEUE records; full: counted as lost)
                               v  every WRITE_EVERY s (at once for flush(), close())
    writer thread --------> text stream, JSON stream: a write that raises (disk full, a
                            closed or non-blocking stdout) is caught and the line counted;
                            the first failure is said once (stderr, and a ``log-write``
                            error record on the other streams), the return once
                            (``log-resumed`` with the count lost)

So a flood of garbage costs a few lines a second, a blocked stdout blocks only
the writer thread, and a full disk costs nothing but the lines.

A record never wakes the writer: it wakes on a timer and writes what came
meanwhile. Woken per record, it ran (formatting text and JSON) just when a
role answered a BU, and took the CPU and the GIL from it: on the lab's two
cores, with three DARs and the MN busy at once after a handover, BU->BA went
from a median of 2.3-2.8 ms to 1.5-1.8 ms once the writer stopped being woken.
A record's ``t`` is its creation time; only the line is up to WRITE_EVERY late, so a file's
modification time does not date its last record: ``started`` is the wall-clock time of ``t = 0``
(the roles log it in their ``warm-up`` record). ``counts`` holds how many records of each
(dir, kind) the roles asked for, written or not.
"""

from __future__ import annotations

import contextlib
import json
import queue
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from scapy_fama.proto.messages import KINDS, Message, fields

Record = dict[str, Any]
Key = tuple[str, str, str, str]  # node, direction, kind, drop code

SYMBOLS = {
    "in": "<",
    "out": ">",
    "fwd": "=",
    "held": "?",
    "released": "+",
    "drop": "!",
    "event": "*",
    "state": "@",
    "error": "!!",
}
QUEUE = 10_000  # records waiting for the writer thread; beyond, they are counted as lost
KEYS = 1024  # rate-limit buckets kept (idle full ones are forgotten first)
BATCH = 512  # records written between two flushes
CLOSE_WAIT = 5.0  # seconds close() gives the writer to finish (a blocked stream is given up)
WRITE_EVERY = 0.05  # seconds between the writer's rounds: a record never wakes it (see above)


@dataclass(frozen=True)
class Limit:
    """Per kind of record: ``burst`` at once, then ``per_second``; the rest counted and
    summarised every ``summary_every`` seconds."""

    burst: int = 20
    per_second: float = 2.0
    summary_every: float = 5.0


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float
    suppressed: int = 0
    since: float = 0.0  # when the first suppressed record of this summary came


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value)


def render(record: Record) -> str:
    """The text line of a record."""
    head = [f"{record['t']:.3f}", record["node"], SYMBOLS[record["dir"]], record["kind"]]
    if "src" in record:
        head += [record["src"], "->", record["dst"]]
    rest = [
        key if value is True else f"{key}={_text(value)}"
        for key, value in record.items()
        if key not in ("t", "node", "dir", "kind", "src", "dst")
        and value is not None
        and value is not False
    ]
    return " ".join(head + rest)


def _json(record: Record) -> str:
    return json.dumps(record, default=_text)


def _code(why: Any) -> str:
    """The stable part of a drop reason (proto.effects.Drop.code)."""
    return str(why).split(": ", 1)[0] if why is not None else ""


class _Stream:
    """One output stream; a failing write is counted, never raised."""

    def __init__(self, stream: TextIO, line: Callable[[Record], str]) -> None:
        self.stream = stream
        self.line = line
        self.name = str(getattr(stream, "name", type(stream).__name__))
        self.lost = 0
        self.failure: str | None = None

    def put(self, records: list[Record], t: float) -> str | None:
        """Write ``records`` at once; the failure when it starts a run of them, else None."""
        lines = [self.line(record) for record in records]
        if self.failure is not None:
            resumed = {"t": t, "node": "log", "dir": "event", "kind": "log-resumed", "stream": self.name,
                       "lost": self.lost, "after": self.failure}  # fmt: skip
            lines.insert(0, self.line(resumed))
        if not lines:
            return None
        try:
            self.stream.write("\n".join(lines) + "\n")
            self.stream.flush()
        except Exception as exc:  # noqa: BLE001 -- disk full, a closed or blocked stream: count it
            self.lost += len(records)
            first, self.failure = self.failure is None, f"{type(exc).__name__}: {exc}"
            return self.failure if first else None
        self.failure, self.lost = None, 0
        return None


class LogSink:
    """Writes records as text lines and/or JSON lines from a thread of its own (see above)."""

    def __init__(
        self,
        text: TextIO | None = None,
        json_lines: TextIO | None = None,
        *,
        keep: bool = False,
        limit: Limit = Limit(),
    ) -> None:
        self._t0 = time.monotonic()
        self.started = time.time()  # the wall-clock time of t = 0 (the roles log it: lines come late)
        self._changed = threading.Condition()
        self._lock = threading.RLock()
        self.records: list[Record] | None = [] if keep else None
        self._read = keep  # a record has somewhere to go: kept, or a stream (_add)
        self.limit = limit
        self.counts: Counter[tuple[str, str]] = Counter()  # (dir, kind) asked for, written or not
        self.suppressed = 0  # records the limit held back (summarised)
        self.lost = 0  # records the queue had no room for
        self._buckets: dict[Key, _Bucket] = {}
        self._owned: list[TextIO] = []
        self._streams: list[_Stream] = []
        self._queue: queue.Queue[Record | None] = queue.Queue(QUEUE)
        self._writer: threading.Thread | None = None
        self._pending = 0  # records queued and not yet written (flush() waits for none)
        self._idle = threading.Condition()
        self._wake = threading.Event()  # set by flush() and close() only, never by a record
        self._closed = False
        for stream, line in ((text, render), (json_lines, _json)):
            if stream is not None:
                self._add(stream, line)

    @classmethod
    def open(cls, text: Path | None, json_lines: Path | None, *, limit: Limit = Limit()) -> LogSink:
        """Text to ``text`` (stdout when None), JSON lines to ``json_lines`` if given."""
        owned = []
        try:
            for path in (text, json_lines):
                owned.append(None if path is None else path.open("w", encoding="utf-8"))
        except OSError:
            for stream in owned:
                if stream is not None:
                    stream.close()
            raise
        sink = cls(owned[0] or sys.stdout, owned[1], limit=limit)
        sink._owned = [s for s in owned if s is not None]
        return sink

    def _add(self, stream: TextIO, line: Callable[[Record], str]) -> None:
        self._streams.append(_Stream(stream, line))
        self._read = True
        if self._writer is None:
            self._writer = threading.Thread(target=self._run, name="fama-log", daemon=True)
            self._writer.start()

    def flush(self, timeout: float) -> bool:
        """Wait until every record so far is written (or failed); False after ``timeout``."""
        self._wake.set()
        with self._idle:
            return self._idle.wait_for(lambda: not self._pending, timeout)

    def close(self) -> None:
        """Write what is queued and the last summaries, then close the files it opened."""
        if self._closed:
            return
        self._closed = True
        self._summarise(force=True)
        if self._writer is not None:
            self._queue.put(None)
            self._wake.set()
            self._writer.join(CLOSE_WAIT)
        for stream in self._owned:
            with contextlib.suppress(OSError):  # the last flush failed (disk full): lines counted
                stream.close()

    @property
    def reading(self) -> bool:
        """Whether a record goes anywhere (kept or written): else it is only counted."""
        return self._read

    # ---------------------------------------------------------------- writing (any thread)

    def write(self, node: str, direction: str, kind: str, **fields: Any) -> None:
        if not self._read:  # nobody reads it: counted, nothing more (a DAR writes five a first BU)
            with self._lock:
                self.counts[direction, kind] += 1
        elif self._admit(node, direction, kind, fields.get("why")):
            self._emit(node, direction, kind, fields)

    def message(self, node: str, direction: str, msg: Message, **extra: Any) -> None:
        name = KINDS[type(msg)]
        # counted and limited before any formatting, formatted only for someone who reads it
        if not self._read:
            with self._lock:
                self.counts[direction, name] += 1
        elif self._admit(node, direction, name, extra.get("why")):
            self._emit(node, direction, name, {"src": msg.src, "dst": msg.dst, **fields(msg), **extra})

    def counted(self, *keys: tuple[str, str]) -> bool:
        """Records of each (direction, kind) in ``keys``, for a caller that makes them only for
        someone who reads them: nobody reading, they are counted at once, as write() and
        message() count them, and True; else nothing is counted, False (the caller writes them)."""
        if self._read:
            return False
        with self._lock:
            self.counts.update(keys)  # Counter.update counts an iterable's items in C
        return True

    def _admit(self, node: str, direction: str, kind: str, why: str | None) -> bool:
        """Count the record, which someone reads; whether the limit lets it through (a token
        bucket per node, direction, kind and drop code)."""
        with self._lock:
            self.counts[direction, kind] += 1
            now, limit, key = time.monotonic(), self.limit, (node, direction, kind, _code(why))
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= KEYS:
                    self._forget(now)
                bucket = self._buckets[key] = _Bucket(float(limit.burst), now)
            tokens = bucket.tokens + (now - bucket.at) * limit.per_second
            bucket.tokens = tokens if tokens < limit.burst else limit.burst
            bucket.at = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return True
            if not bucket.suppressed:
                bucket.since = now
            bucket.suppressed += 1
            self.suppressed += 1
            return False

    def _forget(self, now: float) -> None:
        """Make room among the buckets: drop those refilled to the brim with nothing pending."""
        limit = self.limit
        for key, bucket in list(self._buckets.items()):
            full = bucket.tokens + (now - bucket.at) * limit.per_second >= limit.burst
            if full and not bucket.suppressed:
                del self._buckets[key]
        if len(self._buckets) >= KEYS:  # all busy: the oldest goes, its count summarised first
            key = min(self._buckets, key=lambda k: self._buckets[k].at)
            self._summary(key, self._buckets.pop(key), now)

    def _emit(self, node: str, direction: str, kind: str, fields: dict[str, Any]) -> None:
        record: Record = {
            "t": self._now(),
            "node": node,
            "dir": direction,
            "kind": kind,
            **fields,
        }
        if self.records is not None:
            with self._changed:
                self.records.append(record)
                self._changed.notify_all()
        if self._streams:
            with self._idle:
                try:
                    self._queue.put_nowait(record)
                    self._pending += 1
                except queue.Full:  # the writer is blocked or far behind: count, never wait
                    self.lost += 1

    def _summarise(self, force: bool = False) -> None:
        """One ``log-suppressed`` record per key whose summary is due."""
        now = time.monotonic()
        with self._lock:
            due = [
                (key, bucket)
                for key, bucket in self._buckets.items()
                if bucket.suppressed and (force or now - bucket.since >= self.limit.summary_every)
            ]
            for key, bucket in due:
                self._summary(key, bucket, now)

    def _summary(self, key: Key, bucket: _Bucket, now: float) -> None:
        node, direction, name, code = key
        count, bucket.suppressed = bucket.suppressed, 0
        if count:
            of = "/".join(part for part in (direction, name, code) if part)
            self._emit(node, "event", "log-suppressed", {"of": of, "count": count,
                                                          "seconds": round(now - bucket.since, 3)})  # fmt: skip

    # ---------------------------------------------------------------- the writer thread

    def _run(self) -> None:
        """Every WRITE_EVERY seconds, or at once for flush() and close(), write what is queued;
        the summaries at most every second (or ``summary_every``)."""
        tick = min(1.0, self.limit.summary_every)
        summarised = time.monotonic()
        while True:
            self._wake.wait(WRITE_EVERY)
            self._wake.clear()
            ended = self._write_queued()
            if ended:
                return
            if time.monotonic() - summarised >= tick:
                self._summarise()
                summarised = time.monotonic()

    def _write_queued(self) -> bool:
        """Write the queued records, BATCH at a time; True once close()'s end mark is read."""
        while True:
            batch: list[Record | None] = []
            while len(batch) < BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            records = [r for r in batch if r is not None]
            if records:
                self._put(records)
                with self._idle:
                    self._pending -= len(records)
                    self._idle.notify_all()
            if None in batch:
                return True
            if len(batch) < BATCH:
                return False

    def _now(self) -> float:
        return round(time.monotonic() - self._t0, 6)

    @property
    def queued(self) -> int:
        """Records waiting for the writer (at most QUEUE; beyond, ``lost``)."""
        return self._pending

    @property
    def keys(self) -> int:
        """Rate-limit keys held (at most KEYS)."""
        return len(self._buckets)

    def clock(self, wall: float) -> float:
        """A ``time.time()`` moment (a kernel's receive time) on this sink's clock, ``t``'s."""
        return round(time.monotonic() - (time.time() - wall) - self._t0, 6)

    def _put(self, records: list[Record]) -> None:
        for stream in self._streams:
            failure = stream.put(records, self._now())
            if failure is not None:
                self._say_failed(stream, failure)

    def _say_failed(self, failed: _Stream, failure: str) -> None:
        """The first failure of a stream, said once: stderr, and a record on the other streams."""
        line = f"log: cannot write to {failed.name} ({failure}); its lines are counted, not written"
        with contextlib.suppress(Exception):  # stderr is gone too: the record below is all there is
            print(line, file=sys.stderr, flush=True)
        record = {"t": self._now(), "node": "log", "dir": "error", "kind": "log-write",
                  "stream": failed.name, "why": failure}  # fmt: skip
        for stream in self._streams:
            if stream is not failed:
                stream.put([record], record["t"])

    # ---------------------------------------------------------------- reading (keep=True)

    def find(self, **match: Any) -> list[Record]:
        """The kept records whose fields equal ``match``."""
        with self._changed:
            return [r for r in self.records or [] if all(r.get(k) == v for k, v in match.items())]

    def wait(self, timeout: float, **match: Any) -> Record | None:
        """The first kept record matching ``match``, waiting up to ``timeout`` for it."""
        with self._changed:  # an RLock: find() may take it again
            found = self._changed.wait_for(lambda: self.find(**match), timeout)
        return found[0] if found else None
