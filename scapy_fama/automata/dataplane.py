"""Kernel mode's data plane: the tunnels' packets moved as bytes, in batches, in a thread of their own.

Theory of operation
-------------------
The automaton's thread carries the signalling and decides the tunnels; this
module carries what goes through them (RFC 2473 IPv6-in-IPv6, profile §8), so
that a saturated tunnel never queues in front of a BU, and a BU being verified
never stalls the tunnel. It never builds a Scapy packet::

    TUN --read, up to BATCH per wakeup--> TunnelTable.encapsulate (the tunnel of the inner
        HoA: its outer header, payload length filled in)  --sendto--> raw IPv6 socket
        (IPPROTO_RAW: the kernel routes the outer packet and resolves its next hop)
        DAR: a Mobility Header --Handoff (hop limit given back)--> the automaton, which routes
        it after what came before it (below)
    packet socket (BPF: Next Header 41 to this node, nothing else is copied to user space)
        --recv, up to BATCH per wakeup--> TunnelTable.decapsulate (anti-spoofing: the outer
        addresses must be the tunnel's ends, RFC 6275 §10.4.5 / §11.3.1)  --write--> TUN

Both the TUN and the packet socket put a virtio_net_hdr before each packet
(:mod:`scapy_fama.net.vnet`): what a DAR's kernel tunnel entry sends
(:mod:`scapy_fama.net.lwt`: TCP super-packets of up to 64 KB, partial checksums)
goes through the MN's data plane whole, one read and one write per super-packet,
and its kernel finishes it. The header read with a packet from the TUN (which has
no offloads: whole packets only) lands where the outer header is then written.

The automaton publishes a new :class:`TunnelTable` after every event that
changed its tunnels, once the kernel's routes follow them (:class:`Tables`: the
thread takes the newest at its next packet, never half of one, and the first
packet of every new tunnel is reported once, even when two tables were
published before that packet). A DAR that reads from its TUN a packet for an address of its own link
that has no tunnel any more (it came in while a de-registration was handled:
the MN is home) hands it back to the kernel, whose route now delivers it on
the link, instead of dropping it. A DAR's data plane tunnels no signalling: a
packet carrying a Mobility Header goes to the automaton (``handoff``, read with
its access port), which routes it in the order of what reached it: a BA another
DAR sends to an MN that has just come home (its CoA the HoA) is forwarded on the
link once the automaton has handled the home de-registration that came before
it, not tunnelled to the CoA the MN has left (profile §7; :mod:`scapy_fama.net.lwt`
sends the same packets here). A role with link emulation
(:mod:`scapy_fama.net.linkemu`) puts what it sends and what it takes in
through two delay lines, as its access port does for the signalling. A frame
taken in is held as it came and decapsulated when it is due, with the tables of
that moment, as if the link had delivered it then: a BA is held as long on the
access port, so the tunnel it opens stands before the packets that followed it
on the link are looked at (looked at on arrival, they found no tunnel for the
delay's length after every handover).

Drops are counted (``counts``) and logged at most once a second per reason;
the kernel's own multicast into the TUN (MLD reports) is dropped silently. The
packet socket reports once that its interface went down or away (ENETDOWN); the
data plane reads on, and leaves the link's change to the automaton's log (its
access port sees the same) and a new interface of the same name to the MN's
kernel path, which binds the socket to it at the next attachment.
"""

from __future__ import annotations

import errno
import os
import random
import select
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from scapy_fama.automata.ports import HANDOFF, Handoff
from scapy_fama.crypto import addr_bytes, prefix64
from scapy_fama.net import vnet
from scapy_fama.net.linkemu import DelayLine, LinkEmulation
from scapy_fama.net.vnet import PLAIN, VNET_HEADER
from scapy_fama.proto.effects import TunnelUp
from scapy_fama.wire import parse
from scapy_fama.wire.numbers import DATA_NEXT_HEADERS, IPV6_HEADER, IPV6_IN_IPV6
from scapy_fama.wire.read import addr
from scapy_fama.wire.write import ipv6

