"""What the shell's commands return: plain data with a rich rendering.

Theory of operation
-------------------
Every command returns a :class:`View`: a dataclass whose fields are the data
(rows of plain values, ready for a script or ``as_dict()``) and whose
``__rich__`` draws it (a table, a tree, a chart). The IPython layer prints a
returned view with rich; ``str(view)`` is the same drawing without colour, for
logs and tests::

    session.bc("dar1")                 -> BindingTable(dar="dar1", rows=[BcRow(hoa, coa, ...)])
    session.bc("dar1").rows[0].coa     -> "2001:db8:3:0:..."           (a script)
    bc("dar1")                         -> a rich table at the prompt   (a person)

This module holds the base class, the text renderer and the tables that are
one row per thing (binding cache, BUL, addresses, flows, verdicts); the
message-sequence chart, the topology drawing, packet trees and replays have
their own modules.
"""

from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from scapy_fama.latency import table as steps_table
from scapy_fama.verify import Verdict

TEXT_WIDTH = 140  # columns of str(view): wide enough for full IPv6 addresses side by side
RESULT_STYLE = {True: "green", False: "bold red", None: "yellow"}


def render_text(renderable: Any, width: int = TEXT_WIDTH) -> str:
    """``renderable`` drawn by rich without colour or control codes."""
    out = io.StringIO()
    Console(file=out, width=width, color_system=None, force_terminal=False, soft_wrap=False).print(
        renderable
    )
    return out.getvalue().rstrip("\n")


def table(title: str, *columns: str, caption: str | None = None) -> Table:
    """The shell's table look: a left-aligned title and these columns; never narrower than its
    title (a narrow table, an empty binding cache, would wrap the title in the middle)."""
    out = Table(title=title, title_justify="left", caption=caption, caption_justify="left", min_width=len(title))
    for column in columns:
        out.add_column(column, overflow="fold")
    return out


class View:
    """A command's result: dataclass fields for scripts, ``__rich__`` for people."""

    def __rich__(self) -> RenderableType:
        raise NotImplementedError

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    def __str__(self) -> str:
        return render_text(self)


@dataclass(frozen=True)
class BcRow:
    """One binding (or, with ``coa`` None, a security record kept after de-registration)."""

    hoa: str
    coa: str | None
    lifetime: int | None
    expires: float | None
    last_seq: int | None
    phkt: bool


@dataclass
class BindingTable(View):
    """A DAR's binding cache, and its security records without a binding (profile §6)."""

    dar: str
    address: str
    prefix: str
    now: float
    rows: list[BcRow] = field(default_factory=list)

    def binding(self, hoa: str) -> BcRow | None:
        return next((r for r in self.rows if r.hoa == hoa and r.coa is not None), None)

    def __rich__(self) -> RenderableType:
        out = table(
            f"{self.dar} binding cache ({self.address}, prefix {self.prefix}) at t={self.now:.3f} s",
            "HoA",
            "CoA",
            "lifetime",
            "expires in",
            "last seq",
            "PHKT",
        )
        for r in self.rows:
            if r.coa is None:
                out.add_row(r.hoa, Text("(record only)", "dim"), "", "", str(r.last_seq), "yes")
                continue
            left = f"{r.expires - self.now:.0f} s" if r.expires is not None else ""
            out.add_row(
                r.hoa,
                Text(r.coa, "bold"),
                f"{r.lifetime} s",
                left,
                str(r.last_seq),
                "yes" if r.phkt else "no",
            )
        if not self.rows:
            out.caption = "empty"
        return out


@dataclass(frozen=True)
class BulRow:
    address: str
    dar: str  # the anchoring DAR's name (or address when it is not in the topology)
    state: str
    seq: int
    coa: str | None
    tunnel: bool
    bound_until: float | None
    phkt: bool


