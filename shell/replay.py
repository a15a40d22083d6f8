"""Replay the handover signalling of a capture against a DAR: as it was, or re-signed.

Theory of operation
-------------------
:func:`read_capture` takes the BUs and BAs of a pcap (ours, e.g. written by
``save()``, or another tool's: IPv6 is found behind any link layer), once each
however many links they crossed, in time order. The *conversation* is one
DAR's: the BUs sent to it and the BAs it sent (the DAR of the first BU unless
``dar=`` names another). Its chart is the original; the replay plays its BUs
one by one against the target and charts what comes back::

    as-is      the captured bytes, unchanged (sequence numbers, signatures, CGAs of the
               capture), sent from a host on the target's access link (an attacker next
               to the DAR): a DAR that holds the binding answers 135 (RFC 6275 §9.5.1),
               one that cannot check it drops it or refuses it (132 other prefix, 147 no
               PHKT, 148 CGA/signature over other addresses); the result says which
    re-signed  the same logical handover on the target topology: a fresh RSA key, the HoA
               re-made as a CGA of the target's prefix, each CoA prefix of the capture mapped
               onto another DAR (a host there holds the new CoA), sequence numbers from a
               fresh start with the capture's steps, the first BU CGA-signed, later ones
               with the PHKT the target returned (decrypted with the fresh key)

    original (capture)            replay (against dar1, re-signed)
    mn ── BU cga+sig ──▶ dar      replay1-dar2 ── BU cga+sig ──▶ dar1
    mn ◀── BA 0 phkt ─── dar      replay1-dar2 ◀── BA 0 phkt ─── dar1
    ...                           same (type, status) sequence: reproduced

On a real interface (``iface=``) the as-is mode sends the captured packets with
Scapy's ``sr1`` and shows the answers; the re-signed mode needs a care-of
address that routes back to this host, which only the lab can provide, so it
is refused there with a clear message.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from fama_shell.msc import TYPE_NAMES, Msc, MscRow, label, status_of
from fama_shell.views import View
from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text
from scapy.layers.inet6 import MIP6MH_BA, MIP6MH_BU, IPv6
from scapy.packet import Packet
from scapy.sendrecv import sr1
from scapy.utils import RawPcapReader, rdpcap

from scapy_fama.codec import decode
from scapy_fama.craft import find_mh, first_bu, phkt_bu
from scapy_fama.crypto import (
    KeyPair,
    address_sec,
    cga_generate,
    cga_with_prefix,
    decrypt_phkt,
    prefix64,
)
from scapy_fama.layers import PHKTOpt
from scapy_fama.layers.headers import mh_context
from scapy_fama.net.sim_topology import LINKTYPE_RAW, DarNode, HostNode
from scapy_fama.proto.messages import BindingAck, BindingUpdate
from scapy_fama.wire import parse

if TYPE_CHECKING:  # the session imports this module to offer replay() as a method
    from fama_shell.session import Session

MODES = ("as-is", "re-sign")
WAIT = 1.0  # virtual (SimNet) or wall-clock (interface) seconds to wait for each BU's answer
SEQ_SPACE = 1 << 16
BU_TYPE, BA_TYPE = 5, 6  # Mobility Header types (RFC 6275 §6.1)
SIDE_BY_SIDE = 150  # columns from which the two charts stand side by side


@dataclass(frozen=True)
class Captured:
    """A BU or BA read from a capture."""

    time: float
    raw: bytes
    msg: BindingUpdate | BindingAck


class CaptureNames:
    """Names for a capture's addresses: its DAR, the home addresses and the CoAs in order."""

    def __init__(self, dar: str) -> None:
        self.names = {dar: "dar"}

    def add(self, address: str, role: str) -> None:
        if address not in self.names:
            count = sum(1 for n in self.names.values() if n.startswith(role))
            self.names[address] = f"{role}{count + 1}"

    def __call__(self, address: str | None) -> str:
        return "-" if address is None else self.names.get(address, address)


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(path.glob("*.pcap"))
        if not files:
            raise ValueError(f"no .pcap file in {path}")
        return files
    if not path.is_file():
        raise ValueError(f"no capture {path}")
    return [path]


