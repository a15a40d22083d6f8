"""The fast path: every frame classified from raw bytes, data counted, signalling handed on.

Theory of operation
-------------------
Each IPv6 frame is read once by :func:`scapy_fama.wire.parse` and sorted by
where its extension-header chain ends::

    wire.parse(ip) --proto 135 (MH), 62 (pre-RFC MH), 58 (ICMPv6: ND)--> signalling handler
                   --proto 41--> wire.parse(inner) --> tunnel counter (outer src, outer dst,
                   |                                   inner src, inner dst): packets, bytes,
                   |                                   encapsulation overhead, packets per second
                   |             (an MH inside the tunnel also goes to the handler; an inner header
                   |             the snap length cut: inner addresses CUT_INNER, as tshark's ipv6:ipv6)
                   --anything else--> native counter per address (sent, received)

Only the handler (:mod:`scapy_fama.analysis.signalling`) ever builds a Scapy
packet. ``wire.parse`` costs about 3 µs; data packets of one flow repeat their
40-byte fixed header, so its answer is memoised by those 40 bytes whenever the
answer depended on them alone (no extension header, not a Mobility Header):
then a data frame costs a dictionary lookup.

Several capture points (pcapng interfaces, several files) see the same packet
as it crosses the network: a packet whose bytes (hop limit aside) were seen at
another capture point less than :data:`DUPLICATE_WINDOW` seconds earlier is the
same transmission, counted once; the handler still hears of the sighting (BU
to BA latency runs from the first sighting of the BU to the last of its BA).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from scapy_fama.analysis.reader import Frame
from scapy_fama.wire import WireInfo, parse

MH, OLD_MH, ICMPV6, IPV6_IN_IPV6 = 135, 62, 58, 41
SIGNALLING = {MH, OLD_MH, ICMPV6}
CUT_INNER = ""  # a tunnelled packet's inner address that the capture does not hold (snap length)
DUPLICATE_WINDOW = 1.0  # seconds: a packet seen again at another capture point within it is the same
RESUME_GAP = 0.5  # seconds without a packet after which a tunnelled stream's next packet is a start
MEMO_LIMIT = 1 << 16
SILENT_BLOCK = 4096  # seconds per_second() tests at once for traffic

# (file index, frame number): how findings and timelines name a packet
PacketRef = tuple[int, int]
Stream = tuple[str, str, str, str]  # outer source, outer destination, inner source, inner destination
Flow = tuple[bool, str, str, str]  # an inner flow (source, destination) from (True) or to (False) an outer address
# (packet, time, IPv6 bytes, what wire.parse read, capture point, seen before elsewhere) -> True when
# the packet was signalling (False: ICMPv6 that is data after all, counted as native)
SignalHandler = Callable[[PacketRef, float, bytes, WireInfo, int, bool], bool]
TICK = 1 << 14


@dataclass
class TunnelCount:
    """Traffic of one (outer src, outer dst, inner src, inner dst) IPv6-in-IPv6 stream.

    Packets per second are an array from second ``base`` on: 4 bytes a second, where a dict
    would take about a hundred (a long capture has many seconds per tunnel).
    """

    packets: int = 0
    bytes: int = 0  # outer packets, IPv6 header included
    overhead: int = 0  # outer minus inner: the encapsulation's cost
    first: float = 0.0
    last: float = 0.0
    base: int = 0
    counts: array[int] = field(default_factory=lambda: array("I"))
    # when the stream started again, after RESUME_GAP seconds without a packet or after its flow
    # went through another stream (Tunnels), and the first packet: a handover back to an earlier
    # CoA resumes a stream seen before
    starts: array[float] = field(default_factory=lambda: array("d"))
    flows: tuple[Flow, ...] = field(default=(), compare=False, repr=False)  # its key's (Tunnels), once made

    def bump(self, second: int, n: int = 1) -> None:
        """Add ``n`` packets at ``second`` (the fast path does the in-range case itself)."""
        if not self.counts:
            self.base = second
        i = second - self.base
        if i < 0:  # an earlier second (files merged out of order): grow at the front
            self.counts[0:0] = array("I", [0] * -i)
            self.base, i = second, 0
        if i >= len(self.counts):
            self.counts.extend([0] * (i + 1 - len(self.counts)))
        self.counts[i] += n

    def add_counts(self, base: int, counts: array[int]) -> None:
        """Add the per-second ``counts`` of another count from second ``base`` on, as :meth:`bump`
        would second by second (a whole array at once: the seconds of a day apart are many)."""
        if not counts:
            return
        if not self.counts:
            self.base, self.counts = base, array("I", counts)
            return
        if base < self.base:  # grow at the front, as bump
            self.counts[0:0] = array("I", [0]) * (self.base - base)
            self.base = base
        at, end = base - self.base, len(self.counts)
        if at > end:
            self.counts.extend(array("I", [0]) * (at - end))
        if at + len(counts) > end:  # past the end: a copy
            self.counts.extend(counts[max(end - at, 0):])
        for i in range(at, min(end, at + len(counts))):  # where both have seconds
            self.counts[i] += counts[i - at]

    def per_second(self) -> list[tuple[int, int]]:
        """(second, packets) of every second with traffic; a block of seconds without is skipped at
        once by its bytes (a stream seen on several days holds the days' seconds between)."""
        counts, out = self.counts, []
        data = counts.tobytes()
        width = SILENT_BLOCK * counts.itemsize
        silent = bytes(width)
        for at in range(0, len(data), width):
            if data[at : at + width] != silent[: len(data) - at]:
                first = at // counts.itemsize
                out += [(self.base + i, n) for i, n in enumerate(counts[first : first + SILENT_BLOCK], first) if n]
        return out

    def first_after(self, t: float) -> float | None:
        """The first packet at or after ``t`` that started the stream again (:attr:`starts`)."""
        at = bisect_left(self.starts, t)
        return self.starts[at] if at < len(self.starts) else None

    def add(self, other: TunnelCount) -> None:
        """Fold ``other`` (another stream of the same binding) into this count."""
        self.starts = array("d", sorted(set(self.starts) | set(other.starts)))
        self.first = min(self.first, other.first) if self.packets else other.first
        self.packets += other.packets
        self.bytes += other.bytes
        self.overhead += other.overhead
        self.last = max(self.last, other.last)
        self.add_counts(other.base, other.counts)


@dataclass
class NativeCount:
    """Plain (not tunnelled, not signalling) traffic from and to one address."""

    sent_packets: int = 0
    sent_bytes: int = 0
    received_packets: int = 0
    received_bytes: int = 0
    first: float = 0.0
    last: float = 0.0


class Tunnels(dict[Stream, TunnelCount]):
    """The tunnelled streams by key, and per inner flow (inner source and destination) the stream
    that carried its last packet from each outer source and to each outer destination.

    A stream starts again (:attr:`TunnelCount.starts`) after RESUME_GAP seconds without a packet,
    or when its flow went through another stream since its last packet: from the same outer source
    to another outer destination (a DAR tunnelling a HoA's traffic to another CoA, and then back),
    or to the same outer destination from another outer source (the MN sending from another CoA,
    then from this one again). An MN back at an earlier CoA within RESUME_GAP resumes that CoA's
    streams without a silence; the flow's detour is what says they started again.
    """

    def __init__(self) -> None:
        super().__init__()
        self.carrier: dict[Flow, TunnelCount] = {}  # the flow's last packet's stream


def _flows(key: Stream) -> tuple[Flow, Flow]:
    """A stream's flow from its outer source and to its outer destination (:class:`Tunnels`)."""
    return (True, key[0], key[2], key[3]), (False, key[1], key[2], key[3])


def count_tunnel(tunnels: Tunnels, key: Stream, now: float, size: int, overhead: int) -> None:
    """One packet of ``size`` bytes (``overhead`` of them encapsulation) of the stream ``key``."""
    count = tunnels.get(key)
    if count is None:
        count = tunnels[key] = TunnelCount(first=now, flows=_flows(key))
    carrier, (outward, inward) = tunnels.carrier, count.flows
    detour = carrier.get(outward, count) is not count or carrier.get(inward, count) is not count
    carrier[outward] = carrier[inward] = count
    count.packets += 1
    count.bytes += size
    count.overhead += overhead
    if now - count.last > RESUME_GAP or count.packets == 1 or detour:
        count.starts.append(now)
    count.last = now
    i = int(now) - count.base
    if 0 <= i < len(count.counts):
        count.counts[i] += 1
    else:
        count.bump(int(now))


def count_native(native: dict[str, NativeCount], src: str, dst: str, now: float, size: int) -> None:
    """One plain packet of ``size`` bytes from ``src`` to ``dst``."""
    for address, sent in ((src, True), (dst, False)):
        count = native.get(address)
        if count is None:
            count = native[address] = NativeCount(first=now)
        if sent:
            count.sent_packets += 1
            count.sent_bytes += size
        else:
            count.received_packets += 1
            count.received_bytes += size
        count.last = now


def fold_tunnels(tunnels: Tunnels, later: Tunnels) -> None:
    """Counts of a stretch of packets all later than those counted in ``tunnels``, folded in as
    :func:`count_tunnel` would have counted them one by one (``later`` is taken over): a stream's
    first packet in the stretch is a start after a silence, or when its flow went through another
    stream in between (before the stretch: another carried its last packet; in it: another has
    an earlier first packet)."""
    before = dict(tunnels.carrier)
    firsts: dict[Flow, list[tuple[float, Stream]]] = {}
    for key, part in later.items():
        for flow in _flows(key):
            firsts.setdefault(flow, []).append((part.first, key))
    for key, part in later.items():
        count = tunnels.get(key)
        if count is None:
            tunnels[key] = part
            continue
        detour = any(before.get(flow, count) is not count
                     or any(t < part.first for t, other in firsts[flow] if other != key) for flow in _flows(key))  # fmt: skip
        resumed = part.first - count.last > RESUME_GAP or detour  # its first packet: a start only then
        count.starts.extend(part.starts if resumed else part.starts[1:])
        count.packets += part.packets
        count.bytes += part.bytes
        count.overhead += part.overhead
        count.last = part.last
        count.add_counts(part.base, part.counts)
    key_of = {id(part): key for key, part in later.items()}
    tunnels.carrier.update((flow, tunnels[key_of[id(part)]]) for flow, part in later.carrier.items())


def fold_native(native: dict[str, NativeCount], later: dict[str, NativeCount]) -> None:
    """:func:`fold_tunnels` for plain traffic."""
    for address, part in later.items():
        count = native.get(address)
        if count is None:
            native[address] = part
            continue
        count.sent_packets += part.sent_packets
        count.sent_bytes += part.sent_bytes
        count.received_packets += part.received_packets
        count.received_bytes += part.received_bytes
        count.last = part.last


class Tap(Protocol):
    """Instead of deduplicating and counting, a fast path with a tap reports each IPv6 packet
    (:meth:`packet`, before what it became) and what it would count: a capture set's stage 1
    (:mod:`scapy_fama.analysis.batch`), whose copies only the merge of all files can see."""

    def packet(self, ip: bytes, now: float, vantage: int, signalling: bool) -> None: ...

    def tunnel(self, tunnels: object, key: tuple[str, str, str, str], now: float, size: int, overhead: int) -> None: ...

    def native(self, native: object, src: str, dst: str, now: float, size: int) -> None: ...


class Sightings:
    """Which packets are copies of one transmission (see the module doc): the same bytes, the
    hop limit aside, seen at another capture point at most :data:`DUPLICATE_WINDOW` seconds
    earlier. Fed in time order; two generations of a window each keep memory bounded."""

    def __init__(self) -> None:
        self._recent: dict[bytes, tuple[float, int]] = {}
        self._older: dict[bytes, tuple[float, int]] = {}
        self._generation = 0.0

    def earlier(self, ip: bytes, now: float, vantage: int) -> tuple[float, int] | None:
        """The earlier sighting of this packet at another capture point, if any; records this one."""
        return self.earlier_key(ip[:7] + ip[8:], now, vantage)  # the hop limit (byte 7) changes at every router

    def earlier_key(self, key: bytes, now: float, vantage: int) -> tuple[float, int] | None:
        """:meth:`earlier` by the packet's key (its bytes without the hop limit, or a digest of them)."""
        if now - self._generation > DUPLICATE_WINDOW:
            self._older, self._recent, self._generation = self._recent, {}, now
        earlier = self._recent.get(key) or self._older.get(key)
        if earlier is not None and earlier[1] != vantage and now - earlier[0] <= DUPLICATE_WINDOW:
            return earlier
        self._recent[key] = (now, vantage)
        return None


@dataclass
class Totals:
    frames: int = 0
    ipv6: int = 0
    other: int = 0  # not IPv6 (IPv4, ARP, ...)
    signalling: int = 0
    tunnelled: int = 0
    native: int = 0
    duplicates: int = 0  # the same packet seen again at another capture point
    unread: int = 0  # at a capture point in a link type the reader does not read: in none of the above (set by
    # analyze.finish from the capture points' frames; the fast path counts them as other, not knowing link types)


class FastPath:
    """Counts data, hands signalling to ``handler``; feed it frames with :meth:`consume`."""

    def __init__(self, handler: SignalHandler, *, vantages: int = 1, tap: Tap | None = None) -> None:
        self.handler = handler
        self.totals = Totals()
        self.tunnels = Tunnels()
        self.native: dict[str, NativeCount] = {}
        self.first_time: float | None = None
        self.last_time: float | None = None
        self._memo: dict[bytes, WireInfo] = {}
        self._dedupe = vantages > 1
        self._sightings = Sightings()
        self._tap = tap

    def _parse(self, ip: bytes) -> WireInfo | None:
        """``wire.parse``, memoised by the fixed header when nothing past it was read."""
        head = ip[:40]
        info = self._memo.get(head)
        if info is None:
            info = parse(ip)
            if info is not None and not info.ext and info.proto != MH and info.problem is None:
                if len(self._memo) >= MEMO_LIMIT:
                    self._memo.clear()
                self._memo[head] = info
        return info

    def consume(self, frames: Iterable[Frame], tick: Callable[[], None] | None = None) -> None:
        """Classify ``frames``; ``tick()`` is called every :data:`TICK` frames (progress bars).

        The loop is written for speed (locals, the memo looked up inline, no calls per data
        packet): it is the whole cost of a data frame.
        """
        totals, tunnels, native, handler = self.totals, self.tunnels, self.native, self.handler
        memo, parse_ip = self._memo.get, self._parse
        seen_elsewhere = self._sightings.earlier if self._dedupe and self._tap is None else None
        tap = self._tap.packet if self._tap is not None else None
        tunnel = self._tap.tunnel if self._tap is not None else count_tunnel
        plain = self._tap.native if self._tap is not None else count_native
        frames_seen = ipv6 = other = tunnelled = natives = 0
        now = first = None
        for number, now, ip, vantage, file_index in frames:
            frames_seen += 1
            if first is None:
                first = now
            if tick is not None and not frames_seen % TICK:
                tick()
            if ip is None:
                other += 1
                continue
            info = memo(ip[:40]) or parse_ip(ip)
            if info is None:
                other += 1
                continue
            ipv6 += 1
            proto = info.proto
            if tap is not None:
                tap(ip, now, vantage, proto in SIGNALLING)
            elif seen_elsewhere is not None and seen_elsewhere(ip, now, vantage) is not None:
                totals.duplicates += 1
                if proto in SIGNALLING:
                    handler((file_index, number), now, ip, info, vantage, True)
                continue
            if proto == IPV6_IN_IPV6:
                inner_ip = ip[info.upper :]
                inner = memo(inner_ip[:40]) or parse_ip(inner_ip)
                if inner is not None:
                    tunnelled += 1
                    size = 40 + info.payload_length
                    tunnel(tunnels, (info.src, info.dst, inner.src, inner.dst), now, size, size - 40 - inner.payload_length)
                    if inner.proto in (MH, OLD_MH):
                        handler((file_index, number), now, inner_ip, inner, vantage, False)
                    continue
                if 40 + info.payload_length > len(ip):  # the snap length cut the inner header: CUT_INNER
                    tunnelled += 1
                    tunnel(tunnels, (info.src, info.dst, CUT_INNER, CUT_INNER), now, 40 + info.payload_length,
                           info.upper)
                    continue
            elif (proto in SIGNALLING or proto is None) and handler((file_index, number), now, ip, info, vantage, False):
                totals.signalling += 1
                continue
            natives += 1
            plain(native, info.src, info.dst, now, 40 + info.payload_length)
        totals.frames += frames_seen
        totals.ipv6 += ipv6
        totals.other += other
        totals.tunnelled += tunnelled
        totals.native += natives
        if self.first_time is None:
            self.first_time = first
        if now is not None:
            self.last_time = now if self.last_time is None else max(self.last_time, now)
