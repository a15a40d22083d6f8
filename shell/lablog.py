"""The lab's roles as the shell sees them: their JSON logs on one clock, and tables and charts made of them.

Theory of operation
-------------------
Each role of ``fama-lab`` (``fama-dar --kernel`` per DAR, ``fama-mn --kernel``)
writes one JSON line per message, event and state into the lab's log folder
(:mod:`scapy_fama.lab.roles`). A record's ``t`` counts from the role's own
start, so the roles' clocks differ by their start-up times. :class:`RoleLog`
puts a role on the wall clock: its ``warm-up`` record says ``started``, the wall
time of the role's ``t = 0`` (read again when the file is replaced by a restart).
A log without it (written before roles said so) is dated by the file's
modification time, ``t0 = mtime - t_last``, which is late by up to the log
writer's 50 ms round (automata/log.py: records are written in batches), enough
to draw a DAR's BA before the MN's BU.
:class:`LabLog` merges the roles on the *lab clock*: seconds since the first
role started::

    dar1.json  {"t": 8.317, "dir": "event", "kind": "binding-created", ...}  + t0(dar1) - epoch
    mn.json    {"t": 8.268, "dir": "out", "kind": "BU", ...}                 + t0(mn)   - epoch
          -> Entry(time, record) in time order

The rest are pure functions of entries, tested on recorded lines:

    dar_bindings(entries, dar)     binding-created/updated -> a binding (its CoA, lifetime,
                                   the seq of the BU before it); deleted/expired -> gone
                                   (a record only, if a PHKT was issued)
    mn_addresses(entries)          address-configured/released/lost, BU out, binding-registered/
                                   deregistered, bu-refused, phkt-stored, tunnel-up/down
    chart_rows(entries, names)     "out" messages as arrows (an RS to the DAR that logged it,
                                   an RA drawn from the MN's "in RA"), "in" messages from senders
                                   without a log (the shell's tester), drops and events as notes,
                                   the MN's link-up as a move to the DAR of its next RA
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path
from typing import Any

from fama_shell.msc import MscRow, note_text

Record = dict[str, Any]
ARROWS = ("RS", "BU", "BA", "BE", "CoTI", "CoT")  # the kinds drawn from the sender's "out" record
MOBILITY = ("BU", "BA", "BE", "CoTI", "CoT")
SIGNALLING_KINDS = ("RS", "RA", *MOBILITY)  # what step() stops at (with events)
RS_MATCH = 1.0  # seconds around an MN's RS within which a DAR's "in RS" is the same RS
START_WITHIN = 8  # records from a log's start in which its warm-up record (with "started") comes


@dataclass(frozen=True)
class Entry:
    """One record of a role's log at ``time`` on the lab clock."""

    time: float
    record: Record

    @property
    def node(self) -> str:
        return str(self.record["node"])

    def get(self, key: str, default: Any = None) -> Any:
        return self.record.get(key, default)

    def kind(self, direction: str) -> str | None:
        return self.record["kind"] if self.record["dir"] == direction else None