def _packets(file: Path) -> Iterator[tuple[float, bytes]]:
    """(time, IPv6 bytes) of every IPv6 packet of a pcap: raw-IPv6 pcaps (ours) read without
    dissection, anything else (Ethernet, pcapng) through Scapy."""
    try:
        with RawPcapReader(str(file)) as reader:
            if type(reader) is RawPcapReader and reader.linktype == LINKTYPE_RAW:
                for raw, meta in reader:
                    yield meta.sec + meta.usec / 1e6, raw
                return
        packets = rdpcap(str(file))
    except (OSError, EOFError, ValueError) as exc:  # Scapy says "Not a supported capture file"
        raise ValueError(f"{file}: not a readable pcap ({exc})") from None
    for pkt in packets:
        if IPv6 in pkt:
            yield float(pkt.time), bytes(pkt[IPv6])


def mh_type(raw: bytes) -> int | None:
    """The Mobility Header type of an IPv6 packet (None: it carries none), without Scapy."""
    info = parse(raw)
    return info.mh.mhtype if info is not None and info.mh is not None else None


def read_capture(path: str | Path) -> list[Captured]:
    """The BUs and BAs of a pcap (or of every pcap in a folder), once each, in time order."""
    seen: dict[bytes, float] = {}
    for file in _files(Path(path)):
        for when, raw in _packets(file):
            if mh_type(raw) in (BU_TYPE, BA_TYPE):
                seen.setdefault(raw, when)
    out = []
    for raw, when in sorted(seen.items(), key=lambda item: item[1]):
        msg = decode(raw)
        if not isinstance(msg, (BindingUpdate, BindingAck)):
            msg = _lenient(raw)
        if msg is not None:
            out.append(Captured(when, raw, msg))
    return out


def _lenient(raw: bytes) -> BindingUpdate | BindingAck | None:
    """A BU or BA the codec refused (another tool's: checksum 0, odd Header Len), read by the
    Scapy layers for its logical content only, so that a re-signed replay can reproduce it."""
    mh = find_mh(IPv6(raw))
    ctx = mh_context(mh) if isinstance(mh, (MIP6MH_BU, MIP6MH_BA)) else None
    if ctx is None:
        return None
    why = ("read leniently: the codec refused it (profile §6 step 1)",)
    if isinstance(mh, MIP6MH_BU):
        return BindingUpdate(
            ctx.ip.src, ctx.ip.dst, ctx.hao, int(mh.seq), int(mh.mhtime), framing=why
        )
    return BindingAck(
        ctx.ip.src, ctx.ip.dst, ctx.dst, int(mh.status), int(mh.seq), int(mh.mhtime), framing=why
    )


def conversation(captured: list[Captured], dar: str | None = None) -> tuple[str, list[Captured]]:
    """(DAR address, the BUs to it and the BAs from it); the DAR of the first BU by default."""
    bus = [c for c in captured if isinstance(c.msg, BindingUpdate)]
    if not bus:
        raise ValueError("the capture holds no Binding Update to replay")
    address = dar or bus[0].msg.dst
    talk = [
        c
        for c in captured
        if (isinstance(c.msg, BindingUpdate) and c.msg.dst == address)
        or (isinstance(c.msg, BindingAck) and c.msg.src == address)
    ]
    if not any(isinstance(c.msg, BindingUpdate) for c in talk):
        raise ValueError(f"the capture holds no BU to {address}")
    return address, talk


def original_chart(path: str | Path, dar: str, talk: list[Captured]) -> Msc:
    names = CaptureNames(dar)
    for c in talk:
        if isinstance(c.msg, BindingUpdate):
            names.add(c.msg.home_address, "hoa")
            names.add(c.msg.src, "coa")
    start = talk[0].time
    rows = [
        MscRow(
            c.time - start,
            "mn" if isinstance(c.msg, BindingUpdate) else "dar",
            "dar" if isinstance(c.msg, BindingUpdate) else "mn",
            label(c.msg, names),
            "BU" if isinstance(c.msg, BindingUpdate) else "BA",
            status_of(c.msg),
        )
        for c in talk
    ]
    return Msc(f"original: {Path(path).name}, DAR {dar}", ["mn", "dar"], rows)


