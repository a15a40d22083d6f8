"""The bridge: Scapy packets <-> protocol messages (the only module that knows both).

Theory of operation
-------------------
::

    core (proto.messages)            codec                      wire (Scapy / bytes)
    BindingUpdate(sign_with, auth_key) --encode--> lay out options, sign, BAD, checksum
    BindingUpdate(signed_data, auth_data) <--decode-- MH checks, cut the signed spans

``decode`` performs the Mobility Header checks of profile §6 step 1 (checksum,
Payload Proto 59, Header Len): a message that fails them becomes
:class:`~scapy_fama.proto.messages.Undecodable`, which a DAR drops silently.
Mobility Header types the FAMA roles do not handle become
:class:`~scapy_fama.proto.messages.UnknownMobility` (answered with a Binding
Error status 2). For signed messages it hands the core the exact byte spans
that were signed (RFC 4866 §4.5) and authenticated (RFC 6275 §6.2.7), so the
core verifies without knowing the layout. ``encode`` lays the message out and
then applies the core's instructions (``sign_with``, ``auth_key``) through
:func:`scapy_fama.craft.finish_bytes`.
"""

from __future__ import annotations

import ipaddress

from scapy.layers.inet import UDP
from scapy.layers.inet6 import (
    HAO,
    ICMPv6ND_RA,
    ICMPv6ND_RS,
    ICMPv6NDOptPrefixInfo,
    IPv6,
    IPv6ExtHdrDestOpt,
    MIP6OptBRAdvice,
)
from scapy.packet import Packet, Raw

from scapy_fama.crypto import KeyPair
from scapy_fama.craft import finish_bytes, find_mh, lifetime_units
from scapy_fama.layers import (
    BA,
    BE,
    BU,
    RH2,
    BindingAuthData,
    CGAParams,
    CGAParamsOpt,
    CGAParamsRequest,
    CoT,
    CoTI,
    GenericMH,
    NonceIndices,
    PHKTOpt,
    SignatureOpt,
    checksum_ok,
    wire_mh,
)
from scapy_fama.layers.headers import mh_context
from scapy_fama.layers.checksum import mh_checksum
from scapy_fama.layers.spans import OptionFrame, OptionSpan, framing_problems, option_spans
from scapy_fama.wire import WireInfo, ba_bytes, parse
from scapy_fama.proto.messages import (
    BindingAck,
    BindingError,
    BindingUpdate,
    CareOfTest,
    CareOfTestInit,
    Datagram,
    Message,
    RouterAdvertisement,
    RouterSolicitation,
    Tunnelled,
    Undecodable,
    UnknownMobility,
)

# RFC 6275 §6.1: minimum Header Len of each message FAMA handles
_MIN_HEADER_LEN = {2: 1, 4: 2, 5: 1, 6: 1, 7: 2}
_HANDLED_MH = {2, 4, 5, 6, 7}


# ---------------------------------------------------------------- encode


def _cga_options(cga_params: bytes, signature: bytes | None, sign_with: KeyPair | None) -> list[Packet]:
    """CGA Parameters and the Signature (a placeholder of the key's size until signed)."""
    size = len(signature) if signature is not None else (sign_with.bits if sign_with else 1024) // 8
    return [CGAParamsOpt(params=CGAParams(cga_params)), SignatureOpt(sig=signature or bytes(size))]


def _encode_bu(msg: BindingUpdate) -> bytes:
    options: list[Packet] = []
    if msg.cga_params is not None:
        options += _cga_options(msg.cga_params, msg.signature, msg.sign_with)
    if msg.cga_request:
        options.append(CGAParamsRequest())
    if msg.nonce_indices is not None:
        options.append(NonceIndices(hni=msg.nonce_indices[0], coni=msg.nonce_indices[1]))
    if msg.bad is not None or msg.auth_key is not None:
        options.append(BindingAuthData(authenticator=msg.bad or bytes(12)))
    flags = ("A" if msg.ack else "") + ("H" if msg.home else "")
    bu = BU(seq=msg.seq & 0xFFFF, flags=flags, mhtime=lifetime_units(msg.lifetime), options=options)
    headers = IPv6(src=msg.src, dst=msg.dst)
    if msg.hoa is not None and msg.hoa != msg.src:
        headers = headers / IPv6ExtHdrDestOpt(options=[HAO(hoa=msg.hoa)])
    sign = msg.sign_with if msg.cga_params is not None and msg.signature is None else None
    return finish_bytes(
        bytes(headers / bu),
        coa=msg.home_address if msg.deregistration else msg.src,
        correspondent=msg.dst,
        keypair=sign,
        auth_key=msg.auth_key if msg.bad is None else None,
    )


