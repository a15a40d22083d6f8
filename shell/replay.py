"""Replay the handover signalling of a capture against a DAR: as it was, or re-signed.

Theory of operation
-------------------
:func:`read_capture` takes the BUs and BAs of a capture or a folder of them (ours,
e.g. written by ``save()``, or another tool's), in time order, read as
fama-analyze reads them: the same files of a folder, the same reader (IPv6 behind
any link layer), and one rule for copies (:class:`scapy_fama.analysis.classify.Sightings`:
a packet seen again at another capture point within a second is the same
transmission, counted once; sent again, as in a replay attack, it is another; a file cut short
or damaged is read up to the break, one of a folder that is no capture skipped, and so are the
capture points in a link type the reader does not read (named as fama-analyze names them, with
their frames): each a warning line of the result, and of the error when nothing is left to
replay). The *conversation* is one
DAR's: the BUs sent to it and the BAs it sent (the DAR of the first BU unless
``dar=`` names another). Its chart is the original; the replay plays its BUs
one by one against the target and charts what comes back::

    as-is      the captured bytes, unchanged (sequence numbers, signatures, CGAs of the
               capture), sent from a host on the target's access link (an attacker next
               to the DAR): a DAR that holds the binding answers 135 (RFC 6275 §9.5.1;
               a BU newer than what it holds is taken: the one freshness check),
               one that cannot check it drops it or refuses it (132 other prefix, 147 no
               PHKT, 148 CGA/signature over other addresses); the result says which.
               The BUs keep the capture's destination: against another DAR they are not
               the target's (it forwards them, or cannot), and the verdict says so
    re-signed  the same logical handover on the target topology: each home address of the
               capture is its own identity (a fresh RSA key, sequence numbers from a fresh
               start with the capture's steps, the PHKT the target returns to it), re-made
               as a CGA of the target's prefix when it was of the captured DAR's, else of
               another DAR's (so a BU the DAR refused with 132 is refused again); each CoA
               prefix of the capture mapped onto another DAR (a host there holds the new
               CoA); the first BU of an identity CGA-signed, later ones with its PHKT; a
               CGA-signed BU whose CGA or signature fails in the capture (a forgery) signed
               with a key that is not the identity's, so that it fails again (148)
               A capture with Proxy BUs (RFC 5213: a MAG registering an MN by its
               identifier, ordered by Timestamp, often all seq 0) has no MN's own
               handover to re-make: re-signing it is refused, as-is replays it

    original (capture)            replay (against dar1, re-signed)
    mn ── BU cga+sig ──▶ dar      replay1-dar2 ── BU cga+sig ──▶ dar1
    mn ◀── BA 0 phkt ─── dar      replay1-dar2 ◀── BA 0 phkt ─── dar1
    ...                           same (type, status) sequence: reproduced, else
                                  the first message that differs is named

On a real interface (``iface=``, ``target`` the DAR's address) the DAR's MAC is
resolved with a Neighbour Solicitation, each BU goes out with Scapy's ``srp``
and the answer is charted. As-is sends the captured bytes.
Re-signed makes the HoA a CGA of the target address's /64 and sends from
``coa=``: addresses of this host (one per CoA prefix of the capture, or one for
all) that the target's network routes back to the interface, since that is
where the DAR sends its BA. A BU the capture sent from home cannot be re-signed
there (this host would have to answer ND for the new HoA on the DAR's link).
"""

from __future__ import annotations

import os
from itertools import zip_longest
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from fama_shell.base import duration
from fama_shell.msc import TYPE_NAMES, Msc, MscRow, label, status_of
from fama_shell.views import View
from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Packet
from scapy.arch import get_if_hwaddr
from scapy.sendrecv import srp

from scapy_fama.analysis.batch import capture_set
from scapy_fama.analysis.classify import Sightings
from scapy_fama.analysis.pmip import read_proxy
from scapy_fama.analysis.reader import CaptureReader, not_read
from scapy_fama.analysis.signalling import read_signal
from scapy_fama.codec import decode
from scapy_fama.craft import first_bu, phkt_bu
from scapy_fama.crypto import (
    Cga,
    KeyPair,
    address_sec,
    addr_bytes,
    addr_text,
    cga_generate,
    cga_with_prefix,
    decrypt_phkt,
    prefix64,
)
from scapy_fama.net.iface import resolve_mac
from scapy_fama.net.sim_topology import DarNode, HostNode
from scapy_fama.proto.messages import BindingAck, BindingUpdate
from scapy_fama.proto.seqno import seq_add
from scapy_fama.verify import verify_bu
from scapy_fama.wire import parse
from scapy_fama.wire.numbers import BA, BU