OUTER_HLIM = 64  # RFC 2473 §3.1: the tunnel entry point's default hop limit; profile §8
BATCH = 64  # packets moved per source and wakeup before the other source gets its turn
_LOG_EVERY = 1.0  # seconds between two log lines of one drop reason
# what the packet socket reports once when its interface goes down or away (net/faults.py)
_LINK_GONE = frozenset((errno.ENETDOWN, errno.ENXIO, errno.ENODEV))


@dataclass(frozen=True)
class Side:
    """Where the HoA sits in the inner header: of a packet going into the tunnel, and of one
    coming out (byte offsets of the source, 8, or the destination, 24); and which way, seen
    from the MN, a packet going into the tunnel travels (down: DAR -> MN, up: MN -> DAR)."""

    into: int
    out_of: int
    into_way: str
    out_way: str


DAR = Side(into=24, out_of=8, into_way="down", out_way="up")  # it tunnels what is for a HoA
MN = Side(into=8, out_of=24, into_way="up", out_way="down")  # it tunnels what is from a HoA


class TunnelTable:
    """The tunnels of one role, by HoA bytes, in the form the data plane uses them.

    ``home`` is a DAR's /64 and ``routed`` the HoAs its kernel still routes into the TUN:
    a packet for another address of that /64 may be handed back (:meth:`homeward`)."""

    def __init__(
        self,
        tunnels: Mapping[str, TunnelUp],
        side: Side,
        home: str | None = None,
        routed: frozenset[str] = frozenset(),
        before: Mapping[str, TunnelUp] | None = None,
    ) -> None:
        self.side = side
        self._home = None if home is None else prefix64(home)
        self._routed = frozenset(addr_bytes(a) for a in routed)
        self._into: dict[bytes, tuple[bytes, bytes, tuple[str, int]]] = {}
        self._ends: dict[bytes, bytes] = {}  # HoA -> outer source and destination of its packets in
        for hoa, tunnel in tunnels.items():
            head = ipv6(tunnel.local, tunnel.remote, IPV6_IN_IPV6, b"", OUTER_HLIM)
            self._into[addr_bytes(hoa)] = (head[:4], head[6:], (tunnel.remote, 0))
            self._ends[addr_bytes(hoa)] = addr_bytes(tunnel.remote) + addr_bytes(tunnel.local)
        # the tunnels new since ``before`` whose first packet each way the data plane reports
        # (the end of a handover, scapy_fama.latency); only the data plane's thread changes them
        new = {addr_bytes(h) for h, t in tunnels.items() if before is None or before.get(h) != t}
        self.fresh = {side.into_way: set(new), side.out_way: set(new)}

    def inherit(self, older: TunnelTable) -> None:
        """Wait as well for the first packets ``older`` still waits for, of the tunnels this
        table carries (``older`` is superseded by this one)."""
        for way, waiting in older.fresh.items():
            self.fresh[way] |= {hoa for hoa in waiting if self.carries(hoa)}

    def outer_header(self, inner: bytes | memoryview) -> tuple[bytes, tuple[str, int]] | None:
        """The IPv6 header that puts ``inner`` in its HoA's tunnel (RFC 2473 §3, profile §8), and
        where to send the whole; None: no tunnel carries it."""
        at = self.side.into
        found = self._into.get(bytes(inner[at : at + 16])) if len(inner) >= IPV6_HEADER else None
        if found is None:
            return None
        first, rest, to = found
        return b"".join((first, len(inner).to_bytes(2, "big"), rest)), to

    def decapsulate(self, outer: bytes | memoryview, upper: int = IPV6_HEADER) -> tuple[memoryview | None, str]:
        """The inner packet of ``outer`` (it starts at ``upper``), or None and why it is refused.

        Only a tunnel that stands takes a packet, and only from its far end: a DAR takes
        a packet from HoA_i only from the CoA registered for HoA_i, an MN one for HoA_i
        only from HoA_i's DAR (RFC 6275 §10.4.5 and §11.3.1, profile §8)."""
        end = IPV6_HEADER + int.from_bytes(outer[4:6], "big")
        if end > len(outer) or end - upper < IPV6_HEADER:
            return None, "truncated: the inner packet is cut short"
        at = upper + self.side.out_of
        ends = self._ends.get(bytes(outer[at : at + 16]))
        if ends is None:
            return None, f"no-tunnel: none carries {addr(outer, at)}"
        if outer[8:40] != ends:
            return None, f"spoofed-tunnel: {addr(outer, 8)} -> {addr(outer, 24)} is not the tunnel of {addr(outer, at)}"
        return memoryview(outer)[upper:end], ""

    def carries(self, hoa: bytes) -> bool:
        return hoa in self._into

    def homeward(self, inner: bytes | memoryview) -> bool:
        """Whether a DAR may hand ``inner`` back to its kernel: for an address of its own link
        that neither a tunnel nor a kernel route takes (the MN came home while it travelled)."""
        dst = bytes(inner[24:40])
        return self._home is not None and dst[:8] == self._home and dst not in self._into and dst not in self._routed


