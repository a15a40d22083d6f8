"""Proxy Mobile IPv6 (RFC 5213) in a capture: MAG, LMA, mobile node, its prefixes and moves.

Theory of operation
-------------------
A PMIPv6 capture holds no FAMA MN: a Mobile Access Gateway registers each
mobile node at the Local Mobility Anchor for it, with Proxy BUs from its own
address (no Home Address option) that name the node by a Mobile Node
Identifier and its Home Network Prefixes (RFC 5213 §5.3, §6.9)::

    MAG1 --PBU(seq, MN-ID, HNP, Timestamp, lifetime)--> LMA    (P flag, RFC 5213 §8.1)
    MAG1 <--PBA(status, seq, MN-ID, HNP, Timestamp)---- LMA    binding MN-ID -> MAG1
    the node moves:      MAG2 --PBU--> LMA, PBA 0                 binding MN-ID -> MAG2 (a handover)
                         MAG1 --PBU(lifetime 0)--> LMA            de-registration by a MAG that no
                                                                  longer holds it: ignored (§5.3.5)
    MAG <==IPv6-in-IPv6==> LMA                                    one tunnel per MAG-LMA pair (§5.6.1)

:func:`read_proxy` recognises a proxy message from its own bytes: the P flag,
or a Home Network Prefix option (type 22), or the layout of the pmip6d daemon
seen in OpenAirInterface's captures, which predates RFC 5213's numbers (types
7, 8, 9, 10: :mod:`scapy_fama.layers.pmip`) and clears the P flag. The option
contents are read by the Scapy classes of that module from the byte spans
``wire.parse`` found.

:class:`ProxyReconstruction` keeps one :class:`ProxyBinding` per (MN-ID, LMA):
its PBU/PBA exchanges (a PBA answers the pending PBU from its MAG with its
sequence number), the MAG holding it and the handovers between MAGs: an accepted
registration from another MAG than the last one. A de-registration (lifetime 0,
RFC 5213 §5.3.5, §6.9.1.3) ends the binding only when it comes from the MAG
holding it; one from a MAG the node has left is ignored. The ordering rule is
RFC 5213 §5.5's: with a Timestamp option, a PBU older than the last accepted one
is stale (the LMA answers 157) and one outside the LMA's validity window is
refused (156), and the sequence number only pairs a PBA with its PBU; without
timestamps, sequence numbers order PBUs as in RFC 6275 §9.5.1.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from scapy.layers.inet6 import MIP6OptMNID
from scapy.packet import Packet

from scapy_fama.analysis.answer import Answered
from scapy_fama.analysis.classify import PacketRef, TunnelCount
from scapy_fama.analysis.findings import Findings
from scapy_fama.proto.seqno import seq_newer
from scapy_fama.layers.pmip import (
    HomeNetworkPrefixOpt,
    LinkLocalAddressOpt,
    Pmip6dMnIdOpt,
    TimestampOpt,
)
from scapy_fama.wire import MHInfo, WireInfo

if TYPE_CHECKING:
    from scapy_fama.analysis.signalling import Signal

RFC5213, PMIP6D = "RFC 5213", "pmip6d (pre-RFC 5213)"
P_FLAG = {5: 0x0200, 6: 0x20}  # BU flags word, BA flag byte (RFC 5213 §8.1, §8.2)
RFC_TYPES = {22, 23, 24, 25, 26, 27}
# option type -> (name, the data length its definition allows, the class that reads it)
RFC_OPTIONS: dict[int, tuple[str, int, type[Packet] | None]] = {
    8: ("Mobile Node Identifier", -1, MIP6OptMNID), 22: ("Home Network Prefix", 18, HomeNetworkPrefixOpt),
    23: ("Handoff Indicator", 2, None), 24: ("Access Technology Type", 2, None),
    26: ("Link-local Address", 16, LinkLocalAddressOpt), 27: ("Timestamp", 8, TimestampOpt),
}  # fmt: skip
PMIP6D_OPTIONS: dict[int, tuple[str, int, type[Packet] | None]] = {
    7: ("Home Network Prefix (pmip6d)", 18, HomeNetworkPrefixOpt), 8: ("Mobile Node Identifier (pmip6d)", 10, Pmip6dMnIdOpt),
    9: ("Timestamp (pmip6d)", 8, TimestampOpt), 10: ("Link-local Address (pmip6d)", 16, LinkLocalAddressOpt),
}  # fmt: skip
TIMESTAMP_WINDOW = 60.0  # s between a PBU's timestamp and the capture's clock beyond which it is not a clock reading
EXCHANGES_KEPT = 64  # per binding, as for FAMA bindings


@dataclass(frozen=True)
class ProxyInfo:
    """What a Proxy BU or BA says about the mobile node."""

    codepoints: str  # RFC5213 or PMIP6D
    mn_id: str | None  # an NAI, an interface identifier, or "subtype N: hex"
    hnps: tuple[str, ...] = ()
    timestamp: float | None = None  # seconds since the epoch (RFC 5213 §8.8)
    link_local: str | None = None


def option_table(codepoints: str) -> dict[int, tuple[str, int, type[Packet] | None]]:
    return PMIP6D_OPTIONS if codepoints == PMIP6D else RFC_OPTIONS


def _codepoints(info: WireInfo, mh: MHInfo) -> str | None:
    flag = P_FLAG.get(mh.mhtype)
    if flag is None:
        return None
    types = {t for t, _, _ in mh.options}
    if (mh.flags or 0) & flag or types & RFC_TYPES:
        return RFC5213
    sizes = {(t, n) for t, _, n in mh.options}
    if info.hoa is None and info.rh2 is None and {(7, 18), (8, 10)} <= sizes:
        return PMIP6D
    return None


def _mn_id(opt: Packet) -> str:
    if isinstance(opt, Pmip6dMnIdOpt):
        iid = bytes(opt.iid)
        return ":".join(iid[i : i + 2].hex() for i in range(0, 8, 2))
    ident = bytes(opt.id)
    if int(opt.subtype) == 1:  # NAI (RFC 4283 §3)
        return ident.decode("utf-8", "replace")
    return f"subtype {int(opt.subtype)}: {ident.hex()}"


def read_proxy(ip: bytes, info: WireInfo) -> ProxyInfo | None:
    """The PMIPv6 content of a BU or BA (None when it is not a proxy message)."""
    mh = info.mh
    assert mh is not None
    codepoints = _codepoints(info, mh)
    if codepoints is None:
        return None
    table = option_table(codepoints)
    mn_id, hnps, timestamp, link_local = None, [], None, None
    for otype, start, size in mh.options:
        at = mh.offset + start
        cls = table.get(otype, ("", 0, None))[2]
        if cls is None or at + 2 + size > len(ip) or table[otype][1] not in (-1, size):
            continue
        opt = cls(ip[at : at + 2 + size])
        if isinstance(opt, (MIP6OptMNID, Pmip6dMnIdOpt)):
            mn_id = _mn_id(opt)
        elif isinstance(opt, HomeNetworkPrefixOpt):
            hnps.append(f"{opt.prefix}/{int(opt.plen)}")
        elif isinstance(opt, TimestampOpt):
            timestamp = opt.epoch
        elif isinstance(opt, LinkLocalAddressOpt):
            link_local = str(opt.address)
    return ProxyInfo(codepoints, mn_id, tuple(hnps), timestamp, link_local)


@dataclass(slots=True, eq=False)
class ProxyExchange(Answered):
    """One Proxy BU and the Proxy BA that answered it."""

    pbu: PacketRef
    time: float
    mag: str
    seq: int
    lifetime: int
    ack: bool
    timestamp: float | None
    retransmissions: int = 0
    ignored_for: str | None = None  # a de-registration ignored: the MAG that holds the binding (§5.3.5)
    pba: PacketRef | None = None
    ba_time: float | None = None
    ba_last_seen: float | None = None
    status: int | None = None
    granted: int | None = None

    @property
    def deregistration(self) -> bool:
        """RFC 5213 §5.3.5, §6.9.1.2: a PBU with lifetime 0."""
        return self.lifetime == 0



@dataclass
class ProxyHandover:
    """The mobile node's binding moved to another MAG."""

    time: float  # the new MAG's PBU
    mag: str
    previous: str
    end: float | None = None  # the PBA that accepted it

    @property
    def duration(self) -> float | None:
        return None if self.end is None else self.end - self.time