@dataclass
class BulTable(View):
    """An MN's binding update list: one entry per address it holds (profile §7)."""

    mn: str
    current: str | None
    now: float
    rows: list[BulRow] = field(default_factory=list)

    def entry(self, address: str) -> BulRow | None:
        return next((r for r in self.rows if r.address == address), None)

    def __rich__(self) -> RenderableType:
        out = table(
            f"{self.mn} binding update list at t={self.now:.3f} s",
            "address",
            "DAR",
            "state",
            "seq",
            "CoA",
            "tunnel",
            "bound for",
            "PHKT",
        )
        for r in self.rows:
            native = r.address == self.current
            left = f"{r.bound_until - self.now:.0f} s" if r.bound_until is not None else ""
            out.add_row(
                Text(r.address, "bold" if native else ""),
                r.dar,
                "native (current)" if native else r.state,
                str(r.seq),
                r.coa or "",
                "up" if r.tunnel else "",
                left,
                "yes" if r.phkt else "no",
            )
        return out


@dataclass(frozen=True)
class AddrRow:
    address: str
    prefix: str
    anchor: str  # the DAR it is anchored at (name)
    role: str  # "current (native)", "kept", "tentative", "released"
    flows: int  # running flows on it
    keep: str  # the keep decision and why


@dataclass
class AddressTable(View):
    """An MN's addresses: where each is anchored, its flows, and the keep decision (profile §3)."""

    mn: str
    policy: str
    now: float
    rows: list[AddrRow] = field(default_factory=list)

    def row(self, address: str) -> AddrRow | None:
        return next((r for r in self.rows if r.address == address), None)

    def __rich__(self) -> RenderableType:
        out = table(
            f"{self.mn} addresses at t={self.now:.3f} s (keep policy: {self.policy})",
            "address",
            "prefix",
            "anchor",
            "role",
            "flows",
            "keep",
        )
        for r in self.rows:
            style = "bold" if r.role.startswith("current") else ""
            out.add_row(Text(r.address, style), r.prefix, r.anchor, r.role, str(r.flows), r.keep)
        return out


@dataclass(frozen=True)
class FlowRow:
    number: int
    cn: str
    mn: str
    address: str
    state: str
    down: str  # "received/sent"
    up: str


@dataclass
class FlowTable(View):
    """The data flows of the topology and how many datagrams got through each way."""

    rows: list[FlowRow] = field(default_factory=list)

    def __rich__(self) -> RenderableType:
        out = table("flows", "#", "between", "MN address", "state", "down (rx/tx)", "up (rx/tx)")
        for r in self.rows:
            out.add_row(str(r.number), f"{r.cn} <-> {r.mn}", r.address, r.state, r.down, r.up)
        return out


@dataclass(frozen=True)
class CheckRow:
    name: str
    result: str  # pass, FAIL, not checked
    detail: str


@dataclass
class VerdictView(View):
    """``verify(pkt)``: one row per check of :mod:`scapy_fama.verify`, and the verdict."""

    message: str
    summary: str
    ok: bool
    keys: str  # which PHKT / key the shell supplied from the topology
    rows: list[CheckRow] = field(default_factory=list)

    @classmethod
    def of(cls, verdict: Verdict, summary: str, keys: str) -> VerdictView:
        rows = [CheckRow(c.name, c.result, c.detail) for c in verdict.checks]
        return cls(verdict.message, summary, bool(verdict), keys, rows)

    def check(self, name: str) -> CheckRow:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(f"no check {name!r}: {', '.join(r.name for r in self.rows)}")

    def __bool__(self) -> bool:
        return self.ok

    def __rich__(self) -> RenderableType:
        mark = Text("VERIFIED", "bold green") if self.ok else Text("NOT VERIFIED", "bold red")
        out = table(f"{self.message}: {self.summary}", "check", "result", "detail")
        for r in self.rows:
            ok = {"pass": True, "FAIL": False}.get(r.result)
            out.add_row(r.name, Text(r.result, RESULT_STYLE[ok]), r.detail)
        out.caption = Text.assemble(mark, f"   {self.keys}" if self.keys else "")
        return out


@dataclass
class LatencyView(View):
    """Each attachment of one MN step by step (:mod:`scapy_fama.latency`): where every
    millisecond between its link coming up and data in every tunnel went."""

    mn: str
    handovers: list[dict[str, Any]] = field(default_factory=list)  # Breakdown.as_dict() each

    def __rich__(self) -> RenderableType:
        if not self.handovers:
            return Text(f"{self.mn} has not attached yet")
        return Group(*(steps_table(h, f"{self.mn}, attachment {n}") for n, h in enumerate(self.handovers, 1)))