Log = Callable[..., None]  # LogSink.write bound to the node's name


class _Held:
    """Frames a link-emulating data plane held for their delay, given back as its packet socket
    gives frames (``recv_into``) once they are due."""

    def __init__(self, frames: list[bytes]) -> None:
        self._frames = deque(frames)

    def recv_into(self, into: memoryview) -> int:
        if not self._frames:
            raise BlockingIOError
        frame = self._frames.popleft()
        into[: len(frame)] = frame
        return len(frame)

    def __bool__(self) -> bool:
        return bool(self._frames)


class Tables:
    """The tunnel table published last and the one the data plane's thread uses, which becomes
    the published one at the thread's next packet. The first packet of each new tunnel is
    reported once (``TunnelTable.fresh``), however tables follow one another: a table
    superseded before the thread used it hands on what it waits for, as the thread's own
    does (of the tunnels the newer table carries). Only the thread's table has its waiting
    sets changed (``DataPlane._first``); the switch is under a lock."""

    def __init__(self, table: TunnelTable) -> None:
        self.published = self.used = table
        self._switch = threading.Lock()

    def publish(self, table: TunnelTable) -> None:
        """From the automaton's thread: ``table`` supersedes the published one."""
        with self._switch:
            if self.published is not self.used:  # superseded before the thread used it
                table.inherit(self.published)
            self.published = table

    def current(self) -> TunnelTable:
        """From the data plane's thread: the table to use now (the published one)."""
        table = self.published
        if table is not self.used:
            with self._switch:
                table = self.published
                table.inherit(self.used)
                self.used = table
        return table