def ba_layout_scapy(msg: BindingAck) -> bytes:
    """The BA laid out by the Scapy layers (placeholders for signature and BAD, any options)."""
    options: list[Packet] = []
    if msg.phkt_ciphertext is not None:
        options.append(PHKTOpt(phkt=msg.phkt_ciphertext))
    if msg.cga_params is not None:
        options += _cga_options(msg.cga_params, msg.signature, msg.sign_with)
    if msg.refresh_interval is not None:  # RFC 6275 §6.2.4, 4-second units
        options.append(MIP6OptBRAdvice(rinter=lifetime_units(msg.refresh_interval)))
    if msg.bad is not None or msg.auth_key is not None:
        options.append(BindingAuthData(authenticator=msg.bad or bytes(12)))
    ba = BA(status=msg.status, seq=msg.seq & 0xFFFF, mhtime=lifetime_units(msg.lifetime), options=options)
    headers = IPv6(src=msg.src, dst=msg.dst)
    if msg.hoa is not None and msg.hoa != msg.dst:
        headers = headers / RH2(addresses=[msg.hoa])  # RFC 6275 §9.5.4
    return bytes(headers / ba)


def ba_layout(msg: BindingAck) -> bytes:
    """The BA laid out for :func:`finish_bytes`; without the DAR's own CGA options (every
    BA but an answer to a CGA Parameters Request) by :func:`scapy_fama.wire.ba_bytes`."""
    if msg.cga_params is not None:
        return ba_layout_scapy(msg)
    options: list[tuple[int, bytes]] = []
    if msg.phkt_ciphertext is not None:
        options.append((14, msg.phkt_ciphertext))
    if msg.refresh_interval is not None:
        options.append((2, lifetime_units(msg.refresh_interval).to_bytes(2, "big")))
    if msg.bad is not None or msg.auth_key is not None:
        options.append((5, msg.bad or bytes(12)))
    hoa = msg.hoa if msg.hoa is not None and msg.hoa != msg.dst else None
    return ba_bytes(msg.src, msg.dst, hoa, msg.status, msg.seq & 0xFFFF, lifetime_units(msg.lifetime), options)


def _encode_ba(msg: BindingAck) -> bytes:
    sign = msg.sign_with if msg.cga_params is not None and msg.signature is None else None
    return finish_bytes(
        ba_layout(msg),
        coa=(msg.hoa or msg.dst) if msg.for_deregistration else msg.dst,
        correspondent=msg.src,
        keypair=sign,
        auth_key=msg.auth_key if msg.bad is None else None,
    )


def encode(msg: Message) -> Packet:
    """The IPv6 packet for ``msg``, finished (signature, BAD and checksums in place)."""
    if isinstance(msg, (BindingUpdate, BindingAck)):
        return IPv6(encode_bytes(msg))
    if isinstance(msg, Tunnelled):
        return IPv6(src=msg.src, dst=msg.dst, hlim=msg.hlim, nh=41) / encode(msg.inner)
    if isinstance(msg, Datagram):
        head = IPv6(src=msg.src, dst=msg.dst, hlim=msg.hlim)
        if msg.hoa is not None:
            head = head / IPv6ExtHdrDestOpt(options=[HAO(hoa=msg.hoa)])
        return head / UDP(sport=msg.sport, dport=msg.dport) / Raw(msg.payload)
    if isinstance(msg, RouterSolicitation):
        return IPv6(src=msg.src, dst=msg.dst, hlim=255) / ICMPv6ND_RS()
    if isinstance(msg, RouterAdvertisement):
        pio = ICMPv6NDOptPrefixInfo(  # profile §1: L=1 A=1 R=1, the prefix field holds the DAR address
            prefixlen=int(msg.prefix.split("/")[1]), L=1, A=1, R=1, prefix=msg.dar_address,
            validlifetime=msg.valid_lifetime, preferredlifetime=msg.preferred_lifetime,
        )
        return IPv6(src=msg.src, dst=msg.dst, hlim=255) / ICMPv6ND_RA(routerlifetime=msg.router_lifetime) / pio
    if isinstance(msg, BindingError):
        return IPv6(src=msg.src, dst=msg.dst) / BE(status=msg.status, hoa=msg.hoa)
    if isinstance(msg, CareOfTestInit):
        return IPv6(src=msg.src, dst=msg.dst) / CoTI(cookie=msg.cookie)
    if isinstance(msg, CareOfTest):
        return IPv6(src=msg.src, dst=msg.dst) / CoT(index=msg.index, cookie=msg.cookie, token=msg.token)
    if isinstance(msg, UnknownMobility):
        head = IPv6(src=msg.src, dst=msg.dst)
        if msg.hoa is not None:
            head = head / IPv6ExtHdrDestOpt(options=[HAO(hoa=msg.hoa)])
        return head / GenericMH(mhtype=msg.mhtype)
    raise ValueError(f"cannot encode {type(msg).__name__}")