if TYPE_CHECKING:  # the session imports this module to offer replay() as a method
    from fama_shell.session import Session

MODES = ("as-is", "re-sign")
WAIT = 1.0  # virtual (SimNet) or wall-clock (interface) seconds to wait for each BU's answer
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


def mh_type(raw: bytes) -> int | None:
    """The Mobility Header type of an IPv6 packet (None: it carries none), without Scapy."""
    info = parse(raw)
    return info.mh.mhtype if info is not None and info.mh is not None else None


def _proxy(raw: bytes) -> bool:
    """A Proxy BU: the P flag or proxy options, RFC 5213's or pmip6d's, as fama-analyze tells them."""
    info = parse(raw)
    return info is not None and info.mh is not None and read_proxy(raw, info) is not None


def read_capture(path: str | Path, warn: Callable[[str], None] | None = None) -> list[Captured]:
    """The BUs and BAs of a capture (or of the captures of a folder), each transmission once,
    in time order (see the module doc). ValueError for what is not a capture. A file cut short
    or damaged gives what it holds up to the break, and so does a file of a folder that is no
    capture (read leniently, as fama-analyze reads one): ``warn`` is told where each broke, and
    of each capture point in a link type the reader does not read (its frames skipped). An empty
    path is no capture."""
    if not os.fspath(path):  # Path("") is ".": the folder this shell runs in
        raise ValueError("an empty path names no capture: name a capture or a folder of them")
    signalling: list[tuple[float, int, bytes]] = []
    files, lenient = capture_set([Path(path)])
    for index, file in enumerate(files):
        frames = 0
        with CaptureReader(file, index, lenient=file in lenient) as reader:
            for _, when, ip, vantage, _ in reader:
                frames += 1
                if ip is not None and mh_type(ip) in (BU, BA):
                    signalling.append((when, vantage, ip))
        if warn is None:
            continue
        if reader.truncated is not None:
            warn(f"{reader.truncated}: " + ("its frames up to the break are read" if frames else "skipped"))
        for point in reader.interfaces:
            if not point.read:
                warn(not_read(file.name, point, reader.pcapng))
    sightings, out = Sightings(), []
    for when, vantage, raw in sorted(signalling, key=lambda s: s[0]):
        if sightings.earlier(raw, when, vantage) is not None:
            continue
        # another tool's BU or BA may break profile §6 step 1 (ns-3: checksum 0): read it
        # leniently, for its content, so that a re-signed replay can reproduce it
        msg = decode(raw, lenient=True)
        if isinstance(msg, (BindingUpdate, BindingAck)):
            out.append(Captured(when, raw, _home_after_mh(msg, raw)))
    return out


def _home_after_mh(msg: BindingUpdate | BindingAck, raw: bytes) -> BindingUpdate | BindingAck:
    """``msg`` with the home address of a HAO (or RH2) placed after the Mobility Header, as ns-3
    writes them (RFC 6275 §6.3, §6.4: before it), read as fama-analyze reads it
    (:func:`scapy_fama.analysis.signalling.read_signal`): both tools see the same binding."""
    if msg.hoa is not None:
        return msg
    info = parse(raw)
    sig = read_signal(raw, info) if info is not None else None
    return replace(msg, hoa=sig.hoa) if sig is not None and sig.hoa is not None else msg


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
    elsewhere: str | None = None  # as-is: the capture's DAR, when its BUs are not the target's
    cut: list[str] = field(default_factory=list)  # where the capture's files broke off, what was skipped (read_capture)

    @property
    def same(self) -> bool:
        """The replay gave the same sequence of (message type, status) as the capture."""
        return self.original.sequence() == self.replayed.sequence()

    @property
    def taken(self) -> int:
        """How many replayed BUs the target accepted (a BA below 128)."""
        return sum(1 for t, s in self.replayed.sequence() if t == "BA" and s is not None and s < 128)

    @property
    def accepted(self) -> bool:
        """The target accepted at least one replayed BU."""
        return self.taken > 0

    @property
    def answered(self) -> bool:
        """Some answer to a replayed BU (BA or BE) was seen."""
        return any(t in ("BA", "BE") for t, _ in self.replayed.sequence())

    @property
    def verdict(self) -> str:
        if self.mode == "as-is":
            if self.elsewhere is not None:
                return (
                    f"not a test of {self.target}: as-is keeps the capture's destination, "
                    f"{self.elsewhere}, so no BU was for it; mode='re-sign' plays the handover against it"
                )
            if self.accepted:
                return (
                    f"ACCEPTED: the target took {self.taken} replayed BU(s): it held no record of the binding, "
                    "or only an older sequence number (the one freshness check, RFC 6275 §9.5.1)"
                )
            if not self.answered:
                return (
                    "no answer reached this host: the target dropped the BUs, or answered the "
                    "captured care-of addresses where this host does not see it"
                )
            return "refused: the target answered every replayed BU with an error or dropped it"
        if self.same:
            return "reproduced: same (type, status) sequence"
        steps = zip_longest(self.original.sequence(), self.replayed.sequence())
        at, (was, now) = next((i, pair) for i, pair in enumerate(steps, 1) if pair[0] != pair[1])
        return f"NOT reproduced: the sequences differ at message {at}: the capture's {_step(was)}, the replay's {_step(now)}"

    def __rich__(self) -> ReplayResult:
        return self

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        good = (not self.accepted and self.answered) if self.mode == "as-is" else self.same
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
        for where in self.cut:
            yield Text(f"warning: {where}", "yellow")
        yield Text(self.verdict, "bold green" if good else "bold red")