@dataclass
class ProxyBinding:
    """One mobile node at one LMA: what its MAGs registered and where it is."""

    node: str  # the MN Identifier, or "MAG <address>" for PBUs without one (RFC 5213 §8.1 requires it)
    mn_id: str | None
    lma: str
    codepoints: str
    hnps: list[str] = field(default_factory=list)
    link_local: str | None = None
    exchanges: list[ProxyExchange] = field(default_factory=list)
    exchange_count: int = 0
    pending: list[ProxyExchange] = field(default_factory=list)
    state: str = "unknown"  # registered, de-registered, refused, pending, unknown
    mag: str | None = None  # the MAG holding the binding
    registered_by: str | None = None  # the MAG of the last accepted registration (handovers)
    handovers: list[ProxyHandover] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    last_seq: int | None = None
    last_timestamp: float | None = None  # of the last accepted PBU

    def latencies(self) -> list[float]:
        return [ex.latency for ex in self.exchanges if ex.latency is not None]

    def median_latency(self) -> float | None:
        lat = self.latencies()
        return statistics.median(lat) if lat else None


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).isoformat(timespec="seconds")


def mac_of(mn_id: str) -> str | None:
    """The MAC address a modified EUI-64 interface identifier ("0214:6cff:fe53:180a") was made
    from (RFC 4291 App. A: ff:fe in the middle, the universal/local bit inverted), else None."""
    groups = mn_id.split(":")
    if len(groups) != 4 or not all(len(g) == 4 for g in groups):
        return None
    try:
        iid = bytes.fromhex("".join(groups))
    except ValueError:
        return None
    if iid[3:5] != b"\xff\xfe":
        return None
    mac = bytes([iid[0] ^ 0x02]) + iid[1:3] + iid[5:]
    return ":".join(f"{b:02x}" for b in mac)


