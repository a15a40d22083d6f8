"""Message-sequence charts: what happened on a SimNet (or in a capture), drawn on life lines.

Theory of operation
-------------------
A chart is a list of :class:`MscRow`, each a message (an arrow from the node
that originated it to the node it was for) or a note (on one life line, or
across the chart for a move). :func:`from_events` builds one from a SimNet's
event log; the replay builds another from a capture. A message relayed by
routers is one arrow, its relays listed in ``via`` (the draft's figures draw
the BU from the MN straight to DAR1, though it crosses DAR2)::

    SimNet events                                    chart rows
    Change mn link-down dar1 + link-up dar2     ->   ─── 3.000 mn moves dar1 -> dar2 ───
    Hop mn->dar2 BU, Hop dar2->dar1 BU (fwd)    ->   mn ──BU 4711 mn@dar1 cga+sig──●──▶ dar1
    NodeEffect dar1 Notify binding-created      ->   dar1: binding mn@dar1 -> mn@dar2
    Hop dar1->dar2 BA, Hop dar2->mn BA (fwd)    ->   dar1 ──BA 0 4711 phkt+bad──●──▶ mn

Addresses are shown by who owns them: a DAR's address by its name, an MN's
CGA as ``mn@dar1`` (the MN's address from DAR1's prefix), a host's by its
name. The rows keep the message type and status, so a script (or the replay)
compares two charts by ``sequence()``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from fama_shell.views import View
from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text

from scapy_fama.crypto import prefix64
from scapy_fama.net.sim import SimNet
from scapy_fama.net.sim_events import Change, Event, Hop, NodeEffect, Undelivered
from scapy_fama.net.sim_topology import DarNode, HostNode, MnNode
from scapy_fama.proto.effects import Drop, Notify
from scapy_fama.proto.messages import (
    KINDS,
    BindingAck,
    BindingError,
    Datagram,
    Message,
    RouterAdvertisement,
    RouterSolicitation,
    Tunnelled,
    describe,
)

TYPE_NAMES = KINDS  # message class -> "BU", "BA", ..., as the automata's logs name them
SIGNALLING = tuple(c for c in KINDS if c not in (Datagram, Tunnelled))  # undecodable ones too
MOBILITY = tuple(c for c in SIGNALLING if c not in (RouterSolicitation, RouterAdvertisement))
DAR_EVENTS = {"binding-created", "binding-updated", "binding-deleted", "binding-expired"}
MN_EVENTS = {"address-configured", "address-released", "address-lost", "bu-refused"}
STYLES = {
    "BU": "cyan",
    "CoTI": "magenta",
    "CoT": "magenta",
    "BE": "yellow",
    "RS": "dim",
    "RA": "dim",
}
TIME_WIDTH = 9


@dataclass(frozen=True)
class MscRow:
    """A message (``dst`` set) or a note (``dst`` None) at ``time``."""

    time: float
    src: str
    dst: str | None
    label: str
    mtype: str | None = None  # "BU", "BA", ...; None for a note
    status: int | None = None  # of a BA or a BE
    via: tuple[str, ...] = ()
    fate: str | None = None  # None: arrived; else why it never did ("lost: ...", "held")
    move: bool = False  # a note across the chart (a node moved, a DAR restarted)


@dataclass
class Msc(View):
    """A message-sequence chart: life lines ``nodes`` and ``rows`` in time order."""

    title: str
    nodes: list[str]
    rows: list[MscRow] = field(default_factory=list)

    def messages(self, mtype: str | None = None) -> list[MscRow]:
        return [r for r in self.rows if r.dst is not None and mtype in (None, r.mtype)]

    def sequence(self) -> list[tuple[str, int | None]]:
        """(type, status) of every message: what the replay compares."""
        return [(r.mtype or "", r.status) for r in self.messages()]

    def __rich__(self) -> Msc:
        return self

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Text(self.title, "bold")
        if not self.rows:
            yield Text("  (nothing happened)", "dim")
            return
        width = max(10, min(26, (options.max_width - TIME_WIDTH) // max(1, len(self.nodes))))
        chart = _Chart(self.nodes, width, options.max_width)
        yield chart.header()
        for row in self.rows:
            yield from chart.row(row)


class _Chart:
    """Draws rows as lines of text: a column per life line, ``width`` characters each; a note or
    a label that would pass the right edge (``limit``) is drawn to the left of its place."""

    def __init__(self, nodes: list[str], width: int, limit: int) -> None:
        self.width = width
        self.limit = limit
        self.x = {name: TIME_WIDTH + i * width + width // 2 for i, name in enumerate(nodes)}
        self.end = TIME_WIDTH + len(nodes) * width

    def _blank(self) -> list[str]:
        line = [" "] * self.end
        for x in self.x.values():
            line[x] = "│"
        return line

    def header(self) -> Text:
        line = [" "] * self.end
        for name, x in self.x.items():
            start = max(0, x - len(name) // 2)
            line[start : start + len(name)] = name[: self.width - 1]
        return Text("".join(line).rstrip(), "bold")

    def _node_x(self, name: str) -> int:
        return self.x.get(name, self.end - 1)

    def row(self, row: MscRow) -> Iterator[Text]:
        stamp = f"{row.time:8.3f} "
        if row.move:
            yield Text(
                f"{stamp}── {row.label} "
                + "─" * max(0, self.end - TIME_WIDTH - len(row.label) - 4),
                "yellow",
            )
            return
        line = self._blank()
        if row.dst is None:
            x = self._node_x(row.src)
            text = f"├ {row.label}"
            if x + len(text) > self.limit:  # the last life line's note: on its left
                text = f"{row.label} ┤"
                x = max(TIME_WIDTH, x - len(text) + 1)
            line[x : x + len(text)] = text
            yield Text(
                stamp + "".join(line)[TIME_WIDTH:].rstrip(),
                "dim" if "drops" not in row.label else "red",
            )
            return
        a, b = self._node_x(row.src), self._node_x(row.dst)
        lo, hi = min(a, b), max(a, b)
        for x in range(lo + 1, hi):
            line[x] = "─"
        for relay in row.via:
            x = self._node_x(relay.split(" ")[0])
            if lo < x < hi:
                line[x] = "●"
        head = "✗" if row.fate else ("▶" if b > a else "◀")
        line[b - 1 if b > a else b + 1] = head
        via = f" via {','.join(row.via)}" if row.via else ""
        label = f" {row.label}{via}{f' ({row.fate})' if row.fate else ''} "
        style = STYLES.get(row.mtype or "", "green" if (row.status or 0) < 128 else "bold red")
        if len(label) <= hi - lo - 4:
            start = lo + 2 + (hi - lo - 3 - len(label)) // 2
            line[start : start + len(label)] = label
        else:
            above = self._blank()
            start = max(TIME_WIDTH, min(lo + 1, self.limit - len(label)))
            above[start : start + len(label)] = label
            yield Text(" " * TIME_WIDTH + "".join(above)[TIME_WIDTH:].rstrip(), style)
        yield Text(stamp + "".join(line)[TIME_WIDTH:].rstrip(), style)


class Aliases:
    """Names for addresses: DARs and hosts by name, an MN's CGAs as ``mn@dar``."""

    def __init__(self, net: SimNet) -> None:
        self._net = net
        self.extra: dict[str, str] = {}  # names a shell gives to addresses of its own (replays)

    def __call__(self, address: str | None) -> str:
        if address is None:
            return "-"
        if address in self.extra:
            return self.extra[address]
        for node in self._net.nodes.values():
            if isinstance(node, DarNode) and address == node.address:
                return node.name
            if isinstance(node, HostNode) and address == node.address:
                return node.name
        for node in self._net.nodes.values():
            if isinstance(node, MnNode):
                anchor = self.anchor(address)
                if address in node.addresses() or self._known_to(node, address):
                    return f"{node.name}@{anchor}"
        return address

    def anchor(self, address: str) -> str:
        """The name of the DAR whose prefix holds ``address`` ("?" if none does)."""
        raw = prefix64(address)
        dar = next(
            (
                n
                for n in self._net.nodes.values()
                if isinstance(n, DarNode) and n.prefix_bytes == raw
            ),
            None,
        )
        return dar.name if dar else "?"

    def _known_to(self, mn: MnNode, address: str) -> bool:
        """Whether ``mn`` used ``address`` at some point (released addresses leave the core)."""
        return any(
            isinstance(e, NodeEffect)
            and e.node == mn.name
            and isinstance(e.effect, Notify)
            and e.effect.data.get("address") == address
            for e in self._net.events
        )