@dataclass
class ReplayResult(View):
    """The original conversation and the replay, side by side, and what the target did."""

    pcap: str
    target: str
    mode: str
    original: Msc
    replayed: Msc
    outcome: list[str] = field(default_factory=list)

    @property
    def same(self) -> bool:
        """The replay gave the same sequence of (message type, status) as the capture."""
        return self.original.sequence() == self.replayed.sequence()

    @property
    def accepted(self) -> bool:
        """The target accepted at least one replayed BU (a BA below 128)."""
        return any(t == "BA" and s is not None and s < 128 for t, s in self.replayed.sequence())

    @property
    def verdict(self) -> str:
        if self.mode == "as-is":
            if self.accepted:
                return (
                    "ACCEPTED: the target took replayed bytes (it held no record of this binding)"
                )
            return "refused: the target answered every replayed BU with an error or dropped it"
        return (
            "reproduced: same (type, status) sequence"
            if self.same
            else "NOT reproduced: the sequences differ"
        )

    def __rich__(self) -> ReplayResult:
        return self

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        good = (not self.accepted) if self.mode == "as-is" else self.same
        yield Text(f"replay of {self.pcap} against {self.target}, {self.mode}", "bold")
        if options.max_width >= SIDE_BY_SIDE:
            side = Table(box=None, show_header=False, padding=(0, 2), expand=True)
            side.add_column(ratio=2)
            side.add_column(ratio=3)
            side.add_row(self.original, self.replayed)
            yield side
        else:  # too narrow for two charts side by side: one above the other
            yield self.original
            yield self.replayed
        for line in self.outcome:
            yield Text(f"  {line}")
        yield Text(self.verdict, "bold green" if good else "bold red")


def _replay_rows(session: Session, since: float, target: DarNode, hosts: set[str]) -> list[MscRow]:
    """The messages of the replay: from its hosts to the target, and the target's answers."""
    chart = session.msc(since=since)
    return [
        r
        for r in chart.messages()
        if (r.src in hosts and r.dst == target.name)
        or (r.src == target.name and r.mtype in ("BA", "BE"))
    ]


def _as_is(
    session: Session, target: DarNode, talk: list[Captured], wait: float
) -> tuple[list[MscRow], list[str]]:
    probe = session.probe(target)
    start, lines = session.net.now, []
    for c in talk:
        if not isinstance(c.msg, BindingUpdate):
            continue
        seen = len(session.net.events)
        session.net.inject(probe, c.raw)
        session.advance(wait)
        reaction, _ = session.reaction(target, seen)
        lines.append(f"BU seq {c.msg.seq}: " + ("; ".join(reaction) or "no answer"))
    return _replay_rows(session, start, target, {probe.name}), lines


class _Resigner:
    """Maps a capture's conversation onto the topology with a fresh key (see the module doc)."""

    def __init__(self, session: Session, target: DarNode, talk: list[Captured]) -> None:
        self.session = session
        self.target = target
        bus = [c.msg for c in talk if isinstance(c.msg, BindingUpdate)]
        self.key = KeyPair.generate(1024)
        sec = min(address_sec(bus[0].home_address), 1)  # Sec > 1 would take minutes
        self.hoa = cga_generate(target.prefix, self.key, sec, modifier=os.urandom(16), workers=1)
        session.alias.extra[self.hoa.address] = f"replay@{target.name}"
        self.others = [
            n for n in session.net.nodes.values() if isinstance(n, DarNode) and n is not target
        ]
        self.coas: dict[bytes, HostNode] = {}  # capture's CoA prefix -> host holding the new CoA
        self.base = int.from_bytes(os.urandom(2), "big")
        self.first_seq = bus[0].seq
        self.phkt: bytes | None = None

    def host(self, bu: BindingUpdate) -> HostNode:
        """The host that sends the replayed BU: the new CoA on the DAR its prefix maps to."""
        from_home = bu.hoa is None
        key = prefix64(bu.home_address) if from_home else prefix64(bu.src)
        if key not in self.coas:
            if from_home:
                dar, address = self.target, self.hoa.address
            else:
                taken = len([h for k, h in self.coas.items() if h.link is not self.target.access])
                if not self.others:
                    raise ValueError(
                        "a re-signed replay needs a second DAR to hold the care-of address"
                    )
                dar = self.others[taken % len(self.others)]
                address = cga_with_prefix(self.hoa, dar.prefix).address
            name = f"replay{len(self.session.helpers) + 1}-{dar.name}"
            self.session.net.add_cn(name, address, on=dar)
            self.session.helpers.add(name)
            self.coas[key] = self.session.host(name)
        return self.coas[key]

    def bu(self, captured: BindingUpdate, host: HostNode) -> tuple[Packet, str]:
        seq = (self.base + captured.seq - self.first_seq) % SEQ_SPACE
        coa, dar, lifetime = host.address, self.target.address, captured.lifetime
        if captured.cga_params is not None or self.phkt is None:
            why = "" if captured.cga_params is not None else " (no PHKT yet: CGA-signed instead)"
            pkt = first_bu(coa, self.hoa.address, dar, seq, lifetime, self.key, self.hoa.params)
            return pkt, f"BU seq {seq} CGA-signed with a fresh key{why}"
        return phkt_bu(
            coa, self.hoa.address, dar, seq, lifetime, self.phkt
        ), f"BU seq {seq} with the PHKT"

    def learn(self, replies: list[Packet]) -> None:
        """Keep the PHKT of a BA that carries one."""
        for reply in replies:
            mh = find_mh(reply)
            opt = next((o for o in getattr(mh, "options", []) if isinstance(o, PHKTOpt)), None)
            if opt is not None:
                self.phkt = decrypt_phkt(self.key, bytes(opt.phkt))