class ProxyReconstruction:
    """Feed Proxy BUs and BAs in capture order; :attr:`bindings` holds the result."""

    def __init__(self, findings: Findings) -> None:
        self.findings = findings
        self.bindings: dict[tuple[str, str], ProxyBinding] = {}

    def pbu(self, sig: Signal, ref: PacketRef, now: float) -> ProxyExchange | None:
        proxy = sig.proxy
        if proxy is None or sig.seq is None:
            return None
        key = (proxy.mn_id or f"MAG {sig.src}", sig.dst)  # a node without an identifier: per MAG
        b = self.bindings.get(key)
        if b is None:
            b = self.bindings[key] = ProxyBinding(key[0], proxy.mn_id, sig.dst, proxy.codepoints)
        b.hnps = b.hnps or list(proxy.hnps)
        b.link_local = b.link_local or proxy.link_local
        ex = ProxyExchange(ref, now, sig.src, sig.seq, sig.lifetime or 0, sig.ack, proxy.timestamp)
        self._order(b, ex, ref, now)
        earlier = [p for p in b.pending if p.mag == ex.mag and p.seq == ex.seq and p.timestamp == ex.timestamp]
        ex.retransmissions = earlier[-1].retransmissions + 1 if earlier else 0
        b.pending = [p for p in b.pending if p not in earlier] + [ex]
        b.exchange_count += 1
        if len(b.exchanges) < EXCHANGES_KEPT:
            b.exchanges.append(ex)
        if ex.deregistration and not ex.ack:  # no PBA comes: it takes effect as it arrives
            self._settle(b, ex)
        elif b.state in ("unknown", "refused"):
            b.state = "pending"
        return ex

    def _order(self, b: ProxyBinding, ex: ProxyExchange, ref: PacketRef, now: float) -> None:
        """RFC 5213 §5.5: timestamps order PBUs when present, sequence numbers otherwise."""
        if ex.timestamp is None:
            if b.last_seq is not None and not seq_newer(ex.seq, b.last_seq):
                self.findings.add("sequence-regression", f"PBU seq {ex.seq} for {b.node} at {b.lma} is not newer "
                                                         f"than {b.last_seq}", ref, b.node)
            else:
                b.last_seq = ex.seq
            return
        if abs(ex.timestamp - now) > TIMESTAMP_WINDOW:
            self.findings.add("timestamp-window", f"PBU Timestamp {_iso(ex.timestamp)} is more than "
                                                  f"{TIMESTAMP_WINDOW:g} s from the capture's clock: outside any "
                                                  f"validity window of the LMA (RFC 5213 §5.5: refused with 156)",
                              ref, b.node)
        if b.last_timestamp is not None and ex.timestamp < b.last_timestamp:
            self.findings.add("timestamp-regression", f"PBU Timestamp {_iso(ex.timestamp)} from {ex.mag} is older "
                                                      f"than the accepted {_iso(b.last_timestamp)} (RFC 5213 §5.5, "
                                                      f"status 157)", ref, b.node)

    def pba(self, sig: Signal, ref: PacketRef, now: float) -> ProxyExchange | None:
        """The pending PBU this BA answers (from its LMA to its MAG, same sequence number)."""
        mn_id = sig.proxy.mn_id if sig.proxy is not None else None
        for b in self.bindings.values():
            if b.lma != sig.src or (mn_id is not None and b.mn_id != mn_id):
                continue
            ex = next((p for p in reversed(b.pending) if p.mag == sig.dst and p.seq == sig.seq), None)
            if ex is None:
                continue
            b.pending = [p for p in b.pending if p is not ex and p.time > ex.time]
            ex.pba, ex.ba_time, ex.ba_last_seen = ref, now, now
            ex.status, ex.granted = sig.status, sig.lifetime
            b.statuses[sig.status or 0] += 1
            if ex.accepted:
                self._settle(b, ex)
            elif b.state == "pending":
                b.state = "refused"
            return ex
        return None

    def _settle(self, b: ProxyBinding, ex: ProxyExchange) -> None:
        """An accepted PBU: a registration moves the binding to its MAG; a de-registration ends
        it, unless another MAG holds it or registered it before this arrived (§5.3.5: ignored)."""
        if ex.timestamp is not None:
            b.last_timestamp = max(b.last_timestamp or ex.timestamp, ex.timestamp)
        if ex.deregistration:
            taking = [p.mag for p in b.pending if p.mag != ex.mag and not p.deregistration and p.time < ex.time]
            holder = taking[-1] if taking else b.mag if b.mag not in (None, ex.mag) else None
            if holder is not None:
                ex.ignored_for = holder
            else:
                b.state, b.mag = "de-registered", None
            return
        if b.registered_by is not None and b.registered_by != ex.mag:
            b.handovers.append(ProxyHandover(ex.time, ex.mag, b.registered_by, ex.ba_last_seen))
        b.state, b.mag, b.registered_by = "registered", ex.mag, ex.mag

    def finish(self) -> list[ProxyBinding]:
        for b in self.bindings.values():
            for p in b.pending:
                if p.ack and p.pba is None:
                    self.findings.add("bu-unanswered", f"PBU seq {p.seq} for {b.node} to {b.lma} from {p.mag} "
                                                       f"never answered", p.pbu, b.node)
        return sorted(self.bindings.values(), key=lambda b: b.exchanges[0].time if b.exchanges else 0.0)

    def tunnels(
        self, tunnels: dict[tuple[str, str, str, str], TunnelCount]
    ) -> dict[tuple[str, str], tuple[TunnelCount, TunnelCount]]:
        """The IPv6-in-IPv6 traffic between each MAG and LMA of the bindings: (LMA -> MAG, MAG -> LMA)."""
        pairs = {(b.lma, ex.mag) for b in self.bindings.values() for ex in b.exchanges}
        out: dict[tuple[str, str], tuple[TunnelCount, TunnelCount]] = {}
        for (osrc, odst, _, _), count in tunnels.items():
            for pair, down in (((osrc, odst), True), ((odst, osrc), False)):
                if pair in pairs:
                    both = out.setdefault(pair, (TunnelCount(), TunnelCount()))
                    both[0 if down else 1].add(count)
        return out