class RoleLog:
    """One role's JSON log, read as it grows; ``t0`` is the wall time of the role's t = 0."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: list[Record] = []
        self.t0: float | None = None
        self._offset = 0
        self._inode: int | None = None
        self._tail = ""

    def poll(self) -> bool:
        """Read what was added; True when the file was replaced (the role restarted)."""
        try:
            before = os.stat(self.path)
        except FileNotFoundError:
            return False
        replaced = self._inode is not None and (
            before.st_ino != self._inode or before.st_size < self._offset
        )
        if replaced:
            self.records, self.t0, self._offset, self._tail = [], None, 0, ""
        self._inode = before.st_ino
        with self.path.open("rb") as f:
            f.seek(self._offset)
            data = f.read()
        after = os.stat(self.path)
        self._offset += len(data)
        text = self._tail + data.decode("utf-8", errors="replace")
        lines = text.split("\n")
        self._tail = lines.pop()  # a half-written last line waits for the next poll
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and "t" in record and "dir" in record:
                self.records.append(record)
        started = next((r["started"] for r in self.records[:START_WITHIN] if "started" in r), None)
        if started is not None:  # also after a first poll that read the lines before it
            self.t0 = float(started)
        elif self.t0 is None and self.records and after.st_mtime_ns == before.st_mtime_ns:
            self.t0 = after.st_mtime_ns / 1e9 - float(self.records[-1]["t"])
        return replaced


class LabLog:
    """Every role's log merged on the lab clock (seconds since the first role's t = 0)."""

    def __init__(self, logdir: Path, nodes: Iterable[str]) -> None:
        self.logdir = logdir
        self.roles = {node: RoleLog(logdir / f"{node}.json") for node in nodes}
        self.epoch: float | None = None
        self.entries: list[Entry] = []

    def refresh(self) -> list[Entry]:
        """Read the logs again; the entries in time order."""
        for log in self.roles.values():
            log.poll()
        starts = [log.t0 for log in self.roles.values() if log.t0 is not None]
        if self.epoch is None and starts:
            self.epoch = min(starts)
        epoch = self.epoch or 0.0
        out = [
            Entry(round(log.t0 + float(r["t"]) - epoch, 6), r)
            for log in self.roles.values()
            if log.t0 is not None
            for r in log.records
        ]
        out.sort(key=lambda e: e.time)
        self.entries = out
        return out

    def clock(self, wall: float) -> float:
        """A wall time on the lab clock."""
        return wall - (self.epoch if self.epoch is not None else wall)


# ---------------------------------------------------------------- names


@dataclass
class Names:
    """Who an address is: DARs by name, the MN's addresses as ``mn@darI``, hosts by name."""

    dars: dict[str, tuple[str, str]]  # name -> (address, prefix)
    hosts: dict[str, str] = field(default_factory=dict)  # address -> name (cn, tester)
    mn: str = "mn"
    mn_addresses: set[str] = field(default_factory=set)

    def anchor(self, address: str) -> str:
        """The DAR whose prefix holds ``address`` ("?" when none does)."""
        try:
            ip = IPv6Address(address)
        except ValueError:
            return "?"
        return next((n for n, (_, p) in self.dars.items() if ip in IPv6Network(p)), "?")

    def dar_of(self, address: str | None) -> str | None:
        return next((n for n, (a, _) in self.dars.items() if a == address), None)

    def node(self, address: str | None) -> str:
        """The life line of ``address`` in a chart."""
        if address is None:
            return "?"
        if (dar := self.dar_of(address)) is not None:
            return dar
        if address in self.hosts:
            return self.hosts[address].split("@")[0]
        if address in self.mn_addresses:
            return self.mn
        return address

    def __call__(self, address: str | None) -> str:
        if address is None:
            return "-"
        if (dar := self.dar_of(address)) is not None:
            return dar
        if address in self.hosts:
            return self.hosts[address]
        if address in self.mn_addresses:
            return f"{self.mn}@{self.anchor(address)}"
        return address

    def learn(self, entries: Iterable[Entry]) -> None:
        """The MN's addresses, from its log."""
        for e in entries:
            if e.node == self.mn and e.get("address") and e.record["dir"] == "event":
                self.mn_addresses.add(str(e.get("address")))


# ---------------------------------------------------------------- the DAR's binding cache


@dataclass
class Binding:
    hoa: str
    coa: str | None  # None: a security record kept after the binding went
    lifetime: int | None
    expires: float | None
    last_seq: int | None
    phkt: bool


def dar_bindings(entries: Iterable[Entry], dar: str) -> list[Binding]:
    """The binding cache of ``dar`` after ``entries`` (bindings first, then records only)."""
    pending: dict[str, int] = {}  # HoA -> seq of the last BU that arrived for it
    cache: dict[str, Binding] = {}
    phkt: set[str] = set()
    for e in entries:
        if e.node != dar:
            continue
        hoa = e.get("hoa")
        if e.kind("in") == "BU":
            pending[hoa or e.get("src")] = e.get("seq")  # from home (a de-registration): no HAO
        kind = e.kind("event")
        if kind in ("binding-created", "binding-updated"):
            lifetime = e.get("lifetime")
            cache[hoa] = Binding(
                hoa,
                e.get("coa"),
                lifetime,
                e.time + lifetime if lifetime is not None else None,
                pending.get(hoa),
                hoa in phkt,
            )
        elif kind in ("binding-deleted", "binding-expired") and hoa in cache:
            old = cache.pop(hoa)
            if old.phkt:
                cache[hoa] = Binding(hoa, None, None, None, pending.get(hoa, old.last_seq), True)
        elif kind == "phkt-issued" and hoa:
            phkt.add(hoa)
            if hoa in cache:
                cache[hoa].phkt = True
    return sorted(cache.values(), key=lambda b: b.coa is None)


# ---------------------------------------------------------------- the MN's addresses


@dataclass
class MnAddress:
    address: str
    dar: str  # the anchoring DAR's address
    state: str = "idle"
    seq: int | None = None
    coa: str | None = None
    tunnel: bool = False
    bound_until: float | None = None
    phkt: bool = False
    gone: str | None = None  # "released" or "lost"