def encode_bytes(msg: Message) -> bytes:
    """The bytes of ``msg`` (for BUs and BAs without dissecting the result again)."""
    if isinstance(msg, BindingUpdate):
        return _encode_bu(msg)
    if isinstance(msg, BindingAck):
        return _encode_ba(msg)
    return bytes(encode(msg))


# ---------------------------------------------------------------- decode


def _zeroed(mh: Packet) -> bytes:
    wire = wire_mh(mh)
    return wire[:4] + b"\0\0" + wire[6:]


def _signed_parts(mh: Packet, spans: list[OptionSpan]) -> dict[str, object]:
    """CGA parameters, signature, BAD and the byte spans they cover."""
    zeroed = _zeroed(mh)
    cga = [s for s in spans if isinstance(s.option, CGAParamsOpt)]
    sig = next((s.option for s in spans if isinstance(s.option, SignatureOpt)), None)
    bad = next((s for s in spans if isinstance(s.option, BindingAuthData)), None)
    return {
        "cga_params": b"".join(s.option.param_bytes() for s in cga) if cga else None,
        "signature": bytes(sig.sig) if sig is not None else None,
        "signed_data": zeroed[: cga[-1].end] if cga else b"",
        "bad": bytes(bad.option.authenticator) if bad is not None else None,
        "auth_data": zeroed[: bad.start + 2] if bad is not None else b"",
        "framing": tuple(framing_problems([s.frame for s in spans])),
    }


def _mh_problem(mh: Packet) -> str | None:
    """Profile §6 step 1: the checks whose failure drops the message silently."""
    if mh.nh != 59:
        return f"MH Payload Proto {mh.nh}, not 59"
    declared = (mh.len + 1) * 8
    if mh.len < _MIN_HEADER_LEN.get(mh.mhtype, 0) or len(wire_mh(mh)) < declared:
        return f"MH Header Len {mh.len} invalid for type {mh.mhtype}"
    if not checksum_ok(mh):
        return "MH checksum wrong"
    return None


def _decode_mh(mh: Packet) -> Message:
    ctx = mh_context(mh)
    assert ctx is not None
    src, dst = ctx.ip.src, ctx.ip.dst
    problem = _mh_problem(mh)
    if problem is not None:
        return Undecodable(src, dst, problem)
    if mh.mhtype not in _HANDLED_MH:
        return UnknownMobility(src, dst, int(mh.mhtype), ctx.hao)
    if isinstance(mh, BU):
        spans = option_spans(mh)
        ni = next((s.option for s in spans if isinstance(s.option, NonceIndices)), None)
        return BindingUpdate(
            src=src, dst=dst, hoa=ctx.hao, seq=int(mh.seq), lifetime=int(mh.mhtime) * 4,
            ack=bool(mh.flags.A), home=bool(mh.flags.H),
            cga_request=any(isinstance(s.option, CGAParamsRequest) for s in spans),
            nonce_indices=(int(ni.hni), int(ni.coni)) if ni is not None else None,
            **_signed_parts(mh, spans),  # type: ignore[arg-type]
        )
    if isinstance(mh, BA):
        spans = option_spans(mh)
        token = next((s.option for s in spans if isinstance(s.option, PHKTOpt)), None)
        bra = next((s.option for s in spans if isinstance(s.option, MIP6OptBRAdvice)), None)
        return BindingAck(
            src=src, dst=dst, hoa=ctx.rh_final if ctx.rh_type == 2 else None, status=int(mh.status),
            seq=int(mh.seq), lifetime=int(mh.mhtime) * 4,
            phkt_ciphertext=bytes(token.phkt) if token is not None else None,
            refresh_interval=int(bra.rinter) * 4 if bra is not None else None,
            **_signed_parts(mh, spans),  # type: ignore[arg-type]
        )
    if isinstance(mh, BE):
        return BindingError(src, dst, int(mh.status), mh.hoa)
    if isinstance(mh, CoTI):
        return CareOfTestInit(src, dst, bytes(mh.cookie))
    assert isinstance(mh, CoT)
    return CareOfTest(src, dst, int(mh.index), bytes(mh.cookie), bytes(mh.token))


def _ipv6(pkt: Packet | bytes) -> IPv6 | None:
    if isinstance(pkt, (bytes, bytearray)):
        if len(pkt) < 40 or pkt[0] >> 4 != 6:
            return None
        return IPv6(bytes(pkt))
    return pkt.getlayer(IPv6)


def _frames(tlvs: list[tuple[int, int, int]]) -> list[OptionFrame]:
    """Option TLVs as frames: back-to-back type-12 options form one CGA Parameters frame."""
    frames: list[OptionFrame] = []
    for otype, start, size in tlvs:
        if otype == 12 and frames and frames[-1].otype == 12:
            frames[-1] = OptionFrame(12, frames[-1].start, frames[-1].lengths + (size,))
        else:
            frames.append(OptionFrame(otype, start, (size,)))
    return frames