def _resigned(
    session: Session, target: DarNode, talk: list[Captured], wait: float
) -> tuple[list[MscRow], list[str]]:
    resign = _Resigner(session, target, talk)
    start = session.net.now
    lines = [
        f"fresh RSA-1024 key; HoA {resign.hoa.address} (Sec {resign.hoa.sec}) at {target.name}"
    ]
    for c in talk:
        if not isinstance(c.msg, BindingUpdate):
            continue
        host = resign.host(c.msg)
        pkt, what = resign.bu(c.msg, host)
        seen = len(session.net.events)
        session.net.inject(host, bytes(pkt))
        session.advance(wait)
        reaction, replies = session.reaction(target, seen)
        resign.learn(replies)
        lines.append(f"{what} from {host.name}: " + ("; ".join(reaction) or "no answer"))
    return _replay_rows(session, start, target, {h.name for h in resign.coas.values()}), lines


def _on_iface(
    path: str, target: str, iface: str, mode: str, talk: list[Captured], wait: float
) -> tuple[list[MscRow], list[str]]:
    if mode != "as-is":
        raise ValueError(
            "a re-signed replay on a real interface needs a care-of address that routes back here "
            "(the lab's job, not in this release): replay re-signed on SimNet, or as-is here"
        )
    rows, lines = [], []
    for c in talk:
        if not isinstance(c.msg, BindingUpdate):
            continue
        pkt = IPv6(c.raw)
        rows.append(MscRow(c.time, "here", target, f"BU {c.msg.seq} (as captured)", "BU"))
        answer = sr1(pkt, iface=iface, timeout=wait, verbose=0)
        if answer is None:
            lines.append(f"BU seq {c.msg.seq}: no answer within {wait:g} s (dropped, or lost)")
            continue
        msg = decode(answer)
        kind = TYPE_NAMES.get(type(msg), type(msg).__name__)
        rows.append(
            MscRow(c.time, target, "here", label(msg, lambda a: a or "-"), kind, status_of(msg))
        )
        lines.append(f"BU seq {c.msg.seq}: {answer.summary()}")
    return rows, lines


def replay(
    session: Session,
    pcap: str | Path,
    target: DarNode | str,
    mode: str = "as-is",
    *,
    dar: str | None = None,
    iface: str | None = None,
    wait: float = WAIT,
) -> ReplayResult:
    """Play the BUs of ``pcap``'s conversation with one DAR against ``target`` (see the module doc).

    ``target`` is a DAR of the session, or with ``iface`` the address of a real one;
    ``dar`` picks the capture's DAR (its address) when the capture talks to several.
    """
    if mode not in MODES:
        raise ValueError(f"mode is one of {', '.join(MODES)}, not {mode!r}")
    dar_address, talk = conversation(read_capture(pcap), dar)
    original = original_chart(pcap, dar_address, talk)
    if iface is not None:
        name = target if isinstance(target, str) else target.address
        rows, lines = _on_iface(str(pcap), name, iface, mode, talk, wait)
        chart = Msc(f"replay on {iface} against {name}, {mode}", ["here", name], rows)
        return ReplayResult(str(pcap), name, mode, original, chart, lines)
    node = session.dar(target)
    start = session.net.now
    rows, lines = (_as_is if mode == "as-is" else _resigned)(session, node, talk, wait)
    nodes = list(dict.fromkeys([node.name] + [n for r in rows for n in (r.src, r.dst or "")]))
    chart = Msc(f"replay against {node.name} ({mode}), t = {start:.3f} s", nodes, rows)
    session.notes.append(
        MscRow(
            start,
            node.name,
            None,
            f"replay of {Path(pcap).name} ({mode}) against {node.name}",
            move=True,
        )
    )
    return ReplayResult(str(pcap), node.name, mode, original, chart, lines)
