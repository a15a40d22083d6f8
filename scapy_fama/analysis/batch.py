"""Capture sets: many files and folders, on every core or many machines, one report.

Theory of operation
-------------------
One run (:func:`scapy_fama.analysis.analyze.analyze`) reads every file merged by
time. A capture set splits that run in two stages that give the same
:class:`Analysis` when the files are separate captures (no packet in two files)::

    stage 1, per file, anywhere (a process of --jobs N, or a machine of a batch engine):
        CaptureReader -> FastPath (data counted) -> signal_handler -> a Shard: the file's
        counters, and its signalling in file order as events
            ("signal", time, ref, vantage, ip, Signal) | ("sighting", time, ip) |
            ("malformed", time, ref, message, address)
    stage 2, once (merge):
        the shards' events merged by time, file order on ties (heapq.merge, as the one run
        merges frames) -> analyze.Live (the reconstruction)
        counters summed, tunnels and addresses in order of first sight -> analyze.finish

A shard is file-local (file index 0); stage 2 renumbers packets ``(file, frame)``
and capture points by the file's place in the set. Shards travel as JSON
(``fama-analyze-shard/1``, :func:`shard_to_json` / :func:`shard_from_json`), so a
Slurm array, Dask or Spark can run ``fama-analyze --shard-out DIR FILE`` per file
and one ``fama-analyze --merge DIR`` gives the report. Files that are capture
points of the same traffic belong in one run: stage 1 cannot see a packet's copy
in another file, so the data of such copies would count twice.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from scapy_fama.analysis.analyze import Analysis, CaptureFile, Live, finish, signal_handler
from scapy_fama.analysis.classify import FastPath, NativeCount, PacketRef, Totals, TunnelCount
from scapy_fama.analysis.reader import VANTAGES_PER_FILE, CaptureReader, Interface
from scapy_fama.analysis.pmip import ProxyInfo
from scapy_fama.analysis.signalling import Problem, Signal
from scapy_fama.crypto import KeyPair

SHARD_SCHEMA = "fama-analyze-shard/1"
CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap")
Event = tuple[Any, ...]  # (kind, time, ...), see the module docstring


@dataclass
class Shard:
    """Stage 1 of one file: its counters and its signalling events, file-local."""

    file: CaptureFile
    totals: Totals
    tunnels: dict[tuple[str, str, str, str], TunnelCount]
    native: dict[str, NativeCount]
    first_time: float | None
    last_time: float | None
    events: list[Event] = field(default_factory=list)


class _Record:
    """The sink of stage 1: every signalling event, in file order."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def sighting(self, key: bytes, now: float, ref: PacketRef) -> None:
        self.events.append(("sighting", now, key))  # a copy is counted; only a one-process run indexes it

    def signal(self, sig: Signal, ref: PacketRef, now: float, vantage: int, ip: bytes, key: bytes) -> None:
        self.events.append(("signal", now, ref, vantage, ip, sig))

    def malformed(self, message: str, ref: PacketRef, address: str, now: float) -> None:
        self.events.append(("malformed", now, ref, message, address))


def _not_readable(path: Path) -> ValueError:
    """Neither a file nor a folder: missing, or a FIFO, a device, a socket (which said "no such
    file or folder" too)."""
    return ValueError(f"{path}: {'not a regular file or folder' if path.exists() else 'no such file or folder'}")


def capture_set(paths: list[Path]) -> list[Path]:
    """Files as given, folders as their captures (*.pcap, *.pcapng, *.cap, by name)."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in CAPTURE_SUFFIXES and p.is_file())
            if not found:
                raise ValueError(f"{path}: no .pcap, .pcapng or .cap file in this folder")
            out += found
        elif path.is_file():
            out.append(path)
        else:
            raise _not_readable(path)
    return out


def shard(path: Path) -> Shard:
    """Stage 1 of one file (raises CaptureError for a file that is not a capture)."""
    with CaptureReader(path) as reader:
        record = _Record()
        fast = FastPath(signal_handler(record), vantages=2 if reader.pcapng else 1)
        fast.consume(reader)
        info = CaptureFile(reader.path, reader.size, reader.interfaces, reader.truncated)
    return Shard(info, fast.totals, fast.tunnels, fast.native, fast.first_time, fast.last_time, record.events)


def merge(shards: list[Shard], keys: list[KeyPair] | None = None, mn: str | None = None) -> Analysis:
    """Stage 2: the one run's Analysis of the files the shards were made of, in this order."""
    live = Live(keys or [])
    streams = [_renumbered(s.events, i) for i, s in enumerate(shards)]
    for event in heapq.merge(*streams, key=lambda e: e[1]):
        kind = event[0]
        if kind == "signal":
            _, now, ref, vantage, ip, sig = event
            live.signal(sig, ref, now, vantage, ip, ip[:7] + ip[8:])
        elif kind == "sighting":
            live.sighting(event[2], event[1])
        else:
            live.malformed(event[3], event[2], event[4], event[1])
    fast = FastPath(signal_handler(live))
    for s in shards:
        for f in fields(Totals):
            setattr(fast.totals, f.name, getattr(fast.totals, f.name) + getattr(s.totals, f.name))
    fast.tunnels = _tunnels(shards)
    fast.native = _native(shards)
    times = [s.first_time for s in shards if s.first_time is not None]
    fast.first_time = min(times) if times else None
    lasts = [s.last_time for s in shards if s.last_time is not None]
    fast.last_time = max(lasts) if lasts else None
    files = [CaptureFile(s.file.path, s.file.size, s.file.interfaces, s.file.truncated) for s in shards]
    cut = [s.file.truncated for s in shards if s.file.truncated]
    return finish(fast, live.recon, live.findings, files, keys or [], mn, cut)