def label(msg: Message, alias: Callable[[str | None], str]) -> str:
    """A short label of a message for a chart row."""
    return describe(msg, short=True, name=alias)


def status_of(msg: Message) -> int | None:
    return msg.status if isinstance(msg, (BindingAck, BindingError)) else None


def _same(a: Message, b: Message) -> bool:
    """``b`` is ``a`` one hop on (routers keep the addresses; a tunnel keeps its outer ones)."""
    return (
        type(a) is type(b)
        and (a.src, a.dst) == (b.src, b.dst)
        and getattr(a, "seq", None) == getattr(b, "seq", None)
    )


def _unwrap(msg: Message) -> Message:
    while isinstance(msg, Tunnelled):
        msg = msg.inner
    return msg


def carries(hop: Hop, msg: Message) -> bool:
    """``hop`` relays ``msg``: forwarded as it is, or inside a tunnel a DAR made (§8)."""
    return (hop.forwarded or isinstance(hop.msg, Tunnelled)) and _same(msg, _unwrap(hop.msg))


@dataclass
class _Chain:
    first: Hop
    last: Hop
    via: list[str]
    fate: str | None = None


def _originated(hops: list[Hop], helpers: Collection[str]) -> Iterator[Hop]:
    """One hop per message sent (a multicast reaches several nodes: a node that is not a
    helper of the shell stands for them)."""
    groups: dict[tuple[float, str, int], list[Hop]] = {}
    for hop in hops:
        if not hop.forwarded:
            groups.setdefault((hop.time, hop.src, id(hop.msg)), []).append(hop)
    for group in groups.values():
        yield min(group, key=lambda h: h.dst in helpers)


