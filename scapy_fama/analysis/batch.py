"""Capture sets: many files and folders, on every core or many machines, one report.

Theory of operation
-------------------
One run (:func:`scapy_fama.analysis.analyze.analyze`) reads every file merged by
time. A capture set splits that run in two stages that give the same
:class:`Analysis`, copies of a packet in several files (capture points) included::

    stage 1, per file, anywhere (a process of --jobs N, or a machine of a batch engine):
        CaptureReader -> FastPath with a tap (no copy test, nothing counted) -> a Shard:
        the file's frame counts, and each IPv6 packet in file order as an event
            [time, key, capture point, signalling, effect, ...]
        key: an 8-byte BLAKE2b digest of its bytes, the hop limit aside; effects: what the
        packet counts or carries if it is no copy: ("tunnel", stream, bytes, overhead),
        ("native", src, dst, bytes), ("signal", frame, ip, Signal), ("malformed", frame, ...)
    stage 2, once (merge):
        the shards' packets merged by time, file order on ties (heapq.merge, as the one run
        merges frames) -> the one run's copy test (classify.Sightings) -> a copy is counted
        as a duplicate (a sighting for signalling), the rest counted (count_tunnel,
        count_native) and its signalling read into analyze.Live -> analyze.finish

Only packets that another file may hold a copy of need the merge's copy test: with
``--jobs`` (:func:`analyze_set`) a first pass reads each file's time span (:func:`time_span`,
in the pool), and stage 1 of a file ships events only for its *shared* stretches, the times
within DUPLICATE_WINDOW of another file's span. The rest of the file is *its own*: no other
file's packet comes within the window of it, so (files in time order) one run sees there only
this file's packets, and a packet of one capture point is a copy only of a packet of another
capture point of this file. Stage 1 counts such a stretch itself (its own copy test when the
file has several capture points) into a :class:`Segment`, placed in the file's events where the
stretch starts; stage 2 folds it into the counters at that place (classify.fold_tunnels,
fold_native: the same counts, tunnel starts and per-second arrays as one by one). Signalling
(and unreadable signalling) is shipped from every stretch: the reconstruction reads every
binding's messages of all files in time order (a BU in one file, its BA in another); from an own
stretch its data was counted by stage 1 (the effect ("counted",) stands for it) and stage 2 only
runs its copy test, which sees every copy of it (copies have the same bytes, hence signalling
too). A file with several capture points that shares a stretch with another file, and every file
when one is not in time order (the copy test's window then depends on all files' packets), is
shipped whole: the merge then is the one run, packet by packet.

A shard is file-local (file index 0); stage 2 numbers packets ``(file, frame)`` and capture
points by the file's place in the set. Shards travel as JSON (``fama-analyze-shard/3``,
:func:`shard_to_json` / :func:`shard_from_json`), so a Slurm array, Dask or Spark can run
``fama-analyze --shard-out DIR FILE`` per file and one ``fama-analyze --merge DIR`` gives the
report. Such a shard knows no other file, so it is shipped whole (an event per IPv6 packet,
no segment): the format is unchanged, and ``--merge`` costs a copy test per packet. Version 3
carries each capture point's frame count and whether the file is a pcapng (what the report says
of a capture point in a link type the reader does not read); a /2 shard lacks them and is refused.
"""

from __future__ import annotations

import hashlib
import heapq
import json
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from collections.abc import Collection
from itertools import islice, repeat
from pathlib import Path
from typing import Any

from scapy_fama.analysis.analyze import (
    Analysis,
    CaptureFile,
    Live,
    finish,
    signal_handler,
)
from scapy_fama.analysis.classify import (
    DUPLICATE_WINDOW,
    FastPath,
    NativeCount,
    PacketRef,
    Sightings,
    Totals,
    Tunnels,
    count_native,
    count_tunnel,
    fold_native,
    fold_tunnels,
)
from scapy_fama.analysis.pmip import ProxyInfo
from scapy_fama.analysis.reader import VANTAGES_PER_FILE, CaptureReader, Interface
from scapy_fama.analysis.signalling import Problem, Signal
from scapy_fama.crypto import KeyPair