def _renumbered(events: list[Event], index: int) -> Iterator[Event]:
    """File-local events as the ``index``-th file of the set (packets and capture points)."""
    base = index * VANTAGES_PER_FILE
    for e in events:
        if e[0] == "signal":
            yield ("signal", e[1], (index, e[2][1]), base + e[3], e[4], e[5])
        elif e[0] == "malformed":
            yield ("malformed", e[1], (index, e[2][1]), e[3], e[4])
        else:
            yield e


def _tunnels(shards: list[Shard]) -> dict[tuple[str, str, str, str], TunnelCount]:
    """Every file's tunnels, one count per stream, in order of first sight (file order on ties)."""
    order = sorted(((c.first, i, n, k) for i, s in enumerate(shards) for n, (k, c) in enumerate(s.tunnels.items())),
                   key=lambda t: t[:3])
    out: dict[tuple[str, str, str, str], TunnelCount] = {}
    for _first, i, _n, key in order:
        count = shards[i].tunnels[key]
        if key in out:
            out[key].add(count)
        else:
            out[key] = TunnelCount(count.packets, count.bytes, count.overhead, count.first, count.last, count.base,
                                   count.counts[:], count.starts[:])
    return out


def _native(shards: list[Shard]) -> dict[str, NativeCount]:
    order = sorted(((c.first, i, n, a) for i, s in enumerate(shards) for n, (a, c) in enumerate(s.native.items())),
                   key=lambda t: t[:3])
    out: dict[str, NativeCount] = {}
    for _first, i, _n, address in order:
        c = shards[i].native[address]
        if address not in out:
            out[address] = NativeCount(**asdict(c))
            continue
        total = out[address]
        total.sent_packets += c.sent_packets
        total.sent_bytes += c.sent_bytes
        total.received_packets += c.received_packets
        total.received_bytes += c.received_bytes
        total.first, total.last = min(total.first, c.first), max(total.last, c.last)
    return out


def analyze_set(paths: list[Path], jobs: int, keys: list[KeyPair] | None = None, mn: str | None = None) -> Analysis:
    """A capture set on ``jobs`` processes: stage 1 per file in a pool, stage 2 here."""
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        shards = list(pool.map(shard, paths))
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


def shard_to_json(s: Shard) -> dict[str, Any]:
    """``fama-analyze-shard/1``: a shard as plain JSON data."""
    def event(e: Event) -> list[Any]:
        if e[0] == "signal":
            return ["signal", e[1], list(e[2]), e[3], e[4].hex(), _signal_json(e[5])]
        if e[0] == "sighting":
            return ["sighting", e[1], e[2].hex()]
        return ["malformed", e[1], list(e[2]), e[3], e[4]]

    return {
        "schema": SHARD_SCHEMA,
        "file": {"path": str(s.file.path), "size": s.file.size, "truncated": s.file.truncated,
                 "interfaces": [asdict(i) for i in s.file.interfaces]},
        "totals": asdict(s.totals), "first_time": s.first_time, "last_time": s.last_time,
        "tunnels": [[list(k), {**asdict(c), "counts": list(c.counts), "starts": list(c.starts)}]
                    for k, c in s.tunnels.items()],
        "native": [[a, asdict(c)] for a, c in s.native.items()],
        "events": [event(e) for e in s.events],
    }


def shard_from_json(data: dict[str, Any], where: str = "shard") -> Shard:
    """A shard read back; ValueError when ``data`` is not a fama-analyze-shard/1 document."""
    if not isinstance(data, dict) or data.get("schema") != SHARD_SCHEMA:
        raise ValueError(f"{where}: not a {SHARD_SCHEMA} document")

    def event(e: list[Any]) -> Event:
        if e[0] == "signal":
            return ("signal", e[1], tuple(e[2]), e[3], bytes.fromhex(e[4]), _signal(e[5]))
        if e[0] == "sighting":
            return ("sighting", e[1], bytes.fromhex(e[2]))
        return ("malformed", e[1], tuple(e[2]), e[3], e[4])

    try:
        f = data["file"]
        info = CaptureFile(Path(f["path"]), f["size"], [Interface(**i) for i in f["interfaces"]], f["truncated"])
        tunnels = {}
        for key, c in data["tunnels"]:
            count = TunnelCount(**{**c, "counts": TunnelCount().counts, "starts": TunnelCount().starts})
            count.counts.extend(c["counts"])
            count.starts.extend(c["starts"])
            tunnels[(key[0], key[1], key[2], key[3])] = count
        return Shard(info, Totals(**data["totals"]), tunnels, {a: NativeCount(**c) for a, c in data["native"]},
                     data["first_time"], data["last_time"], [event(e) for e in data["events"]])
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ValueError(f"{where}: a damaged {SHARD_SCHEMA} document ({type(exc).__name__}: {exc})") from None


def write_shards(paths: list[Path], out: Path, jobs: int = 1) -> list[Path]:
    """Stage 1 of each file into ``out/<name>.shard.json`` (``jobs`` processes); their paths."""
    out.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        shards = list(pool.map(shard, paths))
    written = []
    for s in shards:
        target = out / f"{s.file.path.name}.shard.json"
        target.write_text(json.dumps(shard_to_json(s)) + "\n")
        written.append(target)
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