def _fate(chain: _Chain, at: dict[float, list[Event]]) -> str | None:
    """Why the message never reached a node that took it: lost, undeliverable, dropped."""
    last = chain.last
    if last.lost is not None:
        return f"lost: {last.lost}"
    msg = chain.first.msg
    for e in at.get(last.arrival, []):
        if isinstance(e, Undelivered) and e.node == last.dst and _same(msg, e.msg):
            return e.reason.split(":")[0]
        dropped = isinstance(e, NodeEffect) and e.node == last.dst and isinstance(e.effect, Drop)
        if dropped and e.effect.code == "not-for-me":  # type: ignore[union-attr]
            continue  # a plain host got it and has no use for it: it did arrive
        if dropped and _same(msg, _unwrap(e.effect.msg)):  # type: ignore[union-attr]
            return f"{last.dst} drops it: {e.effect.code}"  # type: ignore[union-attr]
    return None


def _chains(
    events: list[Event], kinds: tuple[type, ...], helpers: Collection[str]
) -> Iterator[_Chain]:
    """Follow each originated message of ``kinds`` through the routers that relayed it."""
    hops = [e for e in events if isinstance(e, Hop)]
    at: dict[float, list[Event]] = {}  # time -> the events then
    for e in events:
        at.setdefault(e.time, []).append(e)
    sent_by: dict[tuple[str, float], list[Hop]] = {}  # (node, time) -> the hops it sent then
    for h in hops:
        sent_by.setdefault((h.src, h.time), []).append(h)
    for hop in _originated([h for h in hops if isinstance(h.msg, kinds)], helpers):
        chain = _Chain(hop, hop, [])
        while chain.last.lost is None:
            last = chain.last
            nxt = next(
                (h for h in sent_by.get((last.dst, last.arrival), []) if carries(h, hop.msg)), None
            )
            if nxt is None:
                break
            chain.via.append(last.dst + ("" if nxt.forwarded else " (tunnel)"))
            chain.last = nxt
        chain.fate = _fate(chain, at)
        yield chain