SHARD_SCHEMA = "fama-analyze-shard/3"
CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap")
# [time, key, capture point, signalling, effect, ...]: an IPv6 packet, see the module docstring (a
# list, which the effects are appended to; equal effects are one object, which pickle sends once);
# or [time, None, Segment]: the file's own stretch from that time on, counted by stage 1
Event = list[Any]
Effect = tuple[Any, ...]
EFFECTS = 4  # where an event's effects start
COUNTED = ("counted",)  # the effect of data stage 1 counted itself (a tunnelled MH of an own stretch)
Span = tuple[float, float]  # first and last time, seconds
REACH = 2 * DUPLICATE_WINDOW  # how near another file's span a stretch is shared: the window, and room for rounding
WHOLE: list[Span] = [(float("-inf"), float("inf"))]  # shared throughout: an event per IPv6 packet


@dataclass
class Segment:
    """Stage 1's own count of a stretch of a file that no other file comes within the window of."""

    totals: Totals = field(default_factory=Totals)  # tunnelled, native, duplicates
    tunnels: Tunnels = field(default_factory=Tunnels)
    native: dict[str, NativeCount] = field(default_factory=dict)


@dataclass
class Shard:
    """Stage 1 of one file: its frame counts, its IPv6 packets as events (file-local) and its own
    stretches as segments among them."""

    file: CaptureFile
    totals: Totals  # frames, ipv6 and other are the file's; the rest is recounted by the merge
    first_time: float | None
    last_time: float | None
    events: list[Event] = field(default_factory=list)


def _key(ip: bytes) -> bytes:
    """A packet's duplicate key: a digest of its bytes, the hop limit aside (as Sightings.earlier)."""
    return hashlib.blake2b(ip[:7] + ip[8:], digest_size=8).digest()


class _Record:
    """The tap and sink of stage 1: every IPv6 packet and what it became, in file order; in the
    file's own stretches (outside ``shared``, sorted disjoint spans) data is counted here instead."""

    def __init__(self, shared: list[Span], several_points: bool) -> None:
        self.events: list[Event] = []
        self._event: Event = []
        self._same: dict[Effect, Effect] = {}  # a data stream's packets: one effect object
        self._shared = shared
        self._next = 0  # the first shared span not yet over
        self._segment: Segment | None = None  # the own stretch the packets are in; None: a shared one
        self._copies = Sightings() if several_points else None  # an own stretch's copy test
        self._copy = False  # the current packet (own stretch) is a copy
        self._ip = b""  # and its bytes, keyed only if it is shipped

    def _is_shared(self, now: float) -> bool:
        while self._next < len(self._shared) and self._shared[self._next][1] < now:
            self._next += 1
        return self._next < len(self._shared) and self._shared[self._next][0] <= now

    def packet(self, ip: bytes, now: float, vantage: int, signalling: bool) -> None:
        self.done()
        if self._is_shared(now):
            self._segment = None
            self._event = [now, _key(ip), vantage, signalling]
            self.events.append(self._event)
            return
        if self._segment is None:
            self._segment = Segment()
            self.events.append([now, None, self._segment])
        self._copy = self._copies is not None and self._copies.earlier(ip, now, vantage) is not None
        self._ip = ip
        self._event = [now, None, vantage, signalling]

    def done(self) -> None:
        """The last packet is complete: an own stretch's is shipped if it was signalling."""
        event, segment = self._event, self._segment
        if segment is None or len(event) < EFFECTS:
            return
        if any(e[0] in ("signal", "malformed") for e in islice(event, EFFECTS, None)):
            event[1] = _key(self._ip)
            self.events.append(event)  # its copy test and counts of signalling are stage 2's
        elif self._copy:
            segment.totals.duplicates += 1
        self._event = []

    def tunnel(self, tunnels: object, key: tuple[str, str, str, str], now: float, size: int, overhead: int) -> None:
        if self._segment is None:
            effect = ("tunnel", key, size, overhead)
            self._event.append(self._same.setdefault(effect, effect))
            return
        self._event.append(COUNTED)
        if not self._copy:
            self._segment.totals.tunnelled += 1
            count_tunnel(self._segment.tunnels, key, now, size, overhead)

    def native(self, native: object, src: str, dst: str, now: float, size: int) -> None:
        if self._segment is None:
            effect = ("native", src, dst, size)
            self._event.append(self._same.setdefault(effect, effect))
        elif not self._copy:
            self._segment.totals.native += 1
            count_native(self._segment.native, src, dst, now, size)

    def sighting(self, key: bytes, now: float, ref: PacketRef, vantage: int) -> None:
        raise AssertionError("stage 1 does not look for copies: the merge does")

    def signal(self, sig: Signal, ref: PacketRef, now: float, vantage: int, ip: bytes, key: bytes) -> None:
        self._event.append(("signal", ref[1], ip, sig))

    def malformed(self, message: str, ref: PacketRef, address: str, now: float) -> None:
        self._event.append(("malformed", ref[1], message, address))


