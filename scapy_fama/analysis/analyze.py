"""The analysis of one or more captures: reader -> fast path -> signalling -> reconstruction.

Theory of operation
-------------------
::

    files --CaptureReader (one each; several merged by time)--> frames
          --FastPath--> data counted per tunnel and per address
                    \\--> signalling --read_signal--> Signal --Reconstruction.add--> bindings
    end of input --Reconstruction.finish--> MNs, handovers, findings ---------------+
                 --latency.breakdowns--> each handover step by step (the tunnels' starts) |
                 --ProxyReconstruction.finish--> PMIPv6 bindings, MAG-LMA tunnels --> Analysis

With ``index=True`` the Analysis also holds what every signalling packet became
(:class:`~scapy_fama.analysis.reconstruct.Sighting` by packet), for ``--annotate``.

A file that is not a capture raises :class:`~scapy_fama.analysis.reader.CaptureError`
before anything is analysed, unless it is ``lenient`` (found in a folder): then it is
read as a file cut short before its first frame. A file cut short is analysed up to the break and
gives a warning and a ``capture-truncated`` finding. A capture point in a link type the reader
does not read (802.11, Bluetooth, ...: outside ``READABLE_LINKS``) gives a warning and a
``link-type-not-read`` finding that name it and its frames, which are not analysed (counted as
``unread``, not as frames without IPv6); when there is such a capture point and no frame of the
input was at one the reader reads, nothing was analysed, and an Analysis would be a false
all-clear: :func:`finish` raises CaptureError, naming each capture point not read. A packet whose
signalling cannot be read (the layers raised on a fuzzed packet) becomes a
``malformed-packet`` finding: one bad packet never stops the analysis.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from scapy_fama.analysis.classify import (
    FastPath,
    NativeCount,
    PacketRef,
    SignalHandler,
    Totals,
    TunnelCount,
)
from scapy_fama.analysis.findings import Findings
from scapy_fama.analysis.latency import breakdowns
from scapy_fama.analysis.pmip import ProxyBinding
from scapy_fama.analysis.reader import (
    CaptureError,
    CaptureReader,
    Frame,
    Interface,
    not_read,
    open_at_once,
)
from scapy_fama.analysis.reconstruct import MobileNode, Reconstruction, Sighting
from scapy_fama.analysis.signalling import Signal, read_signal
from scapy_fama.crypto import KeyPair
from scapy_fama.wire import WireInfo


@dataclass
class CaptureFile:
    """One input file: name, size, capture points (each with its frames), where it was cut short."""

    path: Path
    size: int
    interfaces: list[Interface]
    truncated: str | None = None
    pcapng: bool = False  # its capture points are interfaces; a pcap file is its one capture point

    def not_read(self) -> list[str]:
        """A sentence for each capture point whose link type the reader does not read."""
        return [not_read(self.path.name, p, self.pcapng) for p in self.interfaces if not p.read]

    def warnings(self) -> list[str]:
        """What of this file was not analysed: where it was cut short, the capture points not read."""
        cut = [f"{self.truncated}: results up to the break"] if self.truncated is not None else []
        return cut + self.not_read()


@dataclass
class Analysis:
    """Everything ``fama-analyze`` reports."""

    files: list[CaptureFile]
    totals: Totals
    first_time: float | None
    last_time: float | None
    mns: list[MobileNode]
    findings: Findings
    signalling: dict[str, int]  # distinct packets per kind; RS: one per attachment (Reconstruction.counts)
    sightings: dict[str, int]  # with the copies seen at other capture points
    dars: dict[str, str]  # prefix -> DAR address (RAs with the R bit)
    native: dict[str, NativeCount]  # for the MNs' addresses
    other_tunnels: list[tuple[tuple[str, str, str, str], TunnelCount]]
    proxy: list[ProxyBinding] = field(default_factory=list)  # PMIPv6 (RFC 5213) mobile nodes
    proxy_tunnels: dict[tuple[str, str], tuple[TunnelCount, TunnelCount]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    keys: int = 0
    packets: dict[PacketRef, Sighting] | None = None  # with index=True: each signalling packet

    @property
    def partial(self) -> bool:
        """Part of the input was not analysed: a file cut short (or, found in a folder, no capture),
        or a capture point in a link type the reader does not read."""
        return any(f.truncated is not None or f.not_read() for f in self.files)


def load_keys(directory: Path) -> list[KeyPair]:
    """Every PEM private key in ``directory`` (``--keys``)."""
    if not directory.is_dir():
        raise ValueError(f"--keys {directory}: not a directory")
    keys = [KeyPair.load(p) for p in sorted(directory.glob("*.pem"))]
    if not keys:
        raise ValueError(f"--keys {directory}: no *.pem private key in it")
    return keys


def _merged(readers: list[CaptureReader]) -> Iterable[Frame]:
    if len(readers) == 1:
        return readers[0]
    return heapq.merge(*readers, key=lambda frame: frame[1])


def analyze(
    paths: list[Path],
    *,
    keys: list[KeyPair] | None = None,
    mn: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    index: bool = False,
    lenient: Collection[Path] = (),
) -> Analysis:
    """Analyse ``paths`` (pcap or pcapng); ``mn`` keeps the MN holding that address only.

    ``progress(done, total)`` is called now and then with bytes read and the total size;
    ``index`` keeps what each signalling packet became (``Analysis.packets``); the ``lenient``
    paths (found in a folder) that are no capture are a break (a warning), not an error.
    """
    open_at_once(len(paths))
    readers: list[CaptureReader] = []
    try:
        for i, path in enumerate(paths):
            readers.append(CaptureReader(path, file_index=i, lenient=path in lenient))
        return _run(readers, keys or [], mn, progress, index)
    finally:
        for r in readers:
            r.close()


def analyze_frames(frames: Iterable[Frame], *, keys: list[KeyPair] | None = None) -> Analysis:
    """Analyse frames that come from no file (``(number, time, IPv6 bytes, capture point, file)``)."""
    return finish(*_consume(frames, keys or [], vantages=1), [], keys or [], None)


class Sink(Protocol):
    """Where the signalling the fast path hands over goes: a reconstruction, or a shard's record."""

    def sighting(self, key: bytes, now: float, ref: PacketRef, vantage: int) -> None: ...

    def signal(self, sig: Signal, ref: PacketRef, now: float, vantage: int, ip: bytes, key: bytes) -> None: ...

    def malformed(self, message: str, ref: PacketRef, address: str, now: float) -> None: ...


