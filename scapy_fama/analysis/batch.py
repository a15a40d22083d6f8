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

The copy test needs every file's packets side by side, so a shard holds an event per
IPv6 packet (not the file's counters): the merge costs a dictionary test per packet and
a shard grows with its file. A shard is file-local (file index 0); stage 2 numbers
packets ``(file, frame)`` and capture points by the file's place in the set. Shards travel
as JSON (``fama-analyze-shard/2``, :func:`shard_to_json` / :func:`shard_from_json`), so a
Slurm array, Dask or Spark can run ``fama-analyze --shard-out DIR FILE`` per file and one
``fama-analyze --merge DIR`` gives the report.
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
    FastPath,
    PacketRef,
    Sightings,
    Totals,
    count_native,
    count_tunnel,
)
from scapy_fama.analysis.pmip import ProxyInfo
from scapy_fama.analysis.reader import VANTAGES_PER_FILE, CaptureReader, Interface
from scapy_fama.analysis.signalling import Problem, Signal
from scapy_fama.crypto import KeyPair

SHARD_SCHEMA = "fama-analyze-shard/2"
CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap")
# [time, key, capture point, signalling, effect, ...]: an IPv6 packet, see the module docstring (a
# list, which the effects are appended to; equal effects are one object, which pickle sends once)
Event = list[Any]
Effect = tuple[Any, ...]
EFFECTS = 4  # where an event's effects start


@dataclass
class Shard:
    """Stage 1 of one file: its frame counts and every IPv6 packet as an event, file-local."""

    file: CaptureFile
    totals: Totals  # frames, ipv6 and other are the file's; the rest is recounted by the merge
    first_time: float | None
    last_time: float | None
    events: list[Event] = field(default_factory=list)


def _key(ip: bytes) -> bytes:
    """A packet's duplicate key: a digest of its bytes, the hop limit aside (as Sightings.earlier)."""
    return hashlib.blake2b(ip[:7] + ip[8:], digest_size=8).digest()


class _Record:
    """The tap and sink of stage 1: every IPv6 packet and what it became, in file order."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._event: Event = []
        self._same: dict[Effect, Effect] = {}  # a data stream's packets: one effect object

    def packet(self, ip: bytes, now: float, vantage: int, signalling: bool) -> None:
        self._event = [now, _key(ip), vantage, signalling]
        self.events.append(self._event)

    def tunnel(self, tunnels: object, key: tuple[str, str, str, str], now: float, size: int, overhead: int) -> None:
        effect = ("tunnel", key, size, overhead)
        self._event.append(self._same.setdefault(effect, effect))

    def native(self, native: object, src: str, dst: str, now: float, size: int) -> None:
        effect = ("native", src, dst, size)
        self._event.append(self._same.setdefault(effect, effect))

    def sighting(self, key: bytes, now: float, ref: PacketRef) -> None:
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
    found in folders, which are read leniently (one that is no capture is a break, not an error)."""
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


def shard(path: Path, lenient: bool = False) -> Shard:
    """Stage 1 of one file (raises CaptureError for a file that is not a capture, unless ``lenient``)."""
    with CaptureReader(path, lenient=lenient) as reader:
        record = _Record()
        fast = FastPath(signal_handler(record), tap=record)
        fast.consume(reader)
        info = CaptureFile(reader.path, reader.size, reader.interfaces, reader.truncated)
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
        now, key, vantage, signalling = event[:EFFECTS]
        vantage += index * VANTAGES_PER_FILE
        if copies.earlier_key(key, now, vantage) is not None:
            totals.duplicates += 1
            if signalling:
                live.sighting(key, now)
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
            else:
                live.malformed(effect[2], (index, effect[1]), effect[3], now)
        if event[EFFECTS:EFFECTS + 1] and event[EFFECTS][0] in ("signal", "malformed"):  # not a tunnel's inner MH
            totals.signalling += 1
    times = [s.first_time for s in shards if s.first_time is not None]
    fast.first_time = min(times) if times else None
    lasts = [s.last_time for s in shards if s.last_time is not None]
    fast.last_time = max(lasts) if lasts else None
    files = [CaptureFile(s.file.path, s.file.size, s.file.interfaces, s.file.truncated) for s in shards]
    cut = [s.file.truncated for s in shards if s.file.truncated]
    return finish(fast, live.recon, live.findings, files, keys or [], mn, cut)


def _shards(paths: list[Path], jobs: int, lenient: Collection[Path]) -> list[Shard]:
    """Stage 1 of each file, in file order, on ``jobs`` processes at most and no more than the files."""
    with ProcessPoolExecutor(max_workers=max(1, min(jobs, len(paths)))) as pool:
        return list(pool.map(shard, paths, [p in lenient for p in paths]))


def analyze_set(paths: list[Path], jobs: int, keys: list[KeyPair] | None = None, mn: str | None = None,
                lenient: Collection[Path] = ()) -> Analysis:
    """A capture set on ``jobs`` processes: stage 1 per file in a pool, stage 2 here."""
    return merge(_shards(paths, jobs, lenient), keys, mn)


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
    """``fama-analyze-shard/2``: a shard as plain JSON data."""
    return {
        "schema": SHARD_SCHEMA,
        "file": {"path": str(s.file.path), "size": s.file.size, "truncated": s.file.truncated,
                 "interfaces": [asdict(i) for i in s.file.interfaces]},
        "totals": asdict(s.totals), "first_time": s.first_time, "last_time": s.last_time,
        "events": [[now, key.hex(), vantage, signalling, *map(_effect_json, effects)]
                   for now, key, vantage, signalling, *effects in s.events],
    }


def shard_from_json(data: dict[str, Any], where: str = "shard") -> Shard:
    """A shard read back; ValueError when ``data`` is not a fama-analyze-shard/2 document."""
    if not isinstance(data, dict) or data.get("schema") != SHARD_SCHEMA:
        raise ValueError(f"{where}: not a {SHARD_SCHEMA} document")
    try:
        f = data["file"]
        info = CaptureFile(Path(f["path"]), f["size"], [Interface(**i) for i in f["interfaces"]], f["truncated"])
        events: list[Event] = [[now, bytes.fromhex(key), vantage, bool(signalling), *map(_effect, effects)]
                               for now, key, vantage, signalling, *effects in data["events"]]
        return Shard(info, Totals(**data["totals"]), data["first_time"], data["last_time"], events)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ValueError(f"{where}: a damaged {SHARD_SCHEMA} document ({type(exc).__name__}: {exc})") from None


def write_shards(paths: list[Path], out: Path, jobs: int = 1,
                 lenient: Collection[Path] = ()) -> list[tuple[Path, str | None]]:
    """Stage 1 of each file into ``out/<name>.shard.json`` (``jobs`` processes): each shard's path and
    where its file was cut short (None: read whole), which the merge reports as capture-truncated."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for s in _shards(paths, jobs, lenient):
        target = out / f"{s.file.path.name}.shard.json"
        target.write_text(json.dumps(shard_to_json(s)) + "\n")
        written.append((target, s.file.truncated))
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