def _not_readable(path: Path) -> ValueError:
    """Neither a file nor a folder: missing, or a FIFO, a device, a socket (which said "no such
    file or folder" too)."""
    return ValueError(f"{path}: {'not a regular file or folder' if path.exists() else 'no such file or folder'}")


def capture_set(paths: list[Path]) -> tuple[list[Path], frozenset[Path]]:
    """Files as given, folders as their captures (*.pcap, *.pcapng, *.cap, by name); and the files
    found in folders, which are read leniently (one that is no capture or cannot be read is a break, not an error)."""
    out: list[Path] = []
    lenient: set[Path] = set()
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in CAPTURE_SUFFIXES and p.is_file())
            if not found:
                raise ValueError(f"{path}: no .pcap, .pcapng or .cap file in this folder")
            out += found
            lenient.update(found)
        elif path.is_file():
            out.append(path)
        else:
            raise _not_readable(path)
    return out, frozenset(lenient - {p for p in paths if p.is_file()})


def time_span(path: Path, lenient: bool = False) -> tuple[Span | None, bool, int]:
    """A file's first and last frame times (None: no frame), whether its frames are in time order,
    and its capture points: what :func:`analyze_set` needs to tell the files' shared stretches."""
    first = last = None
    ordered = True
    with CaptureReader(path, lenient=lenient) as reader:
        for _, now, _, _, _ in reader:
            if last is None:
                first = now
            elif now < last:
                ordered = False
            last = now
        points = len(reader.interfaces)
    return (first, last) if first is not None and last is not None else None, ordered, points


def shared_spans(spans: list[Span | None], ordered: bool, points: list[int]) -> list[list[Span]]:
    """Each file's shared stretches: where another file's span comes within DUPLICATE_WINDOW (the
    module docstring says why that is enough, and when a file is shipped whole)."""
    if not ordered:
        return [WHOLE for _ in spans]
    out = []
    for i, mine in enumerate(spans):
        near = sorted((max(s[0] - REACH, mine[0]), min(s[1] + REACH, mine[1]))
                      for j, s in enumerate(spans) if j != i and s is not None and mine is not None)
        near = [s for s in near if s[0] <= s[1]]
        if near and points[i] > 1:
            out.append(WHOLE)
            continue
        joined: list[Span] = []
        for start, end in near:
            if joined and start <= joined[-1][1]:
                joined[-1] = (joined[-1][0], max(joined[-1][1], end))
            else:
                joined.append((start, end))
        out.append(joined)
    return out


def shard(path: Path, lenient: bool = False, shared: list[Span] = WHOLE, points: int = 1) -> Shard:
    """Stage 1 of one file (raises CaptureError for a file that is not a capture, unless ``lenient``);
    data outside the ``shared`` stretches is counted into segments (default: none, an event each),
    with a copy test of its own when the file has several capture ``points``."""
    with CaptureReader(path, lenient=lenient) as reader:
        record = _Record(shared, several_points=points > 1)
        fast = FastPath(signal_handler(record), tap=record)
        fast.consume(reader)
        record.done()
        info = CaptureFile(reader.path, reader.size, reader.interfaces, reader.truncated, reader.pcapng)
    return Shard(info, fast.totals, fast.first_time, fast.last_time, record.events)