def _step(step: tuple[str, int | None] | None) -> str:
    """A message of a (type, status) sequence in words."""
    if step is None:
        return "nothing"
    kind, status = step
    return kind if status is None else f"{kind} {status}"


def _replay_rows(session: Session, since: float, target: DarNode, hosts: set[str]) -> list[MscRow]:
    """The messages of the replay: from its hosts to the target, and the target's answers."""
    chart = session.msc(since=since)
    return [
        r
        for r in chart.messages()
        if (r.src in hosts and r.dst == target.name)
        or (r.src == target.name and r.mtype in ("BA", "BE"))
    ]


def _answered(session: Session, wait: float, done: int, total: int) -> None:
    """The clock run ``wait`` after the replay's ``done``-th BU of ``total``. A Ctrl-C then stops
    it there (the net is whole, run() goes on), and says the capture's later BUs were not sent."""
    try:
        session.advance(wait)
    except KeyboardInterrupt as stop:
        if done == total:
            raise
        raise KeyboardInterrupt(
            f"{stop}; the replay stopped after BU {done} of {total}, {total - done} not sent"
        ) from None


def _bus(talk: list[Captured]) -> int:
    return sum(isinstance(c.msg, BindingUpdate) for c in talk)


def _as_is(
    session: Session, target: DarNode, talk: list[Captured], wait: float
) -> tuple[list[MscRow], list[str]]:
    probe = session.probe(target)
    start, lines, total = session.net.now, [], _bus(talk)
    for c in talk:
        if not isinstance(c.msg, BindingUpdate):
            continue
        seen = len(session.net.events)
        session.net.inject(probe, c.raw)
        _answered(session, wait, len(lines) + 1, total)
        reaction, _ = session.reaction(target, seen)
        lines.append(f"BU seq {c.msg.seq}: " + ("; ".join(reaction) or "no answer"))
    return _replay_rows(session, start, target, {probe.name}), lines


@dataclass
class _Identity:
    """One home address of the capture, re-made: its key, CGA, sequence numbers and PHKT."""

    key: KeyPair
    cga: Cga
    base: int  # the replay's first sequence number
    first_seq: int  # the capture's
    phkt: bytes | None = None