class DataPlane:
    """The thread that moves the tunnels' packets (see the module's docstring).

    ``tun`` is the TUN's descriptor, ``receiver`` a packet socket (IPv6, no link header)
    whose BPF program passes the tunnelled packets for this node, ``mtu`` the largest packet
    the TUN gives. The TUN puts a virtio_net_hdr before each packet; with ``link`` the
    receiver is a raw socket that puts one before each frame, whose link header has ``link``
    bytes (the MN's, on its Ethernet access link). With ``handoff`` (a DAR's), what the TUN
    gives that carries a Mobility Header goes to the automaton instead of into a tunnel."""

    def __init__(
        self,
        tun: int,
        receiver: socket.socket,
        table: TunnelTable,
        log: Log,
        mtu: int,
        emulation: LinkEmulation | None = None,
        link: int | None = None,
        handoff: Handoff | None = None,
    ) -> None:
        self.tun = tun
        self.handoff = handoff
        self.receiver = receiver
        self.sender = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
        self.tables = Tables(table)
        self.log = log
        self.counts: Counter[str] = Counter()
        self._logged: dict[str, tuple[float, int]] = {}  # reason -> (last line, drops since)
        self._tx = memoryview(bytearray(IPV6_HEADER + mtu))  # outer header, then the packet read
        self.link = link
        self._rx = memoryview(bytearray(VNET_HEADER + (link or 0) + IPV6_HEADER + 0xFFFF))  # a whole super-packet
        self._rx_into = self._rx if link is not None else self._rx[VNET_HEADER:]  # where a frame is read to
        self._outer_at = VNET_HEADER + (link or 0)
        os.set_blocking(tun, False)
        receiver.setblocking(False)
        self._wake_r, self._wake_w = os.pipe()
        self._stopping = False
        self._out: DelayLine | None = None
        self._in: DelayLine | None = None
        if emulation is not None:
            rng = random.Random(emulation.seed)
            self._out = DelayLine(emulation.delay_ms / 2000, emulation.loss, rng)
            self._in = DelayLine(emulation.delay_ms / 2000, emulation.loss, rng)
        self._thread = threading.Thread(target=self._run, name="data-plane", daemon=True)
        self._thread.start()

    def publish(self, table: TunnelTable) -> None:
        """Use ``table`` from the next packet on (call it once the kernel's routes follow it)."""
        self.tables.publish(table)

    def stop(self) -> None:
        """End the thread (the receiver and the TUN are the caller's to close)."""
        if not self._stopping:
            self._stopping = True
            os.write(self._wake_w, b"x")
            self._thread.join()
            self.sender.close()
            os.close(self._wake_r)
            os.close(self._wake_w)

    # ---------------------------------------------------------------- the thread

    def _run(self) -> None:
        sources = [self.tun, self.receiver, self._wake_r]
        while not self._stopping:
            try:
                ready, _, _ = select.select(sources, [], [], self._wait())
                if self.tun in ready:
                    self._from_tun()
                if self.receiver in ready:
                    (self._from_link if self._in is None else self._hold)()
                if self._out is not None:
                    self._release(time.monotonic())
            except Exception as exc:  # noqa: BLE001 -- the data plane must outlive one bad packet
                self.log("error", "data-plane", why=f"{type(exc).__name__}: {exc}")

    def _wait(self) -> float | None:
        if self._out is None or self._in is None:
            return None
        due = [t for t in (self._out.next_at(), self._in.next_at()) if t is not None]
        return max(0.0, min(due) - time.monotonic()) if due else None

    def _from_tun(self) -> None:
        """Up to BATCH packets from the TUN into their tunnels (the loop is the data plane's whole
        cost per packet: locals, one table lookup, the header written in front of the bytes read)."""
        buffer, table, send = self._tx, self.tables.current(), self._send
        fresh = table.fresh[table.side.into_way]
        into = buffer[IPV6_HEADER - VNET_HEADER :]  # the virtio_net_hdr, then the packet
        done = 0
        try:
            for _ in range(BATCH):
                try:
                    n = os.readv(self.tun, [into]) - VNET_HEADER
                except BlockingIOError:
                    return
                inner = buffer[IPV6_HEADER : IPV6_HEADER + n]
                if (self.handoff is not None and n >= IPV6_HEADER and inner[6] not in DATA_NEXT_HEADERS
                        and self._hand_on(inner)):  # not data: a Mobility Header goes to the automaton
                    continue
                found = table.outer_header(inner)
                if found is not None:
                    buffer[:IPV6_HEADER] = found[0]
                    send(buffer[: IPV6_HEADER + n], found[1])
                    done += 1
                    if fresh:
                        self._first(fresh, table.side.into_way, inner, table.side.into)
                elif table.homeward(inner):
                    send(inner, (addr(inner, 24), 0))
                    self.counts["handed-back"] += 1
                elif n >= IPV6_HEADER and inner[24] != 0xFF:  # the kernel's own multicast (MLD): no one's data
                    self._drop(f"no-tunnel: none carries {addr(inner, table.side.into)}", inner)
        finally:
            if done:
                self.counts["encapsulated"] += done

    def _hand_on(self, inner: memoryview) -> bool:
        """Hand a packet read from the TUN that carries a Mobility Header to the automaton (True),
        with the hop the kernel took off when it forwarded it here given back: the automaton
        routes it as one hop itself. A BA for an MN back home, arriving while the automaton
        has not yet handled the de-registration that came before it, is thus routed after it."""
        packet = bytes(inner)
        info = parse(packet)
        if info is None or info.mh is None:
            return False
        if self.handoff is None or not self.handoff.hand(packet[:7] + bytes((min(packet[7] + 1, 255),)) + packet[8:]):
            self._drop(f"handoff-full: {HANDOFF} signalling packets wait for the automaton", inner)
        return True

    def _from_link(self, source: socket.socket | _Held | None = None) -> None:
        """Up to BATCH tunnelled packets from the packet socket (or the frames held that are due),
        decapsulated into the TUN (the inner packet's virtio_net_hdr written over the outer
        header's last bytes)."""
        buffer, into, at, link, table, tun = (self._rx, self._rx_into, self._outer_at, self.link, self.tables.current(),
                                              self.tun)  # fmt: skip
        recv_into = (source or self.receiver).recv_into
        fresh = table.fresh[table.side.out_way]
        end_of_read = len(buffer) - len(into)  # 0, or VNET_HEADER when the receiver gives none
        done = 0
        try:
            for _ in range(BATCH):
                try:
                    n = recv_into(into)
                except BlockingIOError:
                    return
                except OSError as exc:
                    if exc.errno in _LINK_GONE:  # reported once: the automaton logs the link's change
                        return
                    raise
                outer = buffer[at : end_of_read + n]
                upper = IPV6_HEADER
                if len(outer) > IPV6_HEADER and outer[6] != IPV6_IN_IPV6:  # extension headers first (RFC 2473 §4.1.1)
                    info = parse(bytes(outer))
                    if info is None or not info.tunnelled or info.upper is None:
                        continue  # signalling behind a Destination Options header: the automaton's
                    upper = info.upper
                inner, why = table.decapsulate(outer, upper)
                header = None if inner is None else PLAIN if link is None else vnet.inner(buffer[:VNET_HEADER], link + upper)
                if inner is None or header is None:
                    self._drop(why or "offload: a checksum starts in the outer header", outer)
                    continue
                if fresh:
                    self._first(fresh, table.side.out_way, inner, table.side.out_of)
                buffer[at + upper - VNET_HEADER : at + upper] = header
                os.write(tun, buffer[at + upper - VNET_HEADER : at + upper + len(inner)])
                done += 1
        finally:
            if done:
                self.counts["decapsulated"] += done

    def _hold(self) -> None:
        """Link emulation: up to BATCH frames from the packet socket into the delay line, as they
        came (decapsulated when due: :meth:`_release`, see the module's docstring)."""
        assert self._in is not None
        into, held = self._rx_into, self._in
        for _ in range(BATCH):
            try:
                n = self.receiver.recv_into(into)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno in _LINK_GONE:
                    return
                raise
            held.push(bytes(into[:n]), time.monotonic())

    def _first(self, fresh: set[bytes], way: str, inner: memoryview, at: int) -> None:
        """Report the first packet of a new tunnel that goes ``way`` (one event per tunnel and way)."""
        hoa = bytes(inner[at : at + 16])
        if hoa in fresh:
            fresh.discard(hoa)
            self.log("event", "first-packet", hoa=addr(hoa, 0), way=way)

    def _send(self, packet: memoryview, to: tuple[str, int]) -> None:
        if self._out is not None:
            self._out.push((bytes(packet), to), time.monotonic())
            return
        try:
            self.sender.sendto(packet, to)
        except OSError as exc:  # no route (the link is down): lost, as on the wire
            self._drop(f"unsent: {exc.strerror or exc}", packet)

    def _release(self, now: float) -> None:
        assert self._out is not None and self._in is not None
        for packet, to in self._out.due(now):
            try:
                self.sender.sendto(packet, to)
            except OSError as exc:
                self._drop(f"unsent: {exc.strerror or exc}", packet)
        held = _Held(self._in.due(now))
        while held:
            self._from_link(held)

    def _drop(self, why: str, packet: bytes | memoryview) -> None:
        reason = why.split(":", 1)[0]
        self.counts[f"dropped-{reason}"] += 1
        now = time.monotonic()
        last, since = self._logged.get(reason, (-_LOG_EVERY, 0))
        if now - last < _LOG_EVERY:
            self._logged[reason] = (last, since + 1)
            return
        self._logged[reason] = (now, 0)
        src, dst = (addr(packet, 8), addr(packet, 24)) if len(packet) >= IPV6_HEADER else ("::", "::")
        self.log("drop", "DATA", src=src, dst=dst, why=why, more=since or None)