def merge(shards: list[Shard], keys: list[KeyPair] | None = None, mn: str | None = None) -> Analysis:
    """Stage 2: the one run's Analysis of the files the shards were made of, in this order.

    The shards' packets, merged by time as the one run merges frames, go through the one
    run's copy test and counters; signalling into one reconstruction."""
    live = Live(keys or [])
    fast = FastPath(signal_handler(live))
    totals, copies = fast.totals, Sightings()
    for s in shards:
        totals.frames += s.totals.frames
        totals.ipv6 += s.totals.ipv6
        totals.other += s.totals.other
    streams = [zip(repeat(i), s.events) for i, s in enumerate(shards)]
    for index, event in heapq.merge(*streams, key=lambda e: e[1][0]):
        if event[1] is None:  # a file's own stretch, counted by stage 1
            segment: Segment = event[2]
            totals.tunnelled += segment.totals.tunnelled
            totals.native += segment.totals.native
            totals.duplicates += segment.totals.duplicates
            fold_tunnels(fast.tunnels, segment.tunnels)
            fold_native(fast.native, segment.native)
            continue
        now, key, vantage, signalling = event[:EFFECTS]
        vantage += index * VANTAGES_PER_FILE
        if copies.earlier_key(key, now, vantage) is not None:
            totals.duplicates += 1
            if signalling:
                ref = next(((index, e[1]) for e in islice(event, EFFECTS, None) if e[0] == "signal"), None)
                live.sighting(key, now, ref, vantage)
            continue
        for effect in islice(event, EFFECTS, None):
            if effect[0] == "tunnel":
                totals.tunnelled += 1
                count_tunnel(fast.tunnels, effect[1], now, effect[2], effect[3])
            elif effect[0] == "native":
                totals.native += 1
                count_native(fast.native, effect[1], effect[2], now, effect[3])
            elif effect[0] == "signal":
                live.signal(effect[3], (index, effect[1]), now, vantage, effect[2], _key(effect[2]))
            elif effect[0] == "malformed":
                live.malformed(effect[2], (index, effect[1]), effect[3], now)
        if event[EFFECTS:EFFECTS + 1] and event[EFFECTS][0] in ("signal", "malformed"):  # not a tunnel's inner MH
            totals.signalling += 1
    times = [s.first_time for s in shards if s.first_time is not None]
    fast.first_time = min(times) if times else None
    lasts = [s.last_time for s in shards if s.last_time is not None]
    fast.last_time = max(lasts) if lasts else None
    files = [CaptureFile(s.file.path, s.file.size, s.file.interfaces, s.file.truncated, s.file.pcapng) for s in shards]
    return finish(fast, live.recon, live.findings, files, keys or [], mn)


def _shards(paths: list[Path], jobs: int, lenient: Collection[Path]) -> list[Shard]:
    """Stage 1 of each file, in file order, on ``jobs`` processes at most and no more than the files."""
    with ProcessPoolExecutor(max_workers=max(1, min(jobs, len(paths)))) as pool:
        return list(pool.map(shard, paths, [p in lenient for p in paths]))


def analyze_set(paths: list[Path], jobs: int, keys: list[KeyPair] | None = None, mn: str | None = None,
                lenient: Collection[Path] = ()) -> Analysis:
    """A capture set on ``jobs`` processes (no more than the files): the files' time spans, then
    stage 1 per file (events for the shared stretches only) in a pool, stage 2 here."""
    leniency = [p in lenient for p in paths]
    with ProcessPoolExecutor(max_workers=max(1, min(jobs, len(paths)))) as pool:
        spans, ordered, points = zip(*pool.map(time_span, paths, leniency))
        shared = shared_spans(list(spans), all(ordered), list(points))
        shards = list(pool.map(shard, paths, leniency, shared, points))
    return merge(shards, keys, mn)


# ---------------------------------------------------------------- shards as JSON


def _signal_json(sig: Signal) -> dict[str, Any]:
    data = asdict(sig)
    data.update(options=list(sig.options), cookie=sig.cookie.hex() if sig.cookie is not None else None,
                token=sig.token.hex() if sig.token is not None else None)
    return data