class _Resigner:
    """A capture's conversation re-made for a target (see the module doc): one identity per
    home address; the captured DAR's prefix becomes the target's, any other the prefix
    ``elsewhere`` gives for that BU. Where the CoAs come from is the caller's."""

    def __init__(self, dar: str, prefix: str | bytes, elsewhere: Callable[[BindingUpdate], str | bytes]) -> None:
        self.home, self.prefix, self.elsewhere = prefix64(dar), prefix, elsewhere
        self.identities: dict[str, _Identity] = {}
        self.made: list[str] = []  # what each new identity is, for the result

    def identity(self, bu: BindingUpdate) -> _Identity:
        found = self.identities.get(bu.home_address)
        if found is None:
            prefix = self.prefix if prefix64(bu.home_address) == self.home else self.elsewhere(bu)
            key = KeyPair.generate(1024)
            sec = min(address_sec(bu.home_address), 1)  # Sec > 1 would take minutes
            cga = cga_generate(prefix, key, sec, modifier=os.urandom(16), workers=1)
            found = _Identity(key, cga, int.from_bytes(os.urandom(2), "big"), bu.seq)
            self.identities[bu.home_address] = found
            self.made.append(f"HoA {bu.home_address} of the capture -> {cga.address} (Sec {cga.sec}), "
                             f"a fresh RSA-1024 key")
        return found

    def bu(self, c: Captured, coa: str, dar: str) -> tuple[Packet, str, _Identity]:
        """The replayed BU of the captured ``c``: from ``coa`` to ``dar``, what it is, and whose.

        A CGA-signed BU whose CGA or signature fails offline in the capture (a forgery:
        another key's signature, or none that verifies) is signed with a key that is not
        its identity's, so that it fails again (RFC 4866 §4.3, profile §6 step 4: 148)."""
        captured = c.msg
        assert isinstance(captured, BindingUpdate)
        me = self.identity(captured)
        seq = seq_add(me.base, captured.seq - me.first_seq)
        hoa, lifetime = me.cga.address, captured.lifetime
        if captured.cga_params is not None and _forged(c.raw):
            pkt = first_bu(coa, hoa, dar, seq, lifetime, KeyPair.generate(1024), me.cga.params)
            return pkt, f"BU seq {seq} signed with another key (its signature fails in the capture too)", me
        if captured.cga_params is not None or me.phkt is None:
            why = "" if captured.cga_params is not None else " (no PHKT yet: CGA-signed instead)"
            pkt = first_bu(coa, hoa, dar, seq, lifetime, me.key, me.cga.params)
            return pkt, f"BU seq {seq} CGA-signed with a fresh key{why}", me
        return phkt_bu(coa, hoa, dar, seq, lifetime, me.phkt), f"BU seq {seq} with the PHKT", me

    @staticmethod
    def learn(me: _Identity, replies: list[Packet]) -> None:
        """Keep the PHKT of a BA to ``me`` that carries one."""
        for reply in replies:
            ba = decode(reply, lenient=True)
            if isinstance(ba, BindingAck) and ba.phkt_ciphertext is not None:
                me.phkt = decrypt_phkt(me.key, ba.phkt_ciphertext)


def _forged(raw: bytes) -> bool:
    """The CGA or the signature of a captured BU fails (checked offline, as fama-analyze does)."""
    return any(check.name in ("cga", "signature") and check.ok is False for check in verify_bu(raw).checks)


def _coa_key(bu: BindingUpdate) -> bytes:
    """Which of the capture's links a BU came from: its CoA's prefix (the HoA's when from home)."""
    return prefix64(bu.src if bu.hoa is not None else bu.home_address)


class _SimHosts:
    """SimNet hosts that hold the re-signed CoAs: one per CoA prefix of the capture, each on
    another DAR than the target (in turn); a BU from home is sent from its HoA on the target."""

    def __init__(self, session: Session, target: DarNode) -> None:
        self.session, self.target = session, target
        self.others = [
            n for n in session.net.nodes.values() if isinstance(n, DarNode) and n is not target
        ]
        if not self.others:
            raise ValueError("a re-signed replay needs a second DAR to hold the care-of address")
        self.hosts: dict[bytes, HostNode] = {}
        self.foreign: dict[bytes, DarNode] = {}  # the capture's other home prefixes -> a DAR each

    def elsewhere(self, bu: BindingUpdate) -> str:
        """The prefix for a home address that was not of the captured DAR's: another DAR's."""
        key = prefix64(bu.home_address)
        if key not in self.foreign:
            self.foreign[key] = self.others[len(self.foreign) % len(self.others)]
        return self.foreign[key].prefix

    def __call__(self, bu: BindingUpdate, me: _Identity) -> HostNode:
        key = _coa_key(bu)
        if key not in self.hosts:
            if bu.hoa is None:  # from home: on the link of the DAR whose prefix the HoA is of
                home = prefix64(me.cga.address)
                dar = next(d for d in [self.target, *self.others] if d.prefix_bytes == home)
                address = me.cga.address
            else:
                away = sum(1 for h in self.hosts.values() if h.link is not self.target.access)
                dar = self.others[away % len(self.others)]
                address = cga_with_prefix(me.cga, dar.prefix).address
            name = f"replay{len(self.session.helpers) + 1}-{dar.name}"
            self.session.net.add_cn(name, address, on=dar)
            self.session.helpers.add(name)
            self.hosts[key] = self.session.host(name)
        return self.hosts[key]


