"""One signalling packet -> a :class:`Signal` record and the problems its own bytes show.

Theory of operation
-------------------
The fast path hands over Mobility Headers (next header 135, or 62, the number of
the drafts before RFC 3775) and ICMPv6. The fields the analysis needs come from
``wire.parse`` where it has them, and from a Scapy dissection only where it has
not::

    MH, well formed          wire.MHInfo: type, seq, status, flags, lifetime, options
    MH, Header Len too small  + Scapy: the fixed fields it reads anyway, and what follows
                                the MH (a Destination Options header with a HAO, an RH2:
                                ns-3 puts them after the MH)
    MH behind next header 62  Scapy re-labels it 135 and rebuilds; wire.parse reads the result
    HoTI, HoT, CoTI, CoT      Scapy (cookie, nonce index, keygen token)
    Proxy BU / BA (PMIPv6)    the option spans wire.parse found, read by the PMIPv6 option classes
                              (:mod:`scapy_fama.analysis.pmip`): kind "PBU" / "PBA"
    ICMPv6                    Scapy: RS, RA (PIO with the R bit: the DAR's address),
                              DAD probes (NS from ::); any other ICMPv6 is data

Checks on the packet's own bytes become :class:`Problem` entries: the MH
checksum (RFC 6275 §6.1.1, with the HAO/RH2 pseudo-header), Header Len against
the type's minimum, Payload Proto, bytes after the MH, option lengths that run
past the MH or differ from their definition (a proxy message's by its own
option numbers), a capture cut short (snap length), PMIPv6 option numbers of
the drafts before RFC 5213, and the placement of a BU's or BA's options
(RFC 4866 §5.1/§5.2; profile §6 and RFC 6275 §6.2.7: exactly one BAD, the last
option, at 8n+2), whether or not the message can be verified.
Verification (CGA, signature, BAD) is not done here: it needs the protocol
state, see :mod:`scapy_fama.analysis.reconstruct`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from functools import lru_cache
from ipaddress import IPv6Network

from scapy.layers.inet6 import (
    HAO,
    ICMPv6ND_NS,
    ICMPv6ND_RA,
    ICMPv6ND_RS,
    ICMPv6NDOptPrefixInfo,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrRouting,
)
from scapy.packet import Packet

from scapy_fama.analysis.pmip import PMIP6D, ProxyInfo, option_table, read_proxy
from scapy_fama.layers import BA as BALayer
from scapy_fama.layers import BE as BELayer
from scapy_fama.layers import BRR, CoT, CoTI, GenericMH, HoT, HoTI
from scapy_fama.layers import BU as BULayer
from scapy_fama.proto.messages import is_deregistration, lifetime_seconds
from scapy_fama.wire import MHInfo, WireInfo, parse
from scapy_fama.wire.checksum import mh_checksum
from scapy_fama.wire.layout import bad_problem, framing_problems, option_frames
from scapy_fama.wire.numbers import BA, BE, BU, BU_A, BU_H, COT, COTI, HOT, HOTI, MH_TYPES, MIN_HEADER_LEN
from scapy_fama.wire.numbers import OPTION_LENGTHS, OPTION_NAMES



@dataclass(frozen=True)
class Problem:
    """Something wrong with one packet: a finding kind (see findings.py) and what."""

    kind: str
    detail: str


@dataclass
class Signal:
    """One signalling packet as the reconstruction needs it."""

    kind: str  # "BU", "BA", "PBU", "PBA", "BE", "HoTI", "HoT", "CoTI", "CoT", "RS", "RA", "DAD", an MH type name
    src: str
    dst: str
    hoa: str | None = None  # BU: the Home Address option; BA: the RH2 address
    seq: int | None = None
    status: int | None = None
    lifetime: int | None = None
    ack: bool = False
    home: bool = True  # BU: the H flag (a home registration; FAMA's BUs set it, profile §4)
    options: tuple[int, ...] = ()
    cookie: bytes | None = None  # HoTI, HoT, CoTI, CoT
    index: int | None = None  # HoT, CoT: nonce index
    token: bytes | None = None  # HoT, CoT: keygen token
    proxy: ProxyInfo | None = None  # PBU, PBA: what they say of the mobile node
    prefix: str | None = None  # RA: the prefix; DAD: the address probed
    dar: str | None = None  # RA: the DAR's global address (PIO with the R bit, profile §1)
    problems: list[Problem] = field(default_factory=list)

    def __reduce__(self) -> tuple[type[Signal], tuple[object, ...]]:
        """Pickled as its fields in order: a capture set's workers send the parent one per signalling
        packet, and this loads in half the time of an object with its dictionary."""
        return Signal, tuple([getattr(self, name) for name in SIGNAL_FIELDS])

    @property
    def deregistration(self) -> bool:
        """BU: the core's rule (:func:`scapy_fama.proto.messages.is_deregistration`); a Proxy BU
        registers the mobile node's prefix, not its source, and de-registers with lifetime 0
        (RFC 5213 §5.3.5)."""
        if self.proxy is not None:
            return self.lifetime == 0
        return is_deregistration(self.src, self.hoa, self.lifetime or 0)

    @property
    def cut(self) -> bool:
        """Captured shorter than it was (snap length): the bytes a CGA, a signature or a BAD
        cover are not all there, so none of them can be checked."""
        return any(p.kind == "truncated-packet" for p in self.problems)


SIGNAL_FIELDS = tuple(f.name for f in fields(Signal))


def _tail_headers(mh: Packet) -> tuple[str | None, list[Problem]]:
    """An address and the problems in the bytes after the MH (ns-3: HAO or RH2 after it)."""
    load = bytes(mh.payload)  # Raw, or a header the layers guessed from Payload Proto
    if not load:
        return None, []
    options = IPv6ExtHdrDestOpt(load).options
    hoa = next((o.hoa for o in options if isinstance(o, HAO)), None)
    if hoa is not None:
        return hoa, [Problem("framing", f"Home Address option placed after the Mobility Header "
                                        f"(RFC 6275 §6.3: before it), HoA {hoa}")]
    routing = IPv6ExtHdrRouting(load)
    if routing.type == 2:
        address = routing.addresses[0] if routing.addresses else None
        return address, [Problem("framing", f"type 2 Routing header (Hdr Ext Len {routing.len}) placed after "
                                            f"the Mobility Header (RFC 6275 §6.4: before it)")]
    return None, [Problem("framing", f"{len(load)} bytes follow the Mobility Header (Payload Proto says none)")]


def _option_problems(mh: MHInfo, proxy: ProxyInfo | None) -> list[Problem]:
    names, lengths = dict(OPTION_NAMES), dict(OPTION_LENGTHS)
    if proxy is not None:  # a proxy message's own option numbers (RFC 5213, or pmip6d's)
        for otype, (name, length, _) in option_table(proxy.codepoints).items():
            names[otype] = name
            lengths.pop(otype, None)
            if length >= 0:
                lengths[otype] = length
    out = []
    for otype, start, size in mh.options:
        name = names.get(otype, f"type {otype}")
        if otype and start + 2 + size > mh.length:
            out.append(Problem("malformed-option", f"{name} option at MH offset {start}: length {size} "
                                                   f"runs past the {mh.length}-byte Mobility Header"))
        elif otype in lengths and size != lengths[otype]:
            out.append(Problem("malformed-option", f"{name} option at MH offset {start}: length {size}, "
                                                   f"defined as {lengths[otype]}"))
    return out


@lru_cache(maxsize=1024)  # a capture repeats a few layouts
def placement_problems(options: tuple[tuple[int, int, int], ...]) -> tuple[str, ...]:
    """The placement rules :mod:`scapy_fama.wire.layout` checks, broken by a BU's or BA's options
    (type, MH offset, length): the sentences verification's framing check also gives."""
    frames = option_frames(options)
    bad = bad_problem(frames)
    return (*framing_problems(frames), *([bad] if bad else []))