class Live:
    """The sink of a run: signalling into the reconstruction, unreadable packets into findings."""

    def __init__(self, keys: list[KeyPair], *, index: bool = False) -> None:
        self.findings = Findings()
        self.recon = Reconstruction(self.findings, keys, index=index)
        self.sighting = self.recon.sighting
        self.signal = self.recon.add

    def malformed(self, message: str, ref: PacketRef, address: str, now: float) -> None:
        self.findings.add("malformed-packet", message, ref, address)


def signal_handler(sink: Sink) -> SignalHandler:
    """The fast path's handler: a copy seen elsewhere is a sighting, the rest is read and sunk."""

    def on_signal(ref: PacketRef, now: float, ip: bytes, info: WireInfo, vantage: int, again: bool) -> bool:
        key = ip[:7] + ip[8:]  # as the fast path's duplicate key: the hop limit aside
        if again:
            sink.sighting(key, now, ref, vantage)
            return True
        try:
            sig = read_signal(ip, info)
        except Exception as exc:  # noqa: BLE001  (a fuzzed packet the layers choke on: a finding, not a crash)
            sink.malformed(f"unreadable signalling: {type(exc).__name__}: {exc}", ref, info.src, now)
            return True
        if sig is None:
            return False
        sink.signal(sig, ref, now, vantage, ip, key)
        return True

    return on_signal


def _consume(
    frames: Iterable[Frame], keys: list[KeyPair], vantages: int, tick: Callable[[], None] | None = None,
    index: bool = False,
) -> tuple[FastPath, Reconstruction, Findings]:
    """The fast path over ``frames``, its signalling into a reconstruction."""
    live = Live(keys, index=index)
    fast = FastPath(signal_handler(live), vantages=vantages)
    fast.consume(frames, tick)
    return fast, live.recon, live.findings


def _run(
    readers: list[CaptureReader], keys: list[KeyPair], mn: str | None, progress: Callable[[int, int], None] | None,
    index: bool,
) -> Analysis:
    multi = len(readers) > 1 or any(r.pcapng for r in readers)
    total = sum(r.size for r in readers)
    tick = (lambda: progress(sum(r.position for r in readers), total)) if progress else None
    fast, recon, findings = _consume(_merged(readers), keys, 2 if multi else 1, tick, index)
    if progress is not None:
        progress(total, total)
    files = [CaptureFile(r.path, r.size, r.interfaces, r.truncated, r.pcapng) for r in readers]
    return finish(fast, recon, findings, files, keys, mn)


def finish(
    fast: FastPath, recon: Reconstruction, findings: Findings, files: list[CaptureFile], keys: list[KeyPair],
    mn: str | None,
) -> Analysis:
    """The reconstruction finished into the report's :class:`Analysis` of ``files``; CaptureError
    when one of their capture points is in a link type the reader does not read and no frame was
    at one it reads (nothing analysed)."""
    unread = [line for f in files for line in f.not_read()]
    if unread and not any(p.frames for f in files for p in f.interfaces if p.read):
        raise CaptureError("nothing analysed: " + "; ".join(unread))
    skipped = sum(p.frames for f in files for p in f.interfaces if not p.read)
    warnings = [line for f in files for line in f.warnings()]
    for f in files:
        if f.truncated is not None:
            findings.add("capture-truncated", f.truncated, None, None)
    for line in unread:
        findings.add("link-type-not-read", line, None, None)
    mns = recon.finish(fast.tunnels, fast.native)
    for node in mns:
        for handover, steps in zip(node.handovers, breakdowns(node, fast.tunnels)):
            handover.breakdown = steps
    proxy = recon.proxy.finish()
    proxy_tunnels = recon.proxy.tunnels(fast.tunnels)
    if mn is not None:
        mns = [m for m in mns if mn in m.addresses]
        findings.restrict({m.id for m in mns})
        if not mns:
            warnings.append(f"no MN holds {mn} in this capture")
    addresses = {a for m in mns for a in m.addresses}
    apart = recon.rs_apart  # identical RSs on other links: the copy test's duplicates, RSs of their own
    totals = replace(fast.totals, signalling=fast.totals.signalling + apart, duplicates=fast.totals.duplicates - apart,
                     other=fast.totals.other - skipped, unread=skipped)
    return Analysis(
        files=files,
        totals=totals,
        first_time=fast.first_time,
        last_time=fast.last_time,
        mns=mns,
        findings=findings,
        signalling=dict(recon.counts),
        sightings=dict(recon.sightings),
        dars=dict(recon.dars),
        native={a: c for a, c in fast.native.items() if a in addresses},
        other_tunnels=[(k, c) for k, c in recon.unmatched_tunnels(fast.tunnels)
                       if (k[0], k[1]) not in proxy_tunnels and (k[1], k[0]) not in proxy_tunnels],
        proxy=proxy,
        proxy_tunnels=proxy_tunnels,
        warnings=warnings,
        keys=len(keys),
        packets=recon.packets,
    )