def _decode_bu_bytes(buf: bytes, info: WireInfo) -> BindingUpdate | None:
    """The BU in ``buf`` read with :mod:`scapy_fama.wire`, without Scapy (the DAR's hot path).

    Only plain layouts take this path (no routing header, options that tile the
    MH exactly); anything else returns None and goes through the layers, which
    give the same answer (``tests/test_codec.py`` checks both on every corpus).
    """
    mh = info.mh
    if mh is None or mh.mhtype != 5 or info.problem or 43 in info.ext or mh.seq is None:
        return None
    if info.payload_length != len(buf) - 40:  # RFC 8200 §3: bytes past Payload Length are not the packet's
        return None
    if 60 in info.ext and info.hoa is None:  # Destination Options without a well-formed HAO (RFC 6275 §6.3)
        return None
    off, end = mh.offset, mh.offset + mh.length
    tlvs = mh.options
    last = tlvs[-1] if tlvs else None
    tiled = (end == 12 + off) if last is None else off + last[1] + (1 if last[0] == 0 else 2 + last[2]) == end
    if not tiled or mh.payload_proto != 59 or mh.length < 16:
        return None
    src, dst = info.src, info.dst
    if mh.checksum != mh_checksum(buf[off:end], info.hoa or src, dst):
        return None  # the layers say why (Undecodable)
    zeroed = buf[off : off + 4] + b"\0\0" + buf[off + 6 : end]
    data = {t: zeroed[s + 2 : s + 2 + n] for t, s, n in reversed(tlvs) if t != 0}  # first of each type
    frames = _frames(tlvs)
    cga = [f for f in frames if f.otype == 12]
    bad = next((f for f in frames if f.otype == 5), None)
    ni = next((zeroed[s + 2 : s + 6] for t, s, n in tlvs if t == 4 and n == 4), None)  # the first well-formed
    return BindingUpdate(
        src=src, dst=dst, hoa=info.hoa, seq=mh.seq, lifetime=mh.lifetime or 0,
        ack=bool(mh.flags and mh.flags & 0x8000), home=bool(mh.flags and mh.flags & 0x4000),
        cga_params=b"".join(zeroed[s + 2 : s + 2 + n] for t, s, n in tlvs if t == 12) if cga else None,
        signature=data.get(13),
        cga_request=any(t == 11 and n == 0 for t, _, n in tlvs),
        nonce_indices=(int.from_bytes(ni[:2], "big"), int.from_bytes(ni[2:], "big")) if ni else None,
        bad=data.get(5) if bad is not None else None,
        signed_data=zeroed[: cga[-1].start + sum(2 + n for n in cga[-1].lengths)] if cga else b"",
        auth_data=zeroed[: bad.start + 2] if bad is not None else b"",
        framing=tuple(framing_problems(frames)),
    )


def decode(pkt: Packet | bytes) -> Message:
    """The message ``pkt`` carries (bytes start with the IPv6 header)."""
    if isinstance(pkt, (bytes, bytearray)):
        info = parse(bytes(pkt))
        fast = _decode_bu_bytes(bytes(pkt), info) if info is not None else None
        if fast is not None:
            return fast
    ip = _ipv6(pkt)
    if ip is None:
        return Undecodable("::", "::", "not an IPv6 packet (or shorter than its 40-byte header)")
    if ip.nh == 41 and isinstance(ip.payload, IPv6):  # RFC 2473
        return Tunnelled(ip.src, ip.dst, decode(ip.payload), hlim=int(ip.hlim))
    mh = find_mh(ip)
    if mh is not None:
        return _decode_mh(mh)
    if ICMPv6ND_RS in ip:
        return RouterSolicitation(ip.src, ip.dst)
    if ICMPv6ND_RA in ip and ICMPv6NDOptPrefixInfo in ip:
        pio = ip[ICMPv6NDOptPrefixInfo]
        if pio.R:
            return RouterAdvertisement(
                src=ip.src, dst=ip.dst, dar_address=pio.prefix, prefix=_prefix_text(pio.prefix, pio.prefixlen),
                valid_lifetime=int(pio.validlifetime), preferred_lifetime=int(pio.preferredlifetime),
                router_lifetime=int(ip[ICMPv6ND_RA].routerlifetime),
            )
    if UDP in ip:
        udp = ip[UDP]
        hao = ip[HAO].hoa if HAO in ip else None
        return Datagram(ip.src, ip.dst, int(udp.sport), int(udp.dport), bytes(udp.payload), int(ip.hlim), hao)
    return Undecodable(ip.src, ip.dst, f"not a FAMA message: {ip.summary()}")


def _prefix_text(address: str, length: int) -> str:
    return str(ipaddress.IPv6Network(f"{address}/{length}", strict=False))