def _signal(data: dict[str, Any]) -> Signal:
    proxy = data["proxy"]
    return Signal(**{**data, "options": tuple(data["options"]),
                     "proxy": ProxyInfo(**{**proxy, "hnps": tuple(proxy["hnps"])}) if proxy is not None else None,
                     "cookie": bytes.fromhex(data["cookie"]) if data["cookie"] is not None else None,
                     "token": bytes.fromhex(data["token"]) if data["token"] is not None else None,
                     "problems": [Problem(**p) for p in data["problems"]]})


def _effect_json(e: Effect) -> list[Any]:
    if e[0] == "tunnel":
        return ["tunnel", list(e[1]), e[2], e[3]]
    if e[0] == "signal":
        return ["signal", e[1], e[2].hex(), _signal_json(e[3])]
    return list(e)  # native, malformed: plain values


def _effect(e: list[Any]) -> Effect:
    if e[0] == "tunnel":
        return ("tunnel", (e[1][0], e[1][1], e[1][2], e[1][3]), e[2], e[3])
    if e[0] == "signal":
        return ("signal", e[1], bytes.fromhex(e[2]), _signal(e[3]))
    if e[0] in ("native", "malformed"):
        return (e[0], e[1], e[2], e[3])
    raise ValueError(f"an unknown event {e[0]!r}")


def shard_to_json(s: Shard) -> dict[str, Any]:
    """``fama-analyze-shard/3``: a shard as plain JSON data (one shipped whole: no segment)."""
    if any(e[1] is None for e in s.events):
        raise ValueError(f"{s.file.path}: a shard with own stretches is made for one capture set, not to travel")
    return {
        "schema": SHARD_SCHEMA,
        "file": {"path": str(s.file.path), "size": s.file.size, "truncated": s.file.truncated,
                 "pcapng": s.file.pcapng, "interfaces": [asdict(i) for i in s.file.interfaces]},
        "totals": asdict(s.totals), "first_time": s.first_time, "last_time": s.last_time,
        "events": [[now, key.hex(), vantage, signalling, *map(_effect_json, effects)]
                   for now, key, vantage, signalling, *effects in s.events],
    }


def shard_from_json(data: dict[str, Any], where: str = "shard") -> Shard:
    """A shard read back; ValueError when ``data`` is not a fama-analyze-shard/3 document."""
    if not isinstance(data, dict) or data.get("schema") != SHARD_SCHEMA:
        raise ValueError(f"{where}: not a {SHARD_SCHEMA} document")
    try:
        f = data["file"]
        info = CaptureFile(Path(f["path"]), f["size"], [Interface(**i) for i in f["interfaces"]], f["truncated"],
                           f["pcapng"])
        events: list[Event] = [[now, bytes.fromhex(key), vantage, bool(signalling), *map(_effect, effects)]
                               for now, key, vantage, signalling, *effects in data["events"]]
        return Shard(info, Totals(**data["totals"]), data["first_time"], data["last_time"], events)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ValueError(f"{where}: a damaged {SHARD_SCHEMA} document ({type(exc).__name__}: {exc})") from None


def write_shards(paths: list[Path], out: Path, jobs: int = 1,
                 lenient: Collection[Path] = ()) -> list[tuple[Path, list[str]]]:
    """Stage 1 of each file into ``out/<name>.shard.json`` (``jobs`` processes): each shard's path and
    what of its file was not analysed (the report's warnings: cut short, capture points not read;
    none: read whole), which the merge reports too."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for s in _shards(paths, jobs, lenient):
        target = out / f"{s.file.path.name}.shard.json"
        target.write_text(json.dumps(shard_to_json(s)) + "\n")
        written.append((target, s.file.warnings()))
    return written


def read_shards(paths: list[Path]) -> list[Shard]:
    """Shard documents from files, and from folders (their *.json, by name), in that order."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(path.glob("*.json"))
            if not found:
                raise ValueError(f"{path}: no shard (*.json) in this folder")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise _not_readable(path)
    out = []
    for path in files:
        try:
            data = json.loads(path.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: not a {SHARD_SCHEMA} document ({exc})") from None
        out.append(shard_from_json(data, str(path)))
    return out