def _notes(events: list[Event], alias: Aliases, net: SimNet, every_event: bool) -> Iterator[MscRow]:
    moves: dict[tuple[float, str], str] = {}
    for e in events:
        if isinstance(e, Change):
            if e.what == "link-down":
                moves[(e.time, e.node)] = e.link or "?"
            elif e.what == "link-up":
                old = moves.pop((e.time, e.node), None)
                text = (
                    f"{e.node} moves {old} -> {e.link}" if old else f"{e.node} attaches to {e.link}"
                )
                yield MscRow(e.time, e.node, None, text, move=True)
            else:
                yield MscRow(
                    e.time, e.node, None, f"{e.node} restarts: empty binding cache", move=True
                )
        elif isinstance(e, NodeEffect) and isinstance(e.effect, Notify):
            yield from _notify_note(e, alias, net, every_event)
        elif (
            isinstance(e, NodeEffect)
            and isinstance(e.effect, Drop)
            and isinstance(e.effect.msg, MOBILITY)
        ):
            what = TYPE_NAMES[type(e.effect.msg)]
            yield MscRow(e.time, e.node, None, f"drops {what}: {e.effect.code}")
    for (time, node), link in moves.items():
        yield MscRow(time, node, None, f"{node} leaves {link}", move=True)


def note_text(
    is_dar: bool, event: str, data: dict[str, object], alias: Callable[[str | None], str]
) -> str | None:
    """The note a DAR's binding event or an MN's address event makes on its life line (else None)."""
    if is_dar and event in DAR_EVENTS:
        coa = f" -> {alias(str(data['coa']))}" if "coa" in data and event != "binding-deleted" else ""
        return f"{event.removeprefix('binding-')}: {alias(str(data['hoa']))}{coa}"
    if not is_dar and event in MN_EVENTS:
        status = f" {data['status']}" if "status" in data else ""
        return f"{event}{status} {alias(str(data['address']))}"
    return None


def _notify_note(e: NodeEffect, alias: Aliases, net: SimNet, every_event: bool) -> Iterator[MscRow]:
    """The note of a DAR's binding event or an MN's address event; with ``every_event`` (a
    step's close-up) any other event of a node too, with the address it is about."""
    assert isinstance(e.effect, Notify)
    node = net.nodes.get(e.node)
    if isinstance(node, (DarNode, MnNode)):
        data = e.effect.data
        text = note_text(isinstance(node, DarNode), e.effect.event, data, alias)
        if text is None and every_event:
            about = data.get("address", data.get("hoa"))
            text = e.effect.event + ("" if about is None else f" {alias(str(about))}")
        if text is not None:
            yield MscRow(e.time, e.node, None, text)


def from_events(
    net: SimNet,
    *,
    since: float = 0.0,
    until: float | None = None,
    data: bool = False,
    extra: Iterable[MscRow] = (),
    title: str | None = None,
    helpers: Collection[str] = (),
    alias: Aliases | None = None,
    only: Sequence[Event] | None = None,
    shown: int = 0,
) -> Msc:
    """The chart of ``net``'s events in [since, until], or of the events ``only`` (a step's
    close-up: then every node event is noted); ``data`` adds data and tunnel arrows.

    ``extra`` rows (a shell's notes) in [since, until] join in time order; ``helpers`` name
    the nodes a shell added (probes), drawn only when they take part. The events before index
    ``shown`` were on an earlier chart that ended at ``since``: their notes are not drawn
    again, while a message of theirs is, when its path goes on in this one."""
    end = net.now if until is None else until
    if only is None:
        events = [e for e in net.events if since <= e.time <= end]
        unseen = [e for e in net.events[shown:] if since <= e.time <= end]
    else:
        events = unseen = list(only)
    alias = alias or Aliases(net)
    kinds = SIGNALLING + ((Datagram, Tunnelled) if data else ())
    rows = [
        MscRow(
            c.first.time,
            c.first.src,
            c.last.dst,
            label(c.first.msg, alias),
            TYPE_NAMES.get(type(c.first.msg), type(c.first.msg).__name__),
            status_of(c.first.msg),
            tuple(c.via),
            c.fate,
        )
        for c in _chains(events, kinds, helpers)
    ]
    rows += list(_notes(unseen, alias, net, every_event=only is not None))
    rows += [r for r in extra if since <= r.time <= end]
    rows.sort(key=lambda r: (r.time, 0 if r.move else 1))  # stable: log order within an instant
    order = [n.name for n in net.nodes.values() if isinstance(n, DarNode)]
    order += [n.name for n in net.nodes.values() if isinstance(n, MnNode)]
    used = {r.src for r in rows} | {r.dst for r in rows if r.dst}
    order += [n.name for n in net.nodes.values() if isinstance(n, HostNode) and n.name in used]
    return Msc(title or f"t = {since:.3f} .. {end:.3f} s", order, rows)
