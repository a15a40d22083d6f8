"""The bridge: packets (bytes, or Scapy objects) <-> protocol messages; the only module that knows both.

Theory of operation
-------------------
::

    core (proto.messages)                codec                       wire (bytes)
    BindingUpdate(sign_with, auth_key) --encode_bytes--> wire.mobility: lay out, then wire.finish:
                                                         Signature, BAD, checksum
    BindingAck(auth_key), nothing to sign --encode_bytes--> wire.sealed: the same in one pass
    BindingUpdate(signed_data, auth_data) <--decode-- wire.parse: MH checks, the signed spans cut

Both directions work on bytes (:mod:`scapy_fama.wire`): a live path reads a
frame and answers it without a Scapy object. A DAR's first BUs take a shorter
way on each side: :func:`read_signed_bu` reads a CGA-signed BU of the toolkit's
own layout without the general walk (the message :func:`decode` reads, or None),
and :func:`issuing_ack` fills the BA that accepts it into a layout kept per DAR,
CoA and PHKT size (the bytes :func:`ack_bytes` writes). A Scapy packet given to
:func:`decode` is turned into its bytes first, and :func:`encode` dissects the
finished bytes, so the shell, the tests and the live roles take the same path.

``decode`` performs the checks of profile §6 step 1 on the bytes, cheapest
first (profile §6 "Cost before trust"): Payload Length, Header Len, at most 64
options tiling the MH exactly, Payload Proto 59, the checksum, exactly one
BAD and last. A message that fails them becomes
:class:`~scapy_fama.proto.messages.Undecodable`, which a DAR drops silently;
with ``lenient=True`` (another tool's capture, replayed for its content) the
content is read anyway and the problems are listed in ``framing``. Mobility
Header types the FAMA roles do not handle become
:class:`~scapy_fama.proto.messages.UnknownMobility` (answered with a Binding
Error status 2). For signed messages it hands the core the exact byte spans
that were signed (RFC 4866 §4.5) and authenticated (RFC 6275 §6.2.7), so the
core verifies without knowing the layout.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from scapy.layers.inet6 import IPv6
from scapy.packet import Packet

from scapy_fama.crypto import KeyPair
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
    lifetime_seconds,
    lifetime_units,
    signing_endpoints,
)
from scapy_fama.proto.status import BaStatus
from scapy_fama.wire import icmpv6
from scapy_fama.wire.checksum import internet_checksum, mh_checksum, pseudo_header
from scapy_fama.wire.layout import (
    bad_problem,
    cga_pieces,
    framing_problems,
    option_frames,
)
from scapy_fama.wire.numbers import (
    BA,
    BAD,
    BE,
    BRA,
    BU,
    BU_A,
    BU_H,
    CGA_PARAMS,
    CGA_REQUEST,
    COT,
    COTI,
    DEST_OPTS,
    ICMPV6,
    ICMPV6_ERRORS,
    IPV6_HEADER,
    IPV6_IN_IPV6,
    MAX_OPTIONS,
    MH,
    MIN_HEADER_LEN,
    NO_NEXT_HEADER,
    NONCE_INDICES,
    OPT_PAD1,
    OPT_PADN,
    PHKT,
    RA,
    RS,
    SIGNATURE,
    UDP,
)
from scapy_fama.wire.read import MHInfo, WireInfo, addr, parse, peer, udp
from scapy_fama.wire.write import (
    ba_fixed,
    bu_fixed,
    finish,
    frame_of,
    hao_header,
    ipv6,
    mobility,
    pton,
    seal,
    sealed,
    udp_packet,
)

_HANDLED_MH = frozenset({COTI, COT, BU, BA, BE})
# the options of a CGA-signed BU as this toolkit's MN writes it (read_signed_bu); no BAD, no request
_SIGNED_BU_OPTIONS = frozenset({OPT_PAD1, OPT_PADN, CGA_PARAMS, SIGNATURE, NONCE_INDICES})
_HAO_HEAD = hao_header(MH, "::")[:-16]  # Destination Options: Next Header MH, PadN, the HAO's type and length
SIGNED_BU_MH = IPV6_HEADER + len(_HAO_HEAD) + 16  # where the MH of such a BU starts
CHECKSUM_WRONG = "MH checksum wrong"
_MH_WORD = bytes((0, 0, 0, MH))  # the pseudo-header's zeros and Next Header (RFC 8200 §8.1)
_SIGNATURE_PLACEHOLDER = 128  # RSA-1024 (profile §2) when the key is not known yet


# ---------------------------------------------------------------- encode


def _cga_options(params: bytes, signature: bytes | None, sign_with: KeyPair | None) -> list[tuple[int, bytes]]:
    """CGA Parameters in pieces, then the Signature (a placeholder of the key's size until signed)."""
    size = len(signature) if signature is not None else sign_with.bits // 8 if sign_with else _SIGNATURE_PLACEHOLDER
    return [(CGA_PARAMS, piece) for piece in cga_pieces(params)] + [(SIGNATURE, signature or bytes(size))]


def _written(
    src: str,
    dst: str,
    mhtype: int,
    fixed: bytes,
    options: list[tuple[int, bytes]],
    endpoints: tuple[str, str],
    *,
    cga_params: bytes | None,
    signature: bytes | None,
    sign_with: KeyPair | None,
    bad: bytes | None,
    auth_key: bytes | None,
    hoa: str | None = None,
    rh2: str | None = None,
) -> bytes:
    """A BU or BA laid out and finished: signed when it carries CGA Parameters to sign, a BAD
    (``bad``, or keyed with ``auth_key`` when it has none) last; without a Signature to make, in
    one pass (``wire.sealed``)."""
    if bad is not None or auth_key is not None:
        options.append((BAD, bad or bytes(12)))
    coa, correspondent = endpoints
    key = auth_key if bad is None else None
    if cga_params is not None and signature is None and sign_with is not None:
        frame = mobility(src, dst, mhtype, fixed, options, hoa=hoa, rh2=rh2)
        return finish(frame, coa=coa, correspondent=correspondent, keypair=sign_with, auth_key=key)
    return sealed(src, dst, mhtype, fixed, options, hoa=hoa, rh2=rh2, coa=coa, correspondent=correspondent,
                  auth_key=key)  # fmt: skip


def _encode_bu(msg: BindingUpdate) -> bytes:
    options = _cga_options(msg.cga_params, msg.signature, msg.sign_with) if msg.cga_params is not None else []
    if msg.cga_request:
        options.append((CGA_REQUEST, b""))
    if msg.nonce_indices is not None:
        hni, coni = msg.nonce_indices
        options.append((NONCE_INDICES, hni.to_bytes(2, "big") + coni.to_bytes(2, "big")))
    flags = (BU_A if msg.ack else 0) | (BU_H if msg.home else 0)
    fixed = bu_fixed(msg.seq, flags, lifetime_units(msg.lifetime))
    hoa = msg.hoa if msg.hoa is not None and msg.hoa != msg.src else None
    return _written(msg.src, msg.dst, BU, fixed, options, msg.endpoints(), cga_params=msg.cga_params,
                    signature=msg.signature, sign_with=msg.sign_with, bad=msg.bad, auth_key=msg.auth_key,
                    hoa=hoa)  # fmt: skip


def ack_bytes(
    src: str,
    dst: str,
    hoa: str | None,
    status: int,
    seq: int,
    lifetime: int,
    *,
    phkt_ciphertext: bytes | None = None,
    cga_params: bytes | None = None,
    signature: bytes | None = None,
    sign_with: KeyPair | None = None,
    bad: bytes | None = None,
    refresh_interval: int | None = None,
    for_deregistration: bool = False,
    auth_key: bytes | None = None,
) -> bytes:
    """The IPv6 packet of ``BindingAck(src, dst, hoa, status, seq, lifetime, ...)``, from the
    values alone: what :func:`encode_bytes` writes for the object (a DAR that answers a BU
    from its bytes makes no object nobody looks at)."""
    options = [(PHKT, phkt_ciphertext)] if phkt_ciphertext is not None else []
    if cga_params is not None:
        options += _cga_options(cga_params, signature, sign_with)
    if refresh_interval is not None:  # RFC 6275 §6.2.4
        options.append((BRA, lifetime_units(refresh_interval).to_bytes(2, "big")))
    fixed = ba_fixed(status, 0, seq, lifetime_units(lifetime))
    rh2 = hoa if hoa is not None and hoa != dst else None  # RFC 6275 §9.5.4
    endpoints = signing_endpoints(src, dst, hoa or dst, for_deregistration, from_mn=False)
    return _written(src, dst, BA, fixed, options, endpoints, cga_params=cga_params, signature=signature,
                    sign_with=sign_with, bad=bad, auth_key=auth_key, rh2=rh2)  # fmt: skip


class _Issuing(NamedTuple):
    """The BA :func:`issuing_ack` fills in, as :func:`ack_bytes` lays it out with every value zero,
    and where its values go."""

    data: bytes
    mh: int  # the MH's offset; the RH2's address ends there
    length: int  # the MH's
    phkt: int  # offset of the PHKT option's data
    bad: int  # offset of the BAD's data
    source: bytes  # the pseudo-header's first address (RFC 6275 §6.1.1): the DAR's
    rest: bytes  # and what follows the second (the RH2's): the length, zeros, Next Header


@lru_cache(maxsize=256)  # per DAR, CoA and PHKT size: the BAs of one MN's first BUs to a DAR share it
def _issuing(src: str, dst: str, phkt_len: int) -> _Issuing:
    frame = frame_of(ack_bytes(src, dst, "::", BaStatus.ACCEPTED, 0, 0, phkt_ciphertext=bytes(phkt_len), auth_key=bytes(20)))
    assert frame is not None
    at = {otype: frame.mh + start + 2 for otype, start, _ in frame.options}
    return _Issuing(bytes(frame.data), frame.mh, frame.length, at[PHKT], at[BAD], pton(src),
                    frame.length.to_bytes(4, "big") + _MH_WORD)  # fmt: skip


def issuing_ack(src: str, dst: str, hoa: str, seq: int, lifetime: int, phkt_ciphertext: bytes, auth_key: bytes) -> bytes:
    """``ack_bytes(src, dst, hoa, 0, seq, lifetime, phkt_ciphertext=..., auth_key=...)`` for a
    ``hoa`` other than ``dst``: the BA accepting a CGA-signed BU from a care-of address, which
    issues a PHKT (RFC 4866 §4.7), filled into its layout (made once per DAR, CoA and PHKT
    size) and sealed: a DAR writes one for every address an MN keeps (DESIGN.md "bytes first")."""
    layout = _issuing(src, dst, len(phkt_ciphertext))
    data, mh, home = bytearray(layout.data), layout.mh, pton(hoa)
    data[mh - 16 : mh] = home  # the type 2 Routing header's address
    data[mh + 8 : mh + 12] = ((seq & 0xFFFF) << 16 | lifetime_units(lifetime)).to_bytes(4, "big")  # RFC 6275 §6.1.8
    data[layout.phkt : layout.phkt + len(phkt_ciphertext)] = phkt_ciphertext
    return seal(data, mh, layout.length, layout.source + home + layout.rest, layout.bad, auth_key, dst, src)


def _encode_ba(msg: BindingAck) -> bytes:
    return ack_bytes(msg.src, msg.dst, msg.hoa, msg.status, msg.seq, msg.lifetime, phkt_ciphertext=msg.phkt_ciphertext,
                     cga_params=msg.cga_params, signature=msg.signature, sign_with=msg.sign_with, bad=msg.bad,
                     refresh_interval=msg.refresh_interval, for_deregistration=msg.for_deregistration,
                     auth_key=msg.auth_key)  # fmt: skip


def encode_bytes(msg: Message, *, lladdr: bytes | None = None) -> bytes:
    """The IPv6 packet of ``msg``, finished (signature, BAD and checksums in place).
    ``lladdr`` is the sender's link-layer address, for an RA's Source Link-Layer Address
    option (RFC 4861 §4.2: hosts learn the router's address from it, §6.3.4)."""
    match msg:
        case BindingUpdate():
            return _encode_bu(msg)
        case BindingAck():
            return _encode_ba(msg)
        case Tunnelled():
            return ipv6(msg.src, msg.dst, IPV6_IN_IPV6, encode_bytes(msg.inner), msg.hlim)
        case Datagram():
            return udp_packet(msg.src, msg.dst, msg.sport, msg.dport, msg.payload, hoa=msg.hoa, hlim=msg.hlim)
        case RouterSolicitation():
            return icmpv6.router_solicitation(msg.src, msg.dst)
        case RouterAdvertisement():
            length = int(msg.prefix.split("/")[1])
            pio = icmpv6.dar_prefix(msg.dar_address, length, msg.valid_lifetime, msg.preferred_lifetime)
            return icmpv6.router_advertisement(msg.src, msg.dst, pio, msg.router_lifetime, lladdr)
        case BindingError():
            return sealed(msg.src, msg.dst, BE, bytes((msg.status, 0)) + pton(msg.hoa))
        case CareOfTestInit():
            return sealed(msg.src, msg.dst, COTI, bytes(2) + msg.cookie)
        case CareOfTest():
            return sealed(msg.src, msg.dst, COT, msg.index.to_bytes(2, "big") + msg.cookie + msg.token)
        case UnknownMobility():
            return sealed(msg.src, msg.dst, msg.mhtype, bytes(2), hoa=msg.hoa)
    raise ValueError(f"cannot encode {type(msg).__name__}")


def encode(msg: Message) -> Packet:
    """The IPv6 packet of ``msg`` as a Scapy object (dissected from :func:`encode_bytes`)."""
    return IPv6(encode_bytes(msg))


# ---------------------------------------------------------------- decode


def framing(info: WireInfo, mh: MHInfo) -> list[str]:
    """Profile §6 step 1 but the checksum: what is wrong with the MH's framing."""
    problems = [info.problem] if info.problem else []
    if mh.header_len < MIN_HEADER_LEN.get(mh.mhtype, 0):
        problems.append(f"MH Header Len {mh.header_len} invalid for type {mh.mhtype}")
    if mh.malformed:
        problems.append(f"MH options: {mh.malformed}")
    if mh.payload_proto != NO_NEXT_HEADER:
        problems.append(f"MH Payload Proto {mh.payload_proto}, not 59")
    return problems


def checksum_ok(raw: bytes, info: WireInfo, mh: MHInfo) -> bool:
    """RFC 6275 §6.1.1 with the pseudo-header of the addresses the mobility layer sees."""
    return mh.checksum == mh_checksum(raw[mh.offset : mh.offset + mh.length], info.pseudo_src, info.pseudo_dst)


def _mh_problems(zeroed: bytes, info: WireInfo, mh: MHInfo) -> list[str]:
    """Profile §6 step 1, cheapest first (the checksum only over a whole, well-framed MH);
    ``zeroed`` is the MH with its checksum field zero."""
    problems = framing(info, mh)
    if not problems and mh.checksum != internet_checksum(pseudo_header(info.pseudo_src, info.pseudo_dst, len(zeroed), MH) + zeroed):
        problems.append(CHECKSUM_WRONG)
    return problems


@dataclass(frozen=True)
class _Shape:
    """What the placement of a Mobility Header's options says, whatever their data."""

    first: tuple[tuple[int, int, int], ...]  # (type, MH offset, length) of the first option of each type
    cga: tuple[tuple[int, int], ...]  # (MH offset, length) of every CGA Parameters piece
    signed_end: int | None  # the end of the last CGA Parameters option (RFC 4866 §4.5)
    auth_end: int | None  # the end of the BAD's Type and Length (RFC 6275 §6.2.7)
    nonce_indices: int | None  # the MH offset of the first Nonce Indices option of 4 bytes
    framing: tuple[str, ...]  # RFC 4866 §5.1/§5.2
    bad_rule: str | None  # profile §6: exactly one BAD, last
    signature: tuple[int, int] | None  # (MH offset, length) of the Signature of a layout read_signed_bu takes


@lru_cache(maxsize=1024)  # a role meets the same few layouts again and again
def _shape(options: tuple[tuple[int, int, int], ...]) -> _Shape:
    frames = option_frames(options)
    cga = [f for f in frames if f.otype == CGA_PARAMS]
    bad = next((f for f in frames if f.otype == BAD), None)
    first: dict[int, tuple[int, int, int]] = {}
    for option in options:
        first.setdefault(option[0], option)
    problems, bad_rule = tuple(framing_problems(frames)), bad_problem(frames)
    signed = CGA_PARAMS in first and SIGNATURE in first and first.keys() <= _SIGNED_BU_OPTIONS
    return _Shape(
        first=tuple(first.values()),
        cga=tuple((start, size) for otype, start, size in options if otype == CGA_PARAMS),
        signed_end=cga[-1].end if cga else None,
        auth_end=bad.start + 2 if bad is not None else None,
        nonce_indices=next((start for otype, start, size in options if otype == NONCE_INDICES and size == 4), None),
        framing=problems,
        bad_rule=bad_rule,
        signature=first[SIGNATURE][1:] if signed and not problems and bad_rule is None else None,
    )


def _authorisation(zeroed: bytes, shape: _Shape) -> tuple[dict[str, object], dict[int, bytes]]:
    """The signed and authenticated spans and the first data of each option type."""
    data = {otype: zeroed[start + 2 : start + 2 + size] for otype, start, size in shape.first}
    parts: dict[str, object] = {
        "cga_params": b"".join(zeroed[s + 2 : s + 2 + n] for s, n in shape.cga) if shape.cga else None,
        "signature": data.get(SIGNATURE),
        "bad": data.get(BAD),
        "signed_data": zeroed[: shape.signed_end] if shape.signed_end is not None else b"",
        "auth_data": zeroed[: shape.auth_end] if shape.auth_end is not None else b"",
        "framing": shape.framing,
    }
    return parts, data


def _decode_mh(raw: bytes, info: WireInfo, lenient: bool) -> Message:
    mh = info.mh
    assert mh is not None
    raw = raw[: info.end]  # the packet ends with its Payload Length (RFC 8200 §3)
    src, dst = info.src, info.dst
    off = mh.offset
    zeroed = raw[off : off + 4] + b"\0\0" + raw[off + 6 : off + mh.length]
    problems = _mh_problems(zeroed, info, mh)
    if mh.mhtype not in _HANDLED_MH:
        return Undecodable(src, dst, problems[0]) if problems else UnknownMobility(src, dst, mh.mhtype, info.hoa)
    end = min(off + mh.length, info.end)
    shape = _shape(tuple(mh.options))
    parts, data = _authorisation(zeroed, shape)
    if shape.bad_rule:
        problems.append(shape.bad_rule)
    if problems and not lenient:
        return Undecodable(src, dst, problems[0])
    if mh.mhtype == BU and mh.seq is not None:
        ni = raw[off + shape.nonce_indices + 2 : off + shape.nonce_indices + 6] if shape.nonce_indices is not None else None
        if problems:
            parts["framing"] = tuple(problems) + parts["framing"]  # type: ignore[operator]
        return BindingUpdate(
            src=src, dst=dst, hoa=info.hoa, seq=mh.seq, lifetime=lifetime_seconds(mh.lifetime_units or 0),
            ack=bool(mh.flags and mh.flags & BU_A), home=bool(mh.flags and mh.flags & BU_H),
            cga_request=data.get(CGA_REQUEST) == b"",
            nonce_indices=(int.from_bytes(ni[:2], "big"), int.from_bytes(ni[2:], "big")) if ni else None,
            **parts,  # type: ignore[arg-type]
        )  # fmt: skip
    if mh.mhtype == BA and mh.seq is not None:
        advice = data.get(BRA)
        if problems:
            parts["framing"] = tuple(problems) + parts["framing"]  # type: ignore[operator]
        return BindingAck(
            src=src, dst=dst, hoa=info.rh2 if info.rh2_segments_left else None, status=mh.status or 0,
            seq=mh.seq, lifetime=lifetime_seconds(mh.lifetime_units or 0), phkt_ciphertext=data.get(PHKT),
            refresh_interval=lifetime_seconds(int.from_bytes(advice, "big")) if advice and len(advice) == 2 else None,
            **parts,  # type: ignore[arg-type]
        )  # fmt: skip
    if mh.mhtype == BE and off + 24 <= end:
        return BindingError(src, dst, mh.status or 0, addr(raw, off + 8))
    if mh.mhtype == COTI and off + 16 <= end:
        return CareOfTestInit(src, dst, bytes(raw[off + 8 : off + 16]))
    if mh.mhtype == COT and off + 24 <= end:
        return CareOfTest(src, dst, int.from_bytes(raw[off + 6 : off + 8], "big"), bytes(raw[off + 8 : off + 16]),
                          bytes(raw[off + 16 : off + 24]))  # fmt: skip
    return Undecodable(src, dst, problems[0] if problems else f"MH type {mh.mhtype} cut short")


def _decode_icmpv6(raw: bytes, info: WireInfo) -> Message:
    msg = icmpv6.read(raw, info)
    src, dst = info.src, info.dst
    if msg is None:
        return Undecodable(src, dst, "ICMPv6 cut short")
    if msg.type in ICMPV6_ERRORS:  # the packet it quotes is not a message (RFC 4443 §2.4)
        return Undecodable(src, dst, f"ICMPv6 error: {ICMPV6_ERRORS[msg.type]} (type {msg.type}, code {msg.code})")
    if msg.invalid:  # RFC 4861 §6.1: a node silently discards an invalid RS or RA
        return Undecodable(src, dst, f"invalid ICMPv6 type {msg.type}: {msg.invalid}")
    if msg.type == RS:
        return RouterSolicitation(src, dst)
    if msg.type == RA:
        pio = next((p for p in msg.prefixes if p.router_address), None)
        if pio is not None:
            network = ipaddress.IPv6Network(f"{pio.prefix}/{pio.length}", strict=False)
            return RouterAdvertisement(src=src, dst=dst, dar_address=pio.prefix, prefix=str(network),
                                       valid_lifetime=pio.valid, preferred_lifetime=pio.preferred,
                                       router_lifetime=msg.router_lifetime)  # fmt: skip
    return Undecodable(src, dst, f"not a FAMA message: ICMPv6 type {msg.type}")


def _decode(raw: bytes, info: WireInfo, lenient: bool) -> Message:
    src, dst = info.src, info.dst
    if info.fragment is not None:
        return Undecodable(src, dst, "a fragment (RFC 8200 §4.5: reassembled before it is read)")
    if info.unknown_option is not None:  # RFC 8200 §4.2: action bits other than 00 discard it
        return Undecodable(src, dst, f"unrecognised option type 0x{info.unknown_option[0]:02x} in an extension header")
    if info.mh is not None:
        return _decode_mh(raw, info, lenient)
    if info.problem:
        return Undecodable(src, dst, info.problem)
    if info.proto == IPV6_IN_IPV6:  # RFC 2473
        inner = raw[info.upper : info.end]
        return Tunnelled(src, dst, decode(inner, lenient=lenient), hlim=info.hlim)
    if info.proto == ICMPV6:
        return _decode_icmpv6(raw, info)
    if info.proto == UDP:
        found = udp(raw, info)
        if found is not None:
            return Datagram(src, dst, found[0], found[1], found[2], info.hlim, info.hoa)
    return Undecodable(src, dst, f"not a FAMA message: next header {info.proto}")


def signed_bu_head(ip: bytes) -> bool:
    """Whether ``ip`` starts as a CGA-signed BU of the toolkit's layout (:func:`read_signed_bu`):
    IPv6 | Destination Options (PadN, HAO) | a whole MH of type BU whose first option is CGA
    Parameters, its lengths agreeing with the bytes. Such a packet is a BU carrying a CGA
    option, whatever follows; a socket's intake tells the costly frames by it (ports.py)."""
    n, mh = len(ip), SIGNED_BU_MH
    return not (
        n < mh + 16  # the fixed part and two options' headers at least
        or ip[0] >> 4 != 6
        or ip[6] != DEST_OPTS
        or ip[IPV6_HEADER : mh - 16] != _HAO_HEAD
        or ip[mh] != NO_NEXT_HEADER
        or ip[mh + 2] != BU
        or ip[mh + 12] != CGA_PARAMS  # first, as the toolkit's MN lays it out: a refresh stops here
        or (ip[4] << 8 | ip[5]) + IPV6_HEADER != n
        or mh + 8 * (ip[mh + 1] + 1) != n
    )


def read_signed_bu(ip: bytes) -> BindingUpdate | None:
    """``decode(ip)`` for a CGA-signed BU as this toolkit's MN writes it, read without the
    general walk (a DAR answers one for every address an MN keeps: DESIGN.md "bytes first"):
    :func:`signed_bu_head`, then a Signature and perhaps Nonce Indices, padded, no BAD, whole
    and framed right (profile §6 step 1, the checksum too). None for anything else, which
    :func:`decode` reads; tests hold the two to the same message."""
    ip = bytes(ip)  # a bytearray or memoryview read as decode reads it (bytes are not copied)
    if not signed_bu_head(ip):
        return None
    n, mh = len(ip), SIGNED_BU_MH
    options, pos = [], mh + 12
    while pos < n:  # RFC 6275 §6.2.1
        if len(options) == MAX_OPTIONS:  # profile §6: at most 64
            return None
        otype = ip[pos]
        if otype == OPT_PAD1:
            options.append((OPT_PAD1, pos - mh, 0))
            pos += 1
        elif pos + 1 < n:
            size = ip[pos + 1]
            options.append((otype, pos - mh, size))
            pos += 2 + size
        else:
            return None
    shape = _shape(tuple(options)) if pos == n else None
    if shape is None or shape.signature is None or shape.signed_end is None:
        return None
    hoa = ip[mh - 16 : mh]
    zeroed = ip[mh : mh + 4] + b"\0\0" + ip[mh + 6 :]
    if ip[mh + 4] << 8 | ip[mh + 5] != internet_checksum(hoa + ip[24:40] + (n - mh).to_bytes(4, "big") + _MH_WORD + zeroed):
        return None  # RFC 6275 §6.1.1: the pseudo-header of the HAO's address
    start, size = shape.signature
    ni, flags = shape.nonce_indices, ip[mh + 8] << 8
    return BindingUpdate(
        src=peer(ip[8:24]), dst=peer(ip[24:40]), hoa=addr(hoa, 0), seq=ip[mh + 6] << 8 | ip[mh + 7],
        lifetime=lifetime_seconds(ip[mh + 10] << 8 | ip[mh + 11]), ack=bool(flags & BU_A), home=bool(flags & BU_H),
        cga_params=b"".join([zeroed[s + 2 : s + 2 + k] for s, k in shape.cga]),
        signature=zeroed[start + 2 : start + 2 + size], nonce_indices=None if ni is None else
        (zeroed[ni + 2] << 8 | zeroed[ni + 3], zeroed[ni + 4] << 8 | zeroed[ni + 5]),
        signed_data=zeroed[: shape.signed_end],
    )  # fmt: skip


def decode_parsed(raw: bytes, info: WireInfo, *, lenient: bool = False) -> Message:
    """:func:`decode` of bytes a driver has already read with :func:`scapy_fama.wire.parse`."""
    return _decode(raw, info, lenient)


def decode(pkt: Packet | bytes, *, lenient: bool = False) -> Message:
    """The message ``pkt`` carries: bytes starting with the IPv6 header, or a Scapy packet
    with an IPv6 layer. ``lenient`` reads a message the checks refuse, for its content."""
    if isinstance(pkt, Packet):
        layer = pkt.getlayer(IPv6)
        raw = bytes(layer) if layer is not None else b""
    else:
        raw = bytes(pkt)
    info = parse(raw)
    if info is None:
        return Undecodable("::", "::", "not an IPv6 packet (or shorter than its 40-byte header)")
    return _decode(raw, info, lenient)