def _resigned(
    session: Session, target: DarNode, dar: str, talk: list[Captured], wait: float
) -> tuple[list[MscRow], list[str]]:
    hosts = _SimHosts(session, target)
    resign = _Resigner(dar, target.prefix, hosts.elsewhere)
    start, total, done = session.net.now, _bus(talk), 0
    lines: list[str] = []
    for c in talk:
        if not isinstance(c.msg, BindingUpdate):
            continue
        done += 1
        me = resign.identity(c.msg)
        session.alias.extra.setdefault(me.cga.address, f"replay{len(resign.identities)}@{target.name}")
        host = hosts(c.msg, me)
        pkt, what, _ = resign.bu(c, host.address, target.address)
        seen = len(session.net.events)
        session.net.inject(host, bytes(pkt))
        _answered(session, wait, done, total)
        reaction, replies = session.reaction(target, seen)
        resign.learn(me, replies)
        lines.append(f"{what} from {host.name}: " + ("; ".join(reaction) or "no answer"))
    return _replay_rows(session, start, target, {h.name for h in hosts.hosts.values()}), resign.made + lines


def _address(text: str, what: str) -> str:
    try:
        return addr_text(text)
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from None


def iface_coas(talk: list[Captured], coas: Sequence[str]) -> dict[bytes, str]:
    """The given care-of addresses for the capture's CoA prefixes, in order of first use
    (the last one given also serves any further prefixes)."""
    if not coas:
        raise ValueError(
            "a re-signed replay on a real interface needs coa=: an address of this host that "
            "the target's network routes back to this interface (the target answers BUs there)"
        )
    coas = [_address(coa, "coa") for coa in coas]
    out: dict[bytes, str] = {}
    for c in talk:
        if not isinstance(c.msg, BindingUpdate):
            continue
        if c.msg.hoa is None:
            raise ValueError(
                f"BU seq {c.msg.seq} of the capture was sent from home (no HAO): on a real "
                "interface it would need this host to answer for the new HoA; replay it on SimNet"
            )
        out.setdefault(_coa_key(c.msg), coas[min(len(out), len(coas) - 1)])
    return out


class _Link:
    """The target's access link as seen from ``iface``: the DAR's MAC address, resolved once
    (:func:`scapy_fama.net.iface.resolve_mac`), then one BU at a time with ``srp``. The frames
    carry the interface's own MAC: left to Scapy, the source MAC came from its routing table,
    which has no route where the interface holds only a link-local address, and every BU
    printed "WARNING: No route found for IPv6 destination"."""

    def __init__(self, iface: str, target: str, wait: float) -> None:
        self.iface, self.wait = iface, wait
        self.mac = resolve_mac(iface, target, wait)
        self.own = get_if_hwaddr(iface)

    def exchange(self, pkt: Packet) -> Packet | None:
        """Send one IPv6 packet to the target; its answer within ``wait`` seconds, or None.

        A Mobility Header answer ends the wait; an ICMPv6 error quoting the BU (from a kernel
        on the way, or an IUT without Mobile IPv6) is the answer only when no MH follows."""
        answered, _ = srp(
            Ether(src=self.own, dst=self.mac) / pkt,
            iface=self.iface,
            timeout=self.wait,
            multi=True,
            stop_filter=_is_mobility,
            verbose=0,
        )
        replies = [reply[IPv6] for _, reply in answered if IPv6 in reply]
        return next((r for r in replies if _is_mobility(r)), replies[0] if replies else None)


def _is_mobility(pkt: Packet) -> bool:
    return IPv6 in pkt and mh_type(bytes(pkt[IPv6])) is not None


def _exchange(
    link: _Link, pkt: Packet, target: str, when: float, what: str
) -> tuple[list[MscRow], str, Packet | None]:
    """One BU on the link: its chart rows, the line that says what came back, and the answer."""
    rows = [MscRow(when, "here", target, what, "BU")]
    answer = link.exchange(pkt)
    if answer is None:
        return rows, f"{what}: no answer within {link.wait:g} s (dropped, or lost)", None
    if _is_mobility(answer):
        msg = decode(answer)
        kind = TYPE_NAMES.get(type(msg), type(msg).__name__)
        text, status = label(msg, lambda a: a or "-"), status_of(msg)
    else:  # an ICMPv6 error quoting the BU, from the target or a kernel on the way
        kind, text, status = "ICMP", f"{answer.payload.name} from {answer.src}", None
    rows.append(MscRow(when, target, "here", text, kind, status))
    return rows, f"{what}: {answer.summary()}", answer