def mn_addresses(entries: Iterable[Entry], mn: str = "mn") -> dict[str, MnAddress]:
    """The MN's addresses after ``entries``, in the order it configured them."""
    found: dict[str, MnAddress] = {}
    for e in entries:
        if e.node != mn:
            continue
        kind, address = e.kind("event"), e.get("address") or e.get("hoa")
        if e.kind("out") == "BU":
            entry = found.get(str(e.get("hoa")))
            if entry is not None:
                entry.seq = e.get("seq")
                entry.state = "deregistering" if e.get("lifetime") == 0 else "registering"
            continue
        if kind is None or address is None:
            continue
        if kind == "address-configured":
            found.setdefault(address, MnAddress(address, str(e.get("dar")))).gone = None
            continue
        entry = found.get(address)
        if entry is None:
            continue
        if kind in ("address-released", "address-lost"):
            entry.gone = kind.removeprefix("address-")
            entry.state, entry.tunnel, entry.bound_until = "idle", False, None
        elif kind == "binding-registered":
            lifetime = e.get("lifetime") or 0
            entry.state, entry.coa, entry.bound_until = "bound", e.get("coa"), e.time + lifetime
        elif kind in ("binding-deregistered", "binding-expired"):
            entry.state, entry.coa, entry.bound_until = "idle", None, None
        elif kind == "bu-refused":
            entry.state = f"refused ({e.get('status')})"
        elif kind == "phkt-stored":
            entry.phkt = True
        elif kind in ("tunnel-up", "tunnel-down"):
            entry.tunnel = kind == "tunnel-up"
    return found


def mn_dar(entries: Iterable[Entry], names: Names, mn: str = "mn") -> str | None:
    """The DAR of the last RA the MN took (the link it is on, as its log tells)."""
    last = None
    for e in entries:
        if e.node == mn and e.kind("in") == "RA":
            last = names.dar_of(e.get("dar")) or names.anchor(str(e.get("prefix", "")).split("/")[0])
    return last


# ---------------------------------------------------------------- the chart


def record_label(r: Record, alias: Names) -> str:
    """A chart label from a message record, in the words of :func:`fama_shell.msc.label`."""
    kind = r["kind"]
    if kind == "BU":
        auth = [n for n, on in (("cga+sig", r.get("cga")), ("ni", r.get("ni")), ("bad", r.get("bad"))) if on]
        dereg = " de-reg" if r.get("lifetime") == 0 else ""
        home = r.get("hoa") or r.get("src")  # a de-registration from home has no HAO
        return f"BU {r.get('seq')} {alias(home)}{dereg} {'+'.join(auth)}".rstrip()
    if kind == "BA":
        parts = (("phkt", r.get("phkt")), ("cga+sig", r.get("signed")), ("bad", r.get("bad")))
        auth = [n for n, on in parts if on]
        return f"BA {r.get('status')} seq {r.get('seq')} {'+'.join(auth)}".rstrip()
    if kind == "BE":
        return f"BE {r.get('status')} {alias(r.get('hoa'))}"
    if kind == "CoT":
        return f"CoT index {r.get('index')}"
    if kind == "RA":
        return f"RA {r.get('prefix')}"
    return str(kind)


def _rs_target(entries: list[Entry], i: int, names: Names) -> str | None:
    """The DAR whose "in RS" is nearest to the MN's RS ``entries[i]`` (within RS_MATCH s)."""
    sent = entries[i].time
    near = [e for e in entries if abs(e.time - sent) <= RS_MATCH
            and e.kind("in") == "RS" and e.node in names.dars]  # fmt: skip
    return min(near, key=lambda e: abs(e.time - sent)).node if near else None


def chart_rows(entries: list[Entry], names: Names, logged: Iterable[str]) -> Iterator[MscRow]:
    """The chart rows of ``entries`` (see the module's docstring); ``logged``: the roles with a log."""
    roles = set(logged)
    where: str | None = None  # the DAR the MN is on, as the chart goes
    moving: Entry | None = None  # the MN's link-up whose RA has not come yet
    for i, e in enumerate(entries):
        r, direction, kind = e.record, e.record["dir"], e.record["kind"]
        status = r.get("status") if kind in ("BA", "BE") else None
        if direction == "out" and kind in ARROWS:
            dst = _rs_target(entries, i, names) if kind == "RS" else names.node(r.get("dst"))
            if dst is not None:
                yield MscRow(e.time, e.node, dst, record_label(r, names), kind, status)
        elif direction == "in" and kind == "RA" and e.node == names.mn:
            dar = names.dar_of(r.get("dar")) or "?"
            if moving is not None:
                text = f"{names.mn} moves {where} -> {dar}" if where else f"{names.mn} attaches to {dar}"
                yield MscRow(moving.time, names.mn, None, text, move=True)
                moving = None
            if dar != where:
                where = dar
                yield MscRow(e.time, dar, names.mn, record_label(r, names), "RA")
        elif direction == "in" and kind in MOBILITY and names.node(r.get("src")) not in roles:
            yield MscRow(e.time, names.node(r.get("src")), e.node, record_label(r, names), kind, status)
        elif direction == "drop" and kind in MOBILITY:
            yield MscRow(e.time, e.node, None, f"drops {kind}: {r.get('why')}")
        elif direction == "event" and kind == "link-up" and e.node == names.mn:
            moving = e
        elif direction == "event":
            data = {k: v for k, v in r.items() if k not in ("t", "node", "dir", "kind")}
            text = note_text(e.node in names.dars, kind, data, names)
            if text is not None:
                yield MscRow(e.time, e.node, None, text)