def _old_draft(ip: bytes) -> bytes | None:
    """``ip`` with next header 62 (pre-RFC 3775 MH) relabelled 135, through the Scapy layers."""
    pkt = IPv6(ip)
    layer: Packet | None = pkt
    while layer is not None and layer.__class__.__name__ != "NoPayload":
        if getattr(layer, "nh", None) == 62:
            layer.nh = 135
            return bytes(pkt)
        layer = layer.payload
    return None


def _mh_signal(ip: bytes, info: WireInfo) -> Signal:
    mh = info.mh
    assert mh is not None
    kind = {BU: "BU", BA: "BA", BE: "BE", HOTI: "HoTI", HOT: "HoT", COTI: "CoTI", COT: "CoT"}.get(
        mh.mhtype, MH_TYPES.get(mh.mhtype, f"MH{mh.mhtype}"))
    proxy = read_proxy(ip, info) if mh.mhtype in (BU, BA) else None
    bu_flags = (mh.flags or 0) if mh.mhtype == BU else 0
    sig = Signal("P" + kind if proxy else kind, info.src, info.dst, hoa=info.hoa if mh.mhtype != BA else info.rh2,
                 seq=mh.seq, status=mh.status, lifetime=lifetime_seconds(mh.lifetime_units) if mh.lifetime_units is not None else None,
                 ack=bool(bu_flags & BU_A), home=bool(bu_flags & BU_H) or mh.mhtype != BU, options=tuple(t for t, _, _ in mh.options),
                 proxy=proxy)
    problems = sig.problems
    if proxy is not None and proxy.codepoints == PMIP6D:
        problems.append(Problem("pre-standard", f"Proxy {kind} with pmip6d's option numbers from before RFC 5213 "
                                                f"(7 Home Network Prefix, 8 MN Identifier as an interface id, "
                                                f"9 Timestamp, 10 Link-local Address; RFC 5213 §8: 22, 8 with a "
                                                f"subtype, 27, 26) and the P flag clear"))
    carried = len(ip) - mh.offset
    cut = carried < mh.length
    if cut:
        problems.append(Problem("truncated-packet", f"captured {carried} of the Mobility Header's {mh.length} bytes"))
    if mh.payload_proto != 59:
        problems.append(Problem("framing", f"MH Payload Proto {mh.payload_proto}, not 59 (RFC 6275 §6.1.1)"))
    short = (mh.length // 8 - 1) < MIN_HEADER_LEN.get(mh.mhtype, 0)
    if short:
        problems.append(Problem("framing", f"MH Header Len {mh.length // 8 - 1} below the minimum "
                                           f"{MIN_HEADER_LEN[mh.mhtype]} of {kind} (RFC 6275 §6.1)"))
    problems += _option_problems(mh, proxy)
    if proxy is None and mh.mhtype in (BU, BA):
        problems += [Problem("option-placement", p) for p in placement_problems(tuple(mh.options))]
    trailing = 40 + info.payload_length - (mh.offset + mh.length)
    if short or trailing > 0 or mh.mhtype in (HOTI, HOT, COTI, COT):
        _from_scapy(sig, ip, short)
    if not cut:
        pseudo_src = sig.hoa if mh.mhtype != BA and sig.hoa else info.src
        pseudo_dst = sig.hoa if mh.mhtype == BA and sig.hoa else info.dst
        right = mh_checksum(ip[mh.offset : mh.offset + mh.length], pseudo_src, pseudo_dst)
        if mh.checksum == 0 and right != 0:
            problems.append(Problem("checksum-zero", "MH checksum 0x0000: never computed"))
        elif mh.checksum != right:
            problems.append(Problem("checksum-wrong", f"MH checksum 0x{mh.checksum:04x}, should be 0x{right:04x}"))
    return sig


MH_LAYERS = (BULayer, BALayer, BELayer, BRR, CoT, CoTI, GenericMH, HoT, HoTI)


def _mh_layer(pkt: Packet) -> Packet | None:
    """The first Mobility Header layer of ``pkt``."""
    layer: Packet | None = pkt
    while layer is not None and layer.__class__.__name__ != "NoPayload":
        if isinstance(layer, MH_LAYERS):
            return layer
        layer = layer.payload
    return None


def _from_scapy(sig: Signal, ip: bytes, short: bool) -> None:
    """Fill what wire.parse could not read: fixed fields of a too-short MH, the tail, CoTI/CoT."""
    layer = _mh_layer(IPv6(ip))
    if layer is None:
        return
    if isinstance(layer, (HoTI, CoTI)):
        sig.cookie = bytes(layer.cookie)
    elif isinstance(layer, (HoT, CoT)):
        sig.cookie, sig.index, sig.token = bytes(layer.cookie), int(layer.index), bytes(layer.token)
    if short:
        for name in ("seq", "status"):
            if hasattr(layer, name) and getattr(sig, name) is None:
                setattr(sig, name, int(getattr(layer, name)))
        if hasattr(layer, "mhtime") and sig.lifetime is None:
            sig.lifetime = lifetime_seconds(int(layer.mhtime))
        if hasattr(layer, "flags") and sig.kind == "BU":
            sig.ack, sig.home = bool(layer.flags.A), bool(layer.flags.H)
    address, problems = _tail_headers(layer)
    sig.problems += problems
    if address is not None and sig.hoa is None:
        sig.hoa = address


def _icmpv6_signal(ip: bytes, info: WireInfo) -> Signal | None:
    pkt = IPv6(ip)
    if ICMPv6ND_RS in pkt:
        return Signal("RS", info.src, info.dst)
    if ICMPv6ND_RA in pkt:
        sig = Signal("RA", info.src, info.dst, lifetime=int(pkt[ICMPv6ND_RA].routerlifetime))
        pio = pkt.getlayer(ICMPv6NDOptPrefixInfo)
        if pio is not None:
            sig.prefix = str(IPv6Network(f"{pio.prefix}/{pio.prefixlen}", strict=False))
            sig.dar = pio.prefix if pio.R else None
        return sig
    if ICMPv6ND_NS in pkt and info.src == "::":
        return Signal("DAD", info.src, info.dst, prefix=pkt[ICMPv6ND_NS].tgt)
    return None


def _unreadable(ip: bytes, info: WireInfo, default: str) -> Signal:
    """A packet whose headers end before its Mobility Header does. When the capture holds fewer
    bytes than its Payload Length says, the snap length cut it (tshark: "Packet size limited
    during capture"): a truncated-packet, as a cut MH is; what the missing bytes held is unknown.
    Otherwise its own lengths contradict each other: a malformed-packet."""
    problem = info.problem or default
    if 40 + info.payload_length > len(ip):
        problem = f"captured {len(ip)} of the packet's {40 + info.payload_length} bytes: {problem}"
        return Signal("malformed", info.src, info.dst, problems=[Problem("truncated-packet", problem)])
    return Signal("malformed", info.src, info.dst, problems=[Problem("malformed-packet", problem)])


def read_signal(ip: bytes, info: WireInfo) -> Signal | None:
    """The signalling ``ip`` carries, or None when it is data (ICMPv6 other than ND)."""
    if info.proto is None:
        return _unreadable(ip, info, "cut short")
    if info.proto == 58:
        return _icmpv6_signal(ip, info)
    old = info.proto == 62
    if old:
        relabelled = _old_draft(ip)
        parsed = parse(relabelled) if relabelled is not None else None
        if parsed is None or parsed.mh is None:
            return Signal("malformed", info.src, info.dst, problems=[Problem("framing", "next header 62 without a Mobility Header")])
        ip, info = relabelled, parsed  # type: ignore[assignment]
    if info.mh is None:
        return _unreadable(ip, info, "Mobility Header cut short")
    sig = _mh_signal(ip, info)
    if old:
        sig.problems.insert(0, Problem("framing", "Mobility Header behind next header 62, the pre-RFC 3775 "
                                                  "draft number (IANA: CFTP), instead of 135"))
    return sig