def _on_iface(
    target: str, iface: str, mode: str, dar: str, talk: list[Captured], wait: float, coas: Sequence[str]
) -> tuple[list[MscRow], list[str]]:
    target = _address(target, "the target (on an interface: the DAR's address)")
    coa_of = iface_coas(talk, coas) if mode == "re-sign" else {}
    # a home address not of the captured DAR's prefix: a CGA of its BU's care-of prefix here
    resign = _Resigner(dar, target, lambda bu: coa_of[_coa_key(bu)]) if mode == "re-sign" else None
    link = _Link(iface, target, wait)
    rows: list[MscRow] = []
    lines: list[str] = []
    for c in talk:
        if not isinstance(c.msg, BindingUpdate):
            continue
        me = None
        if resign is None:
            pkt, what = IPv6(c.raw), f"BU seq {c.msg.seq} (as captured)"
        else:
            pkt, what, me = resign.bu(c, coa_of[_coa_key(c.msg)], target)
        sent, line, answer = _exchange(link, pkt, target, c.time, what)
        rows += sent
        lines.append(line)
        if me is not None and answer is not None:
            _Resigner.learn(me, [answer])
    return rows, (resign.made if resign is not None else []) + lines


def replay(
    session: Session,
    pcap: str | Path,
    target: DarNode | str,
    mode: str = "as-is",
    *,
    dar: str | None = None,
    iface: str | None = None,
    coa: str | Sequence[str] = (),
    wait: float = WAIT,
) -> ReplayResult:
    """Play the BUs of ``pcap``'s conversation with one DAR against ``target`` (see the module doc).

    ``target`` is a DAR of the session, or with ``iface`` the address of a real one;
    ``dar`` picks the capture's DAR (its address) when the capture talks to several;
    ``coa`` (re-signed on an interface) is this host's care-of address, or one per CoA prefix
    of the capture: addresses that the target's network routes back to ``iface``.
    """
    if mode not in MODES:
        raise ValueError(f"mode is one of {', '.join(MODES)}, not {mode!r}")
    if not isinstance(pcap, (str, os.PathLike)):
        raise TypeError(f"replay(pcap=...) is a capture or a folder of them, not {type(pcap).__name__} {pcap!r}")
    # on SimNet each BU runs the clock ``wait`` s: checked before the first is sent
    wait = duration(wait, "replay(wait=...)") if iface is not None else session.runnable(wait, "replay(wait=...)")
    if coa and iface is None:  # SimNet makes the care-of addresses itself
        raise ValueError("replay(coa=...) is for a re-signed replay on a real interface (iface=)")
    dar = None if dar is None else _address(dar, "replay(dar=...)")  # as the capture's are written
    cut: list[str] = []
    captured = read_capture(pcap, cut.append)
    try:
        dar_address, talk = conversation(captured, dar)
    except ValueError as exc:  # nothing to replay: say too where the capture broke off, if it did
        raise ValueError("; ".join([str(exc), *cut])) from None
    proxy = next((c for c in talk if mode == "re-sign" and _proxy(c.raw)), None)
    if proxy is not None:
        raise ValueError(
            f"re-sign: BU seq {proxy.msg.seq} at {proxy.time - talk[0].time:.3f} s of the capture is a Proxy BU (RFC 5213), a MAG's registration "
            "of an MN, not an MN's own signed BU: replay it with mode='as-is'"
        )
    original = original_chart(pcap, dar_address, talk)
    if iface is not None:
        name = target if isinstance(target, str) else target.address
        coas = [coa] if isinstance(coa, str) else list(coa)
        rows, lines = _on_iface(name, iface, mode, dar_address, talk, wait, coas)
        chart = Msc(f"replay on {iface} against {name}, {mode}", ["here", name], rows)
        return ReplayResult(str(pcap), name, mode, original, chart, lines, _elsewhere(mode, dar_address, name), cut)
    node = session.dar(target)
    start = session.net.now
    if mode == "as-is":
        rows, lines = _as_is(session, node, talk, wait)
    else:
        rows, lines = _resigned(session, node, dar_address, talk, wait)
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
    return ReplayResult(str(pcap), node.name, mode, original, chart, lines, _elsewhere(mode, dar_address, node.address), cut)


def _elsewhere(mode: str, captured: str, target: str) -> str | None:
    """The capture's DAR address when an as-is replay's BUs (which keep it) are not for the target."""
    return captured if mode == "as-is" and addr_bytes(captured) != addr_bytes(target) else None
