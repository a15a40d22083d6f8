"""Session: one SimNet with named nodes, and every shell command as a method that returns data.

Theory of operation
-------------------
A session owns a :class:`~scapy_fama.net.sim.SimNet` (``wire=True``), its
interceptor (breakpoints, held messages) and the names of its nodes. Commands
take nodes or their names, change or advance the net, and return a view
(:mod:`fama_shell.views`, :mod:`fama_shell.msc`, ...) that a script reads as
data and the shell draws with rich::

    s = Session.default()                 dar1 dar2 dar3 (2001:db8:{1,2,3}::/64), cn, mn
    s.attach("mn", "dar1")                -> Msc of the next 3 s: RS, RA, address configured
    s.flow("cn", "mn")                    -> Flow on the MN's current address (keeps it, §3)
    s.handover("mn", "dar2")              -> Msc: RS/RA at dar2, BU to dar1 via dar2, BA 0
    s.bc("dar1").rows                     -> [BcRow(hoa=<address at dar1>, coa=<address at dar2>)]
    s.brk("BU", node="mn"); s.handover("mn", "dar3")      stops at the first BU: s.held()
    s.release(); s.run(2)                 -> the rest of the exchange

Virtual time moves only in commands: ``run(seconds)``, ``step()``, and the
``settle`` seconds ``attach``/``handover`` run for (3 s: RS/RA, 1 s of DAD, the
BUs and BAs). A breakpoint that holds a message stops the clock at once; a hold in
a command that does not run the clock (``stop(f)``) stops the next one that would.
Ctrl-C stops it between two actions (:mod:`scapy_fama.interrupt`), never inside one.
Errors are ValueError/TypeError with one clear line (unknown node, wrong kind
of node, malformed packet); the net is never left half-changed by them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from ipaddress import IPv6Network
from pathlib import Path

from fama_shell import topology
from fama_shell.base import ShellSession, duration, flag, out_dir
from fama_shell.intercept import Breakpoint, BreakpointTable, Held, Interceptor
from fama_shell.msc import (
    MOBILITY,
    Aliases,
    Msc,
    MscRow,
    from_events,
    label,
)
from fama_shell.packets import PacketView
from fama_shell.replay import ReplayResult, mh_type, replay
from fama_shell.stepping import first_after, first_notable, follow
from fama_shell.views import (
    AddressTable,
    AddrRow,
    BcRow,
    BindingTable,
    BulRow,
    BulTable,
    FlowRow,
    FlowTable,
    LatencyView,
    VerdictView,
    View,
    table,
)
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from scapy.layers.inet6 import MIP6MH_BA, IPv6
from scapy.packet import Packet
from scapy.plist import PacketList

from scapy_fama.codec import decode
from scapy_fama.interrupt import deferred
from scapy_fama.layers.headers import find_mh
from scapy_fama.net.sim import SimNet
from scapy_fama.net.sim_events import Hop, NodeEffect, Undelivered
from scapy_fama.net.sim_flows import Flow
from scapy_fama.net.sim_latency import breakdowns
from scapy_fama.net.sim_topology import DarNode, HostNode, MnNode, Node
from scapy_fama.proto.bul import BulState
from scapy_fama.proto.effects import Drop, Notify
from scapy_fama.verify import verify_ba, verify_bu
from scapy_fama.wire.numbers import BA, BU

SETTLE = 3.0  # seconds attach/handover run: RS/RA, DAD (1 s), BUs and BAs with room to spare
STEP_LIMIT = 30.0  # virtual seconds step() looks ahead for something to show
RUN_LIMIT = 86_400.0  # virtual seconds one command runs: the longest CGA binding (RFC 4866 §4.2)
RUN_DATAGRAMS = 50_000  # datagrams the running flows may send in one command (measured: 3.3 s, +100 MB)
PROBE_IID = 0xEE  # interface id of the helper host send_to() and replay() put on a DAR's link
_EXCHANGES = (BulState.TESTING, BulState.REGISTERING, BulState.DEREGISTERING)


@dataclass(frozen=True)
class DarInfo:
    name: str
    address: str
    prefix: str
    bindings: int
    on_link: list[str]


@dataclass
class TopologyView(View):
    """The DARs with their prefixes and links, the backbone hosts, and where each MN is."""

    now: float
    dars: list[DarInfo] = field(default_factory=list)
    hosts: list[tuple[str, str]] = field(default_factory=list)  # backbone hosts (name, address)
    mns: list[tuple[str, str | None, str | None]] = field(
        default_factory=list
    )  # name, DAR, address
    kept: list[tuple[str, str, str]] = field(default_factory=list)  # MN, address, anchoring DAR

    def where(self, mn: str) -> str | None:
        return next((dar for name, dar, _ in self.mns if name == mn), None)

    def __rich__(self) -> RenderableType:
        hosts = "   ".join(f"{n} {a}" for n, a in self.hosts)
        head = Text(f"backbone ═══ {hosts}", "bold")
        grid = Table(box=None, show_header=False, padding=(0, 3))
        for _ in self.dars:
            grid.add_column(justify="center")
        grid.add_row(*[Text("╦", "bold") for _ in self.dars])
        grid.add_row(*[Text(d.name, "bold cyan") for d in self.dars])
        grid.add_row(*[d.address for d in self.dars])
        grid.add_row(*[d.prefix for d in self.dars])
        grid.add_row(*[f"{d.bindings} binding(s)" for d in self.dars])
        grid.add_row(*["│" for _ in self.dars])
        grid.add_row(*[Text("  ".join(d.on_link) or "·", "bold magenta") for d in self.dars])
        lines: list[RenderableType] = [Text(f"topology at t={self.now:.3f} s", "bold"), head, grid]
        for name, dar, address in self.mns:
            lines.append(
                Text(f"{name}: on {dar or 'no link (detached)'}, current address {address or '-'}")
            )
        for mn, address, anchor in self.kept:
            lines.append(Text(f"  {mn} keeps {address}, anchored at {anchor} (tunnelled)", "dim"))
        return Group(*lines)


@dataclass
class SendResult(View):
    """What ``send_to`` put on the net and what the DAR did with it."""

    dar: str
    sent: str
    outcome: list[str]
    replies: list[Packet] = field(default_factory=list)
    chart: Msc | None = None

    def __rich__(self) -> RenderableType:
        parts: list[RenderableType] = [Text(f"sent to {self.dar}: {self.sent}", "bold")]
        parts += [Text(f"  {line}") for line in self.outcome or ["no reply and no reaction"]]
        parts += [Text(f"  reply: {p.summary()}", "green") for p in self.replies]
        if self.chart is not None:
            parts.append(self.chart)
        return Group(*parts)


@dataclass
class Saved(View):
    """The pcaps ``save()`` wrote, one per link."""

    paths: dict[str, str]

    def __rich__(self) -> RenderableType:
        out = table("pcaps written (tshark -r FILE -V, or Wireshark)", "link", "file")
        for link, path in self.paths.items():
            out.add_row(link, path)
        return out


class Session(ShellSession):
    """A SimNet with named nodes; each shell command is a method (see the module's docstring)."""

    def __init__(self, net: SimNet, *, origin: str = "SimNet", key_origin: str = "") -> None:
        if not net.wire:
            raise ValueError(
                "the shell needs a SimNet with wire=True (packets, pcaps, breakpoints)"
            )
        self.net = net
        self.origin = origin
        self.key_origin = key_origin
        self.settle = SETTLE
        self.alias = Aliases(net)
        self.intercept = Interceptor(net, self.alias)
        self.notes: list[MscRow] = []  # the session's own marks on the chart (replays)
        # where the last command's chart ended: net.events, intercept.notes, notes (none again)
        self._charted = (0, 0, 0)
        self.helpers: set[str] = set()  # nodes the session added (probes, replay hosts)

    # ---------------------------------------------------------------- making one

    @classmethod
    def default(cls, seed: int = 1, cached_key: bool = True) -> Session:
        """The default topology: dar1..dar3, cn on the backbone, mn detached."""
        key = topology.KeySource(cached_key)
        net = SimNet(seed=seed, wire=True)
        topology.default_topology(net, key)
        return cls(net, origin="default topology (SimNet)", key_origin=key.origin)

    @classmethod
    def from_file(cls, path: str | Path, seed: int = 1, cached_key: bool = True) -> Session:
        key = topology.KeySource(cached_key)
        net = topology.load_topology(path, key, seed)
        return cls(net, origin=f"{path} (SimNet)", key_origin=key.origin)

    # ---------------------------------------------------------------- names

    def nodes(self) -> dict[str, Node]:
        return dict(self.net.nodes)

    @property
    def now(self) -> float:
        return self.net.now

    def dar(self, which: DarNode | str) -> DarNode:
        return self._typed(which, DarNode, "a DAR")  # type: ignore[no-any-return]

    def mn(self, which: MnNode | str | None = None) -> MnNode:
        """``which``, or the only MN of the topology."""
        if which is None:
            mns = [n for n in self.net.nodes.values() if isinstance(n, MnNode)]
            if len(mns) != 1:
                raise ValueError(
                    f"name the MN: there are {len(mns)} ({', '.join(n.name for n in mns)})"
                )
            return mns[0]
        return self._typed(which, MnNode, "an MN")  # type: ignore[no-any-return]

    def host(self, which: HostNode | str) -> HostNode:
        return self._typed(which, HostNode, "a host")  # type: ignore[no-any-return]

    # ---------------------------------------------------------------- time

    def runnable(self, seconds: float, what: str = "the time to run") -> float:
        """``seconds`` as a run of the clock the net can make (at most ``RUN_LIMIT``, the running
        flows sending at most ``RUN_DATAGRAMS``); one line naming ``what`` otherwise. A command
        checks its run before it sends or moves anything: a refusal leaves the net as it was."""
        seconds = duration(seconds, what, RUN_LIMIT)
        running = [f for f in self.net.flows if f.stopped is None]
        if seconds > self._flow_budget():
            datagrams = sum(2 * seconds / f.interval for f in running)
            raise ValueError(
                f"{len(running)} running flow(s) would send about {datagrams:,.0f} datagrams in {seconds:g} s, "
                f"at most {RUN_DATAGRAMS:,} per command: run shorter pieces or stop() a flow"
            )
        return seconds

    def advance(self, seconds: float) -> None:
        """Run ``seconds`` of virtual time, stopping at once when a breakpoint holds a message
        (a hold that came before, in a command that does not run the clock, stops it at once)."""
        seconds = self.runnable(seconds)
        if self.intercept.stop is None:
            with self._interruptible() as ctrl_c:
                self.net.run_until(lambda: ctrl_c.is_set() or self.intercept.stop is not None, timeout=seconds)

    @contextmanager
    def _interruptible(self) -> Iterator[threading.Event]:
        """Around a run of the clock: a Ctrl-C is only noted (the run's predicates look at the
        note, so it stops after the action in hand), then raised here as KeyboardInterrupt
        (scapy_fama.interrupt: an action is never left half done)."""
        with deferred() as ctrl_c:
            yield ctrl_c
        if ctrl_c.is_set():
            raise KeyboardInterrupt(
                f"at t={self.net.now:.3f} s, between two events: the topology is whole, "
                "run() goes on from there"
            )

    def _flow_budget(self) -> float:
        """Virtual seconds in which the running flows send ``RUN_DATAGRAMS`` (each both ways)."""
        rate = sum(2 / f.interval for f in self.net.flows if f.stopped is None)
        return RUN_DATAGRAMS / rate if rate else RUN_LIMIT

    def _window(self, since: float, title: str) -> Msc:
        """The chart since ``since``; a hold the clock stopped at is named in its title, once.
        What the last command's chart showed at its end, the same instant, is not noted again
        (a handover right after step() drew step's "deleted: ..." and held notes twice)."""
        events, held, notes = self._charted
        self._charted = (len(self.net.events), len(self.intercept.notes), len(self.notes))
        extra = self.intercept.notes[held:] + self.notes[notes:]
        chart = from_events(self.net, since=since, extra=extra, title=title, helpers=self.helpers, alias=self.alias,
                            shown=events)  # fmt: skip
        return self._stopped_title(chart)

    def _stopped_title(self, chart: Msc) -> Msc:
        """``chart``, its title naming the hold the clock stopped at (once) or those still held."""
        stop, self.intercept.stop = self.intercept.stop, None
        if stop is not None:
            chart.title += f"  -- STOPPED: held #{stop.number} {stop.kind} from {stop.node}; see held()"
        elif self.intercept.held:
            chart.title += f"  (still held: {', '.join(f'#{n}' for n in sorted(self.intercept.held))})"
        return chart

    def run(self, seconds: float = 1.0) -> Msc:
        """Advance virtual time by ``seconds`` (at most ``RUN_LIMIT``); the chart of what happened."""
        seconds = duration(seconds, "run(seconds)", RUN_LIMIT)
        start = self.net.now
        self.advance(seconds)
        return self._window(start, f"run {start:.3f} -> {self.net.now:.3f} s")

    def step(self) -> Msc:
        """Run to the next instant a signalling message leaves, a node notes an event or moves,
        and until what left then has arrived: that instant, every path whole.

        Data alone does not count; a message a command sent without running the clock
        (``stop(f)``, ``release()``) that no chart showed yet is that instant (stepping.py).
        Looks ahead at most ``STEP_LIMIT`` s, less when the running flows would send more
        than ``RUN_DATAGRAMS``."""
        events, start = self.net.events, self.net.now
        first, held, notes = self._charted
        scanned = [first]  # events looked at so far

        def found() -> bool:
            index = first_notable(events, scanned[0])
            scanned[0] = len(events) if index is None else index
            return self.intercept.stop is not None or index is not None

        limit = min(STEP_LIMIT, self._flow_budget())  # fast flows: as far as a run may go
        with self._interruptible() as ctrl_c:

            def halted() -> bool:  # a hold, or a Ctrl-C (raised as the block ends)
                return ctrl_c.is_set() or self.intercept.stop is not None

            if not halted() and not found() and not self.net.run_until(lambda: ctrl_c.is_set() or found(), timeout=limit):
                return self._window(start, f"step: nothing to show within {limit:g} s")
            if not halted():
                at = events[scanned[0]].time
                shown = follow(self.net, at, first, halted)
        if self.intercept.stop is not None:
            return self._window(self.net.now, f"step to t={self.net.now:.3f} s")
        extra = [r for r in self.intercept.notes[held:] + self.notes[notes:] if r.time <= at]
        self._charted = (  # the instant is charted; what happened after it is the next step's
            first_after(events, scanned[0], at),
            first_after(self.intercept.notes, held, at),
            first_after(self.notes, notes, at),
        )
        arrived = f", its messages on their way until t={self.net.now:.3f} s" if self.net.now > at else ""
        chart = from_events(self.net, since=at, until=self.net.now, only=shown, extra=extra,
                            title=f"step to t={at:.3f} s{arrived}", helpers=self.helpers, alias=self.alias)  # fmt: skip
        return self._stopped_title(chart)

    # ---------------------------------------------------------------- mobility

    def attach(self, mn: MnNode | str, dar: DarNode | str, settle: float | None = None) -> Msc:
        """Bring a detached MN up on ``dar``'s link and run ``settle`` seconds (default 3)."""
        node, target = self.mn(mn), self.dar(dar)
        settle = self.runnable(self.settle if settle is None else settle, "attach(settle=...)")
        if node.link is not None:
            raise ValueError(
                f"{node.name} is on {node.link.name} already: use handover({node.name}, {target.name})"
            )
        start = self.net.now
        self.net.attach(node, target)
        self.advance(settle)
        return self._window(start, f"{node.name} attaches to {target.name}")

    def handover(
        self, mn: MnNode | str, dar: DarNode | str, settle: float | None = None, gap: float = 0.0
    ) -> Msc:
        """Move the MN to ``dar``'s link (attach it if detached) and run ``settle`` seconds."""
        node, target = self.mn(mn), self.dar(dar)
        settle = self.runnable(self.settle if settle is None else settle, "handover(settle=...)")
        gap = duration(gap, "handover(gap=...)")
        if node.link is None:
            return self.attach(node, target, settle)
        if node.link is target.access:
            raise ValueError(f"{node.name} is on {target.name} already")
        start, old = self.net.now, node.link.name
        self.net.handover(node, target, gap=gap)
        self.advance(settle)
        return self._window(start, f"{node.name} hands over {old} -> {target.name}")

    def detach(self, mn: MnNode | str) -> Msc:
        """Take the MN off its link (no link until attach or handover)."""
        node = self.mn(mn)
        start = self.net.now
        self.net.detach(node)
        return self._window(start, f"{node.name} detaches")

    def restart(self, dar: DarNode | str) -> BindingTable:
        """The DAR reboots: empty binding cache and security records."""
        node = self.dar(dar)
        self.net.restart(node)
        return self.bc(node)

    # ---------------------------------------------------------------- flows

    def flow(
        self,
        src: Node | str,
        dst: Node | str,
        interval: float = 0.5,
        size: int = 100,
        address: str | None = None,
    ) -> Flow:
        """Datagrams both ways between a host and an MN (either order), every ``interval`` s
        (1 ms at the least; a command runs while they send at most ``RUN_DATAGRAMS``).

        On the MN's current address unless ``address`` names another it holds;
        under the ``flows`` keep policy the address is kept while the flow runs.
        """
        a, b = self.node(src), self.node(dst)
        pair = (a, b) if isinstance(a, HostNode) else (b, a)
        host, mn = pair
        if not isinstance(host, HostNode) or not isinstance(mn, MnNode):
            raise TypeError(f"a flow joins a host and an MN, not {a.name} and {b.name}")
        if (address or mn.current_address) is None:
            raise ValueError(f"{mn.name} has no address yet: attach it first")
        return self.net.flow(host, mn, address=address, interval=interval, size=size)

    def _flow(self, which: Flow | int) -> Flow:
        if isinstance(which, Flow):
            return which
        if isinstance(which, bool) or not isinstance(which, int):
            raise TypeError(f"a flow or its number (flows() lists them), not {type(which).__name__} {which!r}")
        if not 0 <= which < len(self.net.flows):
            numbered = f"flows are numbered 0..{len(self.net.flows) - 1}" if self.net.flows else "no flow yet: flow(cn, mn)"
            raise ValueError(f"no flow #{which}: {numbered}")
        return self.net.flows[which]

    def stop(self, flow: Flow | int) -> FlowTable:
        """Stop a flow (by object or number): under ``flows`` its address may be released."""
        self._flow(flow).stop()
        return self.flows()

    def flows(self) -> FlowTable:
        """The flows by number, with the datagrams that got through each way."""
        rows = [
            FlowRow(
                i,
                f.cn.name,
                f.mn.name,
                f.address,
                "running" if f.stopped is None else f"stopped at {f.stopped:.3f} s",
                f"{len(f.down.received)}/{len(f.down.sent)}",
                f"{len(f.up.received)}/{len(f.up.sent)}",
            )
            for i, f in enumerate(self.net.flows)
        ]
        return FlowTable(rows)

    # ---------------------------------------------------------------- tables

    def _dar_name(self, address: str) -> str:
        return next(
            (
                n.name
                for n in self.net.nodes.values()
                if isinstance(n, DarNode) and n.address == address
            ),
            address,
        )

    def bc(self, dar: DarNode | str) -> BindingTable:
        """A DAR's binding cache (and its security records without a binding)."""
        node = self.dar(dar)
        rows = [
            BcRow(
                b.hoa,
                b.coa,
                b.lifetime,
                b.expires,
                r.last_seq if (r := node.record(b.hoa)) else None,
                r is not None,
            )
            for b in node.bindings()
        ]
        bound = {b.hoa for b in node.bindings()}
        rows += [
            BcRow(r.hoa, None, None, None, r.last_seq, True)
            for r in node.core.records()
            if r.hoa not in bound
        ]
        return BindingTable(node.name, node.address, node.prefix, self.net.now, rows)

    def bul(self, mn: MnNode | str | None = None) -> BulTable:
        """An MN's binding update list."""
        node = self.mn(mn)
        rows = [
            BulRow(
                a,
                self._dar_name(e.dar),
                e.state.value,
                e.seq,
                e.coa,
                e.tunnel is not None,
                e.bound_until if e.tunnel else None,
                e.phkt is not None,
            )
            for a, e in node.bul().items()
        ]
        return BulTable(node.name, node.current_address, self.net.now, rows)

    def addrs(self, mn: MnNode | str | None = None) -> AddressTable:
        """An MN's addresses with their anchor DAR, running flows and keep decision (profile §3)."""
        node = self.mn(mn)
        policy = str(node.core.config.keep)
        rows = []
        for address in node.addresses():
            rec = node.core.record(address)
            assert rec is not None
            flows = sum(
                1
                for f in self.net.flows
                if f.mn is node and f.address == address and f.stopped is None
            )
            if address == node.current_address:
                role = "current (native)" if rec.usable else "tentative (DAD)"
                keep = "native: nothing to keep"
            elif rec.released:
                role, keep = "released", "release: de-registering"
            else:
                role = (
                    "kept"
                    if rec.bul.state in (*_EXCHANGES, BulState.BOUND)
                    else rec.bul.state.value
                )
                why = f"{flows} flow(s)" if policy == "flows" else f"policy {policy}"
                keep = f"keep ({why})"
            rows.append(AddrRow(address, rec.prefix, self._dar_name(rec.dar), role, flows, keep))
        return AddressTable(node.name, policy, self.net.now, rows)

    def topo(self) -> TopologyView:
        """The topology: DARs, prefixes, who is on which link, where each MN is."""
        dars = [
            DarInfo(
                n.name,
                n.address,
                n.prefix,
                len(n.bindings()),
                [m for m in n.access.members if m != n.name],
            )
            for n in self.net.nodes.values()
            if isinstance(n, DarNode)
        ]
        hosts = [
            (n.name, n.address)
            for n in self.net.nodes.values()
            if isinstance(n, HostNode) and n.link is self.net.backbone
        ]
        mns, kept = [], []
        for n in self.net.nodes.values():
            if isinstance(n, MnNode):
                mns.append((n.name, n.link.name if n.link else None, n.current_address))
                kept += [(n.name, a, self._dar_name(e.dar)) for a, e in n.bul().items() if e.tunnel]
        return TopologyView(self.net.now, dars, hosts, mns, kept)

    def msc(
        self,
        since: float = 0.0,
        until: float | None = None,
        data: bool = False,
        title: str | None = None,
    ) -> Msc:
        """The message-sequence chart of [since, until] (``data=True``: data and tunnels too)."""
        since = duration(since, "msc(since=...)")
        until = None if until is None else duration(until, "msc(until=...)")
        extra = self.intercept.notes + self.notes
        return from_events(
            self.net,
            since=since,
            until=until,
            data=flag(data, "msc(data=...)"),
            extra=extra,
            title=title,
            helpers=self.helpers,
            alias=self.alias,
        )

    def latency(self, mn: MnNode | str | None = None) -> LatencyView:
        """Each attachment of an MN step by step: link up, RS, RA, CoA, each BU and BA, the first
        tunnelled packet each way (where every millisecond went, scapy_fama.latency)."""
        node = self.mn(mn)
        found = breakdowns(self.net.events, node.name)
        return LatencyView(node.name, [b.as_dict() for b in found if b is not None])

    # ---------------------------------------------------------------- packets

    def packets(self, kind: str | None = None) -> PacketList:
        """Every packet that crossed a link (once, however many links it crossed), in time order;
        ``kind="BU"``/``"BA"`` keeps those only."""
        seen: dict[bytes, float] = {}
        for link in self.net.links():
            for when, raw in link.captures:
                seen.setdefault(raw, when)
        if kind not in (None, "BU", "BA"):
            raise ValueError(f"packets(kind=...) takes 'BU' or 'BA', not {kind!r}")
        wanted = {"BU": BU, "BA": BA}.get(kind or "")
        out = []
        for raw, when in sorted(seen.items(), key=lambda item: item[1]):
            if wanted is None or mh_type(raw) == wanted:
                pkt = IPv6(raw)
                pkt.time = when
                out.append(pkt)
        return PacketList(out, name="fama")

    def _packet_of(self, hop: Hop) -> Packet:
        """The bytes ``hop`` carried, as a packet."""
        link = next(l for l in self.net.links() if l.name == hop.link)
        raw = next(r for when, r in link.captures if when == hop.time and decode(r) == hop.msg)
        return IPv6(raw)

    def _owner(self, address: str) -> MnNode | None:
        """The MN that holds or held ``address``."""
        for node in self.net.nodes.values():
            if isinstance(node, MnNode) and (
                address in node.addresses() or self.alias(address).startswith(f"{node.name}@")
            ):
                return node
        return None

    def verify(self, pkt: Packet | bytes) -> VerdictView:
        """Check a BU or BA; the PHKT and the MN key come from the topology when it knows them."""
        ip = self._ipv6(pkt)
        mh = find_mh(ip)
        ctx_hoa = self._home_of(ip)
        mn = self._owner(ctx_hoa) if ctx_hoa else None
        entry = mn.bul().get(ctx_hoa) if mn and ctx_hoa else None
        phkt = entry.phkt if entry else None
        if phkt is None and ctx_hoa:
            record = next(
                (
                    r
                    for n in self.net.nodes.values()
                    if isinstance(n, DarNode) and (r := n.record(ctx_hoa))
                ),
                None,
            )
            phkt = record.phkt if record else None
        token = entry.care_of.token if entry and entry.care_of else None
        keys = [
            f"PHKT of {self.alias(ctx_hoa)}" if phkt else "",
            f"{mn.name}'s key" if mn and isinstance(mh, MIP6MH_BA) else "",
        ]
        if isinstance(mh, MIP6MH_BA):
            verdict = verify_ba(
                ip, phkt=phkt, care_of_token=token, mn_keypair=mn.core.keypair if mn else None
            )
        else:
            verdict = verify_bu(ip, phkt=phkt, care_of_token=token)
        given = " and ".join(k for k in keys if k)
        return VerdictView.of(
            verdict, ip.summary(), f"(keys from the topology: {given})" if given else ""
        )

    def save(self, directory: str | Path = "out/fama-shell") -> Saved:
        """Write one pcap per link (backbone.pcap, dar1.pcap, ...)."""
        out = out_dir(directory, "save")
        return Saved({name: str(path) for name, path in self.net.pcaps(out).items()})

    # ---------------------------------------------------------------- crafting

    def probe(self, dar: DarNode | str) -> HostNode:
        """The helper host on ``dar``'s access link that send_to() and replay() send from."""
        node = self.dar(dar)
        name = f"probe-{node.name}"
        if name not in self.net.nodes:
            address = str(IPv6Network(node.prefix).network_address + PROBE_IID)
            self.net.add_cn(name, address, on=node)
            self.helpers.add(name)
        return self.host(name)

    def send_to(self, dar: DarNode | str, pkt: Packet | bytes, wait: float = 1.0) -> SendResult:
        """Deliver a crafted packet to ``dar`` (from a host on its link), run ``wait`` s, show the reply."""
        node = self.dar(dar)
        ip = self._ipv6(pkt)
        wait = self.runnable(wait, "send_to(wait=...)")
        start, seen = self.net.now, len(self.net.events)
        self.net.inject(self.probe(node), bytes(ip))
        self.advance(wait)
        outcome, replies = self.reaction(node, seen)
        chart = self._window(start, f"send_to {node.name}")
        return SendResult(node.name, ip.summary(), outcome, replies, chart)

    def reaction(self, dar: DarNode, seen: int) -> tuple[list[str], list[Packet]]:
        """What ``dar`` did since event number ``seen``: lines to show, and the packets it sent."""
        lines: list[str] = []
        replies: list[Packet] = []
        for e in self.net.events[seen:]:
            if (
                isinstance(e, Hop)
                and e.src == dar.name
                and not e.forwarded
                and isinstance(e.msg, MOBILITY)
            ):
                replies.append(self._packet_of(e))
                lines.append(
                    f"{dar.name} answers {label(e.msg, self.alias)} to {self.alias(e.msg.dst)}"
                )
            elif (
                isinstance(e, Hop)
                and e.src == dar.name
                and e.forwarded
                and isinstance(e.msg, MOBILITY)
            ):
                lines.append(
                    f"{dar.name} forwards it towards {e.msg.dst} (not addressed to {dar.name})"
                )
            elif isinstance(e, Undelivered) and e.node == dar.name and isinstance(e.msg, MOBILITY):
                lines.append(f"{dar.name} cannot carry it on: {e.reason}")
            elif isinstance(e, NodeEffect) and e.node == dar.name and isinstance(e.effect, Drop):
                lines.append(f"{dar.name} drops it: {e.effect.reason}")
            elif isinstance(e, NodeEffect) and e.node == dar.name and isinstance(e.effect, Notify):
                data = ", ".join(
                    f"{k}={self.alias(v) if isinstance(v, str) and ':' in v else v}"
                    for k, v in e.effect.data.items()
                )
                lines.append(f"{dar.name}: {e.effect.event} ({data})")
        return lines, replies

    # ---------------------------------------------------------------- breakpoints

    def brk(
        self, kind: str | int = "BU", node: Node | str | None = None, once: bool = True
    ) -> Breakpoint:
        """Stop before ``node`` (any node: None) sends a message of ``kind`` ("BU", "BA", 5, ...)."""
        return self.intercept.add(kind, self.node(node) if node is not None else None, flag(once, "brk(once=...)"))

    def brks(self) -> BreakpointTable:
        """The breakpoints set."""
        return BreakpointTable(list(self.intercept.breakpoints))

    def unbrk(self, number: int | None = None) -> BreakpointTable:
        """Remove breakpoint ``number`` (all: None)."""
        self.intercept.remove(number)
        return self.brks()

    def held(self, number: int | None = None) -> Held:
        """A held message (the latest unless ``number``): edit ``.pkt``, then release() or drop()."""
        return self.intercept.pick(number)

    def release(
        self, held: Held | int | None = None, raw: bool = False, wait: float = 0.0
    ) -> PacketView:
        """Send a held message (the latest unless given; re-signed and checksummed unless ``raw``);
        ``wait`` runs the net."""
        wait = self.runnable(wait, "release(wait=...)")
        sent = self.intercept.release(held, raw=flag(raw, "release(raw=...)"))
        if wait:
            self.advance(wait)
        return self.show(sent)

    def drop(self, held: Held | int | None = None) -> Held:
        """Discard a held message (the latest unless given): it never leaves (the sender retransmits)."""
        return self.intercept.drop(held)

    # ---------------------------------------------------------------- replay

    def replay(
        self,
        pcap: str | Path,
        target: DarNode | str,
        mode: str = "as-is",
        dar: str | None = None,
        iface: str | None = None,
        coa: str | Sequence[str] = (),
        wait: float = 1.0,
    ) -> ReplayResult:
        """Play a capture's BUs (to one DAR) against ``target``: ``"as-is"`` or ``"re-sign"``.

        ``pcap`` is a file or a folder of them (``save()``'s); ``dar`` picks the capture's
        DAR by address; ``iface`` replays on a real interface (``target``: an address;
        re-signed there needs ``coa``, this host's care-of address(es) that route back).
        The result shows the original and the replay as charts, side by side.
        """
        return replay(self, pcap, target, mode, dar=dar, iface=iface, coa=coa, wait=wait)
