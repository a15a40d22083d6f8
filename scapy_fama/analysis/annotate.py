"""fama-analyze --annotate: the capture written back as pcapng, a comment on every signalling packet.

Theory of operation
-------------------
The analysis runs once with ``index=True`` and then knows, for every signalling packet (and
every copy of one seen at another capture point), what the packet became. This module turns
that into one comment per packet and writes every record of the input again::

    analyze(files, index=True).packets --comments()--> {packet: comment lines}
    files --CaptureReader.records()--> records (several files: merged by time, as analysed)
          --PcapngWriter--> an IDB per capture point, an EPB per record: the stored timestamp,
                            bytes and lengths, the record's own comments, then ours

Each line is a comment of its own (a pcapng packet may carry several; Wireshark shows each as
one item, where one long comment would be cut at 240 characters). The first starts with
"fama-analyze:" and names the message; the next say, as they apply: the binding (HoA @ DAR)
and its MN, the verdict and every check (framing, checksum, CGA, signature, PHKT, BAD:
"pass", "FAIL" or "not checked"), the answer and the BU->BA latency, and the findings that
name the packet (as in the fama-analyze/1 JSON, which lists a finding's first 50 packets). In
Wireshark, ``frame.comment contains "FAIL"`` shows every packet with a failed check,
``frame.comment contains "fama-analyze"`` every signalling packet.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from pathlib import Path

from scapy_fama.analysis.analyze import Analysis
from scapy_fama.analysis.classify import PacketRef
from scapy_fama.analysis.findings import Finding
from scapy_fama.analysis.pcapng import PcapngWriter
from scapy_fama.analysis.reader import CaptureReader, Record, open_at_once
from scapy_fama.analysis.pmip import ProxyExchange
from scapy_fama.analysis.reconstruct import AddressTest, Attachment, Exchange, Sighting
from scapy_fama.analysis.signalling import Signal
from scapy_fama.layers.mh import BA_STATUS

PHKT, BAD = 14, 5  # option types (RFC 4866 §5.3, RFC 6275 §6.2.7)
APPLICATION = "scapy-fama: fama-analyze --annotate"  # the section header's shb_userappl
CUT = "cut by the snap length: the bytes its signature or BAD covers are not all in the capture"


def output(path: Path, inputs: list[Path]) -> Path:
    """Check the --annotate path before any analysis: no input file (fama-analyze checks that it
    can be written)."""
    if path.exists() and any(p.exists() and path.samefile(p) for p in inputs):
        raise ValueError(f"--annotate {path}: is an input file, it would be overwritten")
    return path


class _Comments:
    """Comment lines of the packets of one analysis."""

    def __init__(self, analysis: Analysis) -> None:
        self.several = len(analysis.files) > 1
        self.mn_of = {a: m.id for m in analysis.mns for a in m.addresses}
        self.findings: dict[PacketRef, list[Finding]] = {}
        for finding in analysis.findings:
            for ref in finding.packets:
                self.findings.setdefault(ref, []).append(finding)

    def name(self, ref: PacketRef | None) -> str:
        if ref is None:
            return "-"
        return f"#{ref[1]}" if not self.several else f"{ref[0]}#{ref[1]}"

    def lines(self, ref: PacketRef, seen: Sighting) -> list[str]:
        sig, record = seen.signal, seen.record
        head = f"fama-analyze: {_head(sig)}"
        if seen.first is not None:
            head += f" (the same packet as {self.name(seen.first)}, at another capture point)"
        lines = [head]
        if isinstance(record, Exchange):
            lines += self._exchange(record, sig)
        elif isinstance(record, AddressTest):
            lines.append(self._test(record, sig))
        elif isinstance(record, ProxyExchange):
            lines.append(self._proxy(record, sig))
        elif isinstance(record, Attachment):
            lines.append(self._attachment(record, sig))
        elif sig.kind == "BA":
            lines.append("answers no BU seen in the capture")
        for finding in self.findings.get(seen.first or ref, []):
            lines.append(f"finding {finding.kind} ({finding.severity}): {finding.message}")
        return lines

    def _exchange(self, ex: Exchange, sig: Signal) -> list[str]:
        mn = self.mn_of.get(ex.hoa)
        lines = [f"binding {ex.hoa} @ {ex.dar}" + (f" of {mn}" if mn else "")]
        latency = f", BU->BA {ex.latency * 1000:.3f} ms" if ex.latency is not None else ""
        phkt = "; PHKT issued" if ex.phkt_issued else ""
        if sig.kind == "BU":
            kind = "de-registration" if ex.deregistration else "registration"
            lines.append(f"{kind}, auth {ex.auth}" + (", secure mode" if ex.secure else "")
                         + (f", retransmission {ex.retransmissions}" if ex.retransmissions else ""))
            absent = (CUT if sig.cut else "no CGA Parameters and no BAD" if ex.auth == "none"
                      else "the binding's PHKT is not known (--keys with the MN's key reads it from the BA)")
            lines.append(_verdict(ex.verdict, ex.verified, absent))
            if ex.ba is not None:
                lines.append(f"answered by BA {self.name(ex.ba)}: status {ex.status} "
                             f"({BA_STATUS.get(ex.status or 0, 'unassigned')}){latency}{phkt}")
            else:
                lines.append("no BA in the capture" if ex.ack else "no BA asked for (A flag clear)")
        else:
            lines.append(f"answers BU {self.name(ex.bu)} (seq {ex.seq}, auth {ex.auth}){latency}{phkt}")
            if sig.cut:
                absent = CUT
            elif PHKT in sig.options:
                absent = "the MN's key is not among --keys"
            elif BAD in sig.options:
                absent = "the binding's PHKT is not known (--keys with the MN's key reads it from the BA)"
            else:
                absent = "no PHKT and no BAD"
            lines.append(_verdict(ex.ba_verdict, ex.ba_verified, absent))
        return lines

    def _test(self, t: AddressTest, sig: Signal) -> str:
        what, init, reply = (("home test (RFC 6275 §5.2.5)", "HoTI", "HoT") if t.home
                             else ("care-of test (profile §5, RFC 6275 §5.2.5)", "CoTI", "CoT"))
        rtt = f" after {(t.reply_time - t.time) * 1000:.3f} ms" if t.reply_time is not None else ""
        if sig.kind == init:
            if t.reply is None:
                return f"{what}: no {reply} in the capture"
            return f"{what}: answered by {reply} {self.name(t.reply)}{rtt}, nonce index {t.index}"
        return f"{what}: answers {init} {self.name(t.init)}{rtt}, nonce index {t.index}"

    def _proxy(self, ex: ProxyExchange, sig: Signal) -> str:
        kind = "de-registration" if ex.deregistration else "registration"
        if sig.kind == "PBU":
            answer = (f"answered by PBA {self.name(ex.pba)}: status {ex.status}" if ex.pba is not None
                      else "no PBA in the capture")
            return f"PMIPv6 {kind} by MAG {ex.mag} (RFC 5213): {answer}"
        return f"PMIPv6: answers PBU {self.name(ex.pbu)} ({kind} by MAG {ex.mag}, seq {ex.seq})"

    def _attachment(self, a: Attachment, sig: Signal) -> str:
        if sig.kind == "RS":
            if a.ra is None:
                return "attachment: no RA answered it on this capture point"
            return f"attachment: answered by RA {self.name(a.ra)}, prefix {a.prefix}, DAR {a.dar}"
        return f"attachment: answers RS {self.name(a.rs)}, prefix {a.prefix}, DAR {a.dar}"


def _head(sig: Signal) -> str:
    what = sig.kind
    if sig.kind == "BU":
        what += f" seq {sig.seq}"
    elif sig.kind == "BA":
        what += f" status {sig.status} ({BA_STATUS.get(sig.status or 0, 'unassigned')}) seq {sig.seq}"
    elif sig.status is not None:
        what += f" status {sig.status}"
    what += f" {sig.src} -> {sig.dst}"
    if sig.hoa is not None and sig.kind in ("BU", "BA"):
        what += f" for {sig.hoa}"
    if sig.kind == "RA" and sig.prefix is not None:
        what += f", prefix {sig.prefix}" + (f", DAR {sig.dar}" if sig.dar else "")
    if sig.kind == "DAD":
        what += f", probing {sig.prefix}"
    return what


def _verdict(verdict: dict[str, object] | None, result: bool | None, absent: str) -> str:
    """``verdict: VERIFIED|FAILED|not checked (check result, ...)``; details of checks not passed."""
    if verdict is None:
        return f"verdict: none ({absent})"
    word = {True: "VERIFIED", False: "FAILED", None: "not checked"}[result]
    checks = []
    for check in verdict["checks"]:  # type: ignore[attr-defined]
        text = f"{check['name']} {check['result']}"
        checks.append(text if check["result"] == "pass" else f"{text}: {check['detail']}")
    return f"verdict: {word} ({'; '.join(checks)})"


def comments(analysis: Analysis) -> dict[PacketRef, list[str]]:
    """The comment lines of every signalling packet of an analysis made with ``index=True``."""
    if analysis.packets is None:
        raise ValueError("the analysis was made without index=True: it knows no packets to annotate")
    text = _Comments(analysis)
    return {ref: text.lines(ref, seen) for ref, seen in analysis.packets.items()}


def _tagged(file_index: int, reader: CaptureReader) -> Iterator[tuple[int, Record]]:
    for record in reader.records():
        yield file_index, record


def _records(readers: list[CaptureReader]) -> Iterator[tuple[int, Record]]:
    """(file index, record) of every file; several files merged by time as the analysis merged them."""
    streams = [_tagged(i, reader) for i, reader in enumerate(readers)]
    if len(streams) == 1:
        return streams[0]
    return heapq.merge(*streams, key=lambda item: item[1][2] * readers[item[0]].interfaces[item[1][1]].resolution)


def write(analysis: Analysis, out: Path) -> int:
    """Write the analysed capture to ``out`` as pcapng with the comments; returns how many packets got one."""
    notes = comments(analysis)
    open_at_once(len(analysis.files))
    readers = [CaptureReader(f.path, file_index=i, lenient=True)  # each read once already
               for i, f in enumerate(analysis.files)]
    written = 0
    try:
        with out.open("wb") as stream:
            writer = PcapngWriter(stream, APPLICATION)
            ids: dict[tuple[int, int], int] = {}
            for file_index, (number, iface, ticks, data, wirelen, own, flags) in _records(readers):
                if (file_index, iface) not in ids:
                    info = readers[file_index].interfaces[iface]
                    ids[(file_index, iface)] = writer.interface(info.linktype, info.snaplen, info.name, info.tsresol)
                note = notes.get((file_index, number), [])
                writer.packet(ids[(file_index, iface)], ticks, data, wirelen, [*own, *note], flags)
                written += bool(note)
    finally:
        for reader in readers:
            reader.close()
    return written
