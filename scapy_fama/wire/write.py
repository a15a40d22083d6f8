"""The writer: IPv6 packets with a Mobility Header, laid out once and finished in place.

Theory of operation
-------------------
A message is laid out in one pass, with placeholders of their final sizes for
the Signature and the BAD, so that the Header Len is final; :func:`finish`
then fills them in the order of RFC 4866 §4.5: Signature, BAD, checksum::

    IPv6 | DestOpt(PadN, HAO=HoA)? | RH2(HoA)? | MH: fixed part | options (aligned) | pad to 8n
                                                 ^ MhFrame.mh     ^ MhFrame.options: (type, offset, length)

    Signature = sign(CoA, correspondent, MH[0 : end of the last CGA Parameters option])
    BAD       = First96(HMAC_SHA1(Kbm, CoA | correspondent | MH[0 : BAD's Type and Length]))
    checksum  over the pseudo-header of the addresses the mobility layer sees (HAO, RH2)

each computed with the checksum field zero. Which CoA and correspondent a
message is covered for is a protocol rule
(:func:`scapy_fama.proto.messages.signing_endpoints`); the caller passes them.
A message with no Signature to make (a DAR's BAs, PHKT BUs, Binding Errors) is
written by :func:`sealed` in one pass instead: the MH filled, its BAD keyed and
its checksum made before the headers go in front, the bytes ``finish`` would give.
:func:`frame_of` gives the frame of bytes that were laid out elsewhere (an
edited packet, a mutant), read as a receiver reads them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from scapy_fama.crypto import KeyPair, addr_bytes, bad_authenticator, sign_mh
from scapy_fama.wire.checksum import internet_checksum, pseudo_header, udp_checksum
from scapy_fama.wire.layout import place
from scapy_fama.wire.numbers import (
    AUTHENTICATOR_LEN,
    BAD,
    CGA_PARAMS,
    DEST_OPTS,
    FRAGMENT,
    FRAGMENT_HEADER,
    HAO,
    HAO_LEN,
    IPV6_HEADER,
    MH,
    NO_NEXT_HEADER,
    OPT_PADN,
    OPTIONS_START,
    ROUTING,
    ROUTING_TYPE_2,
    SIGNATURE,
    UDP,
)
from scapy_fama.wire.read import Fragment, parse

pton = addr_bytes  # text (or 16 bytes) to 16 bytes; memoised, a role meets the same addresses again


_FIRST_WORD = bytes((0x60, 0, 0, 0))  # version 6, traffic class and flow label 0


def ipv6(
    src: str | bytes,
    dst: str | bytes,
    next_header: int,
    payload: bytes,
    hlim: int = 64,
    *,
    first_word: bytes = _FIRST_WORD,
    payload_length: int | None = None,
) -> bytes:
    """An IPv6 header in front of ``payload`` (addresses as text or 16 bytes); ``payload_length``
    other than the payload's own only for a packet made wrong on purpose."""
    plen = len(payload) if payload_length is None else payload_length
    head = first_word[:4] + (plen & 0xFFFF).to_bytes(2, "big") + bytes((next_header & 0xFF, hlim & 0xFF))
    return head + pton(src) + pton(dst) + payload


def extension(next_header: int, body: bytes, *, fragment: bool = False, hdr_ext_len: int | None = None) -> bytes:
    """An extension header: Next Header, Hdr Ext Len (in 8-octet units after the first 8;
    a Fragment header's second byte is Reserved), ``body`` padded with zero bytes to 8n."""
    body = body + bytes(-(2 + len(body)) % 8)
    size = 0 if fragment else (2 + len(body)) // 8 - 1
    return bytes((next_header & 0xFF, (size if hdr_ext_len is None else hdr_ext_len) & 0xFF)) + body


def _naming(packet: bytes | bytearray, at: int) -> int:
    """The offset of the Next Header field that names the header starting at ``at`` (the IPv6
    header's, or that of the extension header before it)."""
    named_at, pos = 6, IPV6_HEADER
    while pos < at:
        named_at, pos = pos, pos + 8 * (packet[pos + 1] + 1)
    return named_at


def reassembled(first: bytes, fragment: Fragment, payload: bytes) -> bytes:
    """RFC 8200 §4.5: the original packet, from the first fragment's unfragmentable part (the
    IPv6 header and the extension headers before the Fragment header) and the fragmentable
    parts of all the fragments in order (``payload``). The Fragment header goes: the header
    that named it names the fragment's Next Header, and the Payload Length counts the rest."""
    unfragmentable = bytearray(first[: fragment.offset])
    unfragmentable[_naming(unfragmentable, fragment.offset)] = fragment.next_header
    unfragmentable[4:6] = (len(unfragmentable) - IPV6_HEADER + len(payload)).to_bytes(2, "big")
    return bytes(unfragmentable) + payload


def fragments(packet: bytes, at: int, cuts: Sequence[int], identification: int) -> list[bytes]:
    """RFC 8200 §4.5: ``packet`` in fragments. The headers before offset ``at`` are the
    unfragmentable part, repeated in each fragment (a Home Address option stays there, RFC 6275
    §6.3); the rest is cut at ``cuts`` (bytes into it, multiples of 8) and each piece follows a
    Fragment header (the cut-off header's type, its offset, M=1 but on the last, the
    ``identification``), the header before it naming the Fragment header."""
    if any(cut % 8 for cut in cuts):
        raise ValueError(f"fragments are cut at multiples of 8 bytes, not at {list(cuts)}")
    unfragmentable = bytearray(packet[:at])
    named_at = _naming(unfragmentable, at)
    next_header, unfragmentable[named_at] = unfragmentable[named_at], FRAGMENT
    data = packet[at:]
    bounds = [0, *cuts, len(data)]
    out = []
    for start, end in zip(bounds, bounds[1:]):
        more = int(end < len(data))
        header = bytes((next_header, 0)) + (start | more).to_bytes(2, "big") + identification.to_bytes(4, "big")
        head = bytearray(unfragmentable)
        head[4:6] = (len(head) - IPV6_HEADER + FRAGMENT_HEADER + end - start).to_bytes(2, "big")
        out.append(bytes(head) + header + data[start:end])
    return out


_HAO_OPTIONS = bytes((OPT_PADN, 2, 0, 0, HAO, HAO_LEN))  # PadN, then the HAO at 8n+6 (RFC 6275 §6.3)
_RH2_FIELDS = bytes((ROUTING_TYPE_2, 1, 0, 0, 0, 0))  # Routing Type 2, Segments Left 1, reserved (§6.4)
_ADDRESS_HEADER_LEN = 2  # Hdr Ext Len of either header: 24 bytes, 8 * (2 + 1)


def hao_body(hoa: str | bytes) -> bytes:
    """Destination Options data: a Home Address option at 8n+6 after a 4-byte PadN (RFC 6275 §6.3)."""
    return _HAO_OPTIONS + pton(hoa)


def rh2_body(hoa: str | bytes) -> bytes:
    """Type 2 Routing header data: Segments Left 1, reserved, the home address (RFC 6275 §6.4)."""
    return _RH2_FIELDS + pton(hoa)


def hao_header(next_header: int, hoa: str | bytes) -> bytes:
    """A Destination Options header holding :func:`hao_body` (24 bytes, no padding needed)."""
    return bytes((next_header, _ADDRESS_HEADER_LEN)) + _HAO_OPTIONS + pton(hoa)


def rh2_header(next_header: int, hoa: str | bytes) -> bytes:
    """A type 2 Routing header holding :func:`rh2_body` (24 bytes)."""
    return bytes((next_header, _ADDRESS_HEADER_LEN)) + _RH2_FIELDS + pton(hoa)


def udp_packet(
    src: str, dst: str, sport: int, dport: int, payload: bytes, *, hoa: str | None = None, hlim: int = 64
) -> bytes:
    """IPv6 [/ DestOpt(HAO=hoa)] / UDP; the checksum covers the home address when a HAO is
    present (RFC 6275 §6.3: the upper layer sees the HoA as source)."""
    length = 8 + len(payload)
    head = sport.to_bytes(2, "big") + dport.to_bytes(2, "big") + length.to_bytes(2, "big") + b"\0\0"
    cksum = udp_checksum(head + payload, hoa or src, dst)
    datagram = head[:6] + cksum.to_bytes(2, "big") + payload
    if hoa is None:
        return ipv6(src, dst, UDP, datagram, hlim)
    return ipv6(src, dst, DEST_OPTS, hao_header(UDP, hoa) + datagram, hlim)


@dataclass
class MhFrame:
    """An IPv6 packet carrying a Mobility Header, with the offsets :func:`finish` needs."""

    data: bytearray
    mh: int  # offset of the MH in ``data``
    length: int  # of the MH in bytes
    options: list[tuple[int, int, int]]  # (type, MH offset, data length)
    pseudo_src: str  # the addresses of the checksum's pseudo-header (RFC 6275 §6.1.1)
    pseudo_dst: str


def bu_fixed(seq: int, flags: int, lifetime_units: int) -> bytes:
    """A BU's fixed part (RFC 6275 §6.1.7): Sequence #, the flags word, Lifetime."""
    return (seq & 0xFFFF).to_bytes(2, "big") + (flags & 0xFFFF).to_bytes(2, "big") + lifetime_units.to_bytes(2, "big")


def ba_fixed(status: int, flags: int, seq: int, lifetime_units: int) -> bytes:
    """A BA's fixed part (RFC 6275 §6.1.8): Status, the flag byte, Sequence #, Lifetime."""
    return bytes((status, flags)) + (seq & 0xFFFF).to_bytes(2, "big") + lifetime_units.to_bytes(2, "big")


def mh_bytes(mhtype: int, body: bytes, *, header_len: int | None = None) -> bytes:
    """A Mobility Header: Payload Proto 59, Header Len (from the length unless given: a header
    made wrong on purpose), ``mhtype``, checksum 0, then ``body`` (fixed part and options)."""
    hlen = (6 + len(body)) // 8 - 1 if header_len is None else header_len
    return bytes((NO_NEXT_HEADER, hlen & 0xFF, mhtype, 0, 0, 0)) + body


def mh_packet(src: str, dst: str, mh: bytes, *, hoa: str | None = None, rh2: str | None = None, hlim: int = 64) -> bytes:
    """IPv6 [/ DestOpt(HAO=hoa)] [/ RH2(rh2)] / ``mh``."""
    return _mh_headers(src, dst, hoa, rh2, hlim, len(mh)) + mh


def _mh_headers(src: str, dst: str, hoa: str | None, rh2: str | None, hlim: int, length: int) -> bytes:
    """The headers :func:`mh_packet` puts in front of an MH of ``length`` bytes."""
    ext, nh = b"", MH
    if rh2 is not None:
        ext, nh = rh2_header(nh, rh2), ROUTING
    if hoa is not None:
        ext, nh = hao_header(nh, hoa) + ext, DEST_OPTS
    return _ipv6_header(src, dst, nh, hlim, len(ext) + length) + ext


@lru_cache(maxsize=4096)  # a role writes to the same few peers, at the few lengths of its messages
def _ipv6_header(src: str, dst: str, next_header: int, hlim: int, payload_length: int) -> bytes:
    return ipv6(src, dst, next_header, b"", hlim, payload_length=payload_length)


def mobility(
    src: str,
    dst: str,
    mhtype: int,
    fixed: bytes,
    options: Sequence[tuple[int, bytes]] = (),
    *,
    hoa: str | None = None,
    rh2: str | None = None,
    hlim: int = 64,
) -> MhFrame:
    """IPv6 [/ DestOpt(HAO=hoa)] [/ RH2(rh2)] / MH(``mhtype``, ``fixed``, ``options``), checksum 0.

    ``fixed`` is the message's fixed part after the 6 common bytes, as long as
    RFC 6275 §6.1 says (:data:`~scapy_fama.wire.numbers.OPTIONS_START` - 6)."""
    body, where, _ = _filled(mhtype, fixed, options)
    packet = mh_packet(src, dst, body, hoa=hoa, rh2=rh2, hlim=hlim)
    return MhFrame(bytearray(packet), len(packet) - len(body), len(body), list(where), hoa or src, rh2 or dst)


def sealed(
    src: str,
    dst: str,
    mhtype: int,
    fixed: bytes,
    options: Sequence[tuple[int, bytes]] = (),
    *,
    hoa: str | None = None,
    rh2: str | None = None,
    hlim: int = 64,
    coa: str = "",
    correspondent: str = "",
    auth_key: bytes | None = None,
) -> bytes:
    """``finish(mobility(...), coa=coa, correspondent=correspondent, auth_key=auth_key)`` for a
    message without a Signature to make (a BA, a PHKT BU, a Binding Error): the same bytes, the
    MH laid out, its BAD keyed and its checksum made before the headers go in front of it,
    without a frame in between (a DAR writes one of these for every BU it answers)."""
    body, _, bad_at = _filled(mhtype, fixed, options)
    pseudo = pseudo_header(hoa or src, rh2 or dst, len(body), MH)
    _authenticate(body, 0, len(body), pseudo, bad_at, auth_key, coa, correspondent)
    return _mh_headers(src, dst, hoa, rh2, hlim, len(body)) + body  # mh_packet's bytes


def _filled(
    mhtype: int, fixed: bytes, options: Sequence[tuple[int, bytes]]
) -> tuple[bytearray, tuple[tuple[int, int, int], ...], int | None]:
    """The MH of ``mhtype`` with ``fixed`` and ``options`` in place, checksum 0; where its options
    sit; the MH offset of the data of its BAD as :func:`finish` fills it (None: no such BAD)."""
    start = OPTIONS_START.get(mhtype, 6 + len(fixed))
    assert 6 + len(fixed) == start, f"MH type {mhtype}: fixed part of {len(fixed)} bytes"
    mh, where, bad_at = _laid_out(mhtype, len(fixed), tuple((otype, len(data)) for otype, data in options))
    body = bytearray(mh)
    body[6:start] = fixed
    for (otype, data), (_, pos, size) in zip(options, where):
        if size:  # a Pad1 is its type byte alone, of data length 0 (layout.place)
            body[pos + 2 : pos + 2 + size] = data
    return body, where, bad_at


@lru_cache(maxsize=256)
def _laid_out(
    mhtype: int, fixed: int, shape: tuple[tuple[int, int], ...]
) -> tuple[bytes, tuple[tuple[int, int, int], ...], int | None]:
    """The MH of one shape (type, fixed part's length, each option's type and data length),
    laid out with every field zero, where its options sit and where the data of the BAD
    :func:`finish` keys start (the first BAD, of 12 bytes): a role sends the same few shapes
    again and again, so each is laid out once and then filled in (:func:`mobility`)."""
    body, where = place([(otype, bytes(size)) for otype, size in shape], 6 + fixed)
    return mh_bytes(mhtype, bytes(fixed) + body), tuple(where), _bad_at(where)


def _bad_at(options: Sequence[tuple[int, int, int]]) -> int | None:
    """The MH offset of the data of the BAD a sender keys (RFC 6275 §6.2.7): the first BAD
    option, when it is of the authenticator's size; None otherwise."""
    bad = next((o for o in options if o[0] == BAD), None)
    return bad[1] + 2 if bad is not None and bad[2] == AUTHENTICATOR_LEN else None


def frame_of(raw: bytes) -> MhFrame | None:
    """The frame of a packet laid out elsewhere, as a receiver reads it; None without a whole MH."""
    info = parse(raw)
    if info is None or info.mh is None or info.mh.offset + info.mh.length > info.end:
        return None
    mh = info.mh
    return MhFrame(bytearray(raw), mh.offset, mh.length, list(mh.options), info.pseudo_src, info.pseudo_dst)


def finish(
    frame: MhFrame,
    *,
    coa: str = "",
    correspondent: str = "",
    keypair: KeyPair | None = None,
    auth_key: bytes | None = None,
    sign: Callable[[str, str, bytes], bytes] | None = None,
) -> bytes:
    """Fill the Signature (with ``keypair``; ``sign`` computes it instead of
    :func:`~scapy_fama.crypto.sign_mh`, e.g. from a cache), the BAD (with ``auth_key``) and
    the checksum.

    As a receiver reads them (RFC 4866 §4.5, RFC 6275 §6.2.7): the first Signature
    option, of the key's size, over the MH up to the end of the last CGA Parameters
    option; the first BAD, of 12 bytes. Options that do not qualify are left as
    they are, so a layout made wrong on purpose (a conformance case, a mutant)
    keeps its one fault.
    """
    out, off = frame.data, frame.mh
    end = off + frame.length
    out[off + 4 : off + 6] = b"\0\0"
    opts = frame.options
    if keypair is not None:
        cga_end = max((start + 2 + size for otype, start, size in opts if otype == CGA_PARAMS), default=None)
        sig = next((o for o in opts if o[0] == SIGNATURE), None)
        if cga_end is not None and sig is not None and sig[2] == keypair.bits // 8 and off + sig[1] + 2 + sig[2] <= end:
            covered = bytes(out[off : off + cga_end])
            signature = sign(coa, correspondent, covered) if sign else sign_mh(keypair, coa, correspondent, covered)
            out[off + sig[1] + 2 : off + sig[1] + 2 + sig[2]] = signature
    bad_at = None
    if auth_key is not None:
        at = _bad_at(opts)
        if at is not None and off + at + AUTHENTICATOR_LEN <= end:
            bad_at = off + at
    pseudo = pseudo_header(frame.pseudo_src, frame.pseudo_dst, end - off, MH)
    return seal(frame.data, frame.mh, frame.length, pseudo, bad_at, auth_key, coa, correspondent)


def seal(
    out: bytearray,
    mh: int,
    length: int,
    pseudo: bytes,
    bad_at: int | None,
    auth_key: bytes | None,
    coa: str | bytes,
    correspondent: str | bytes,
) -> bytes:
    """:func:`finish` past the Signature, where the caller knows where things are: the BAD of
    the ``length``-byte MH at ``mh`` in ``out`` whose data start at ``bad_at`` (None: no BAD),
    keyed with ``auth_key``, then the checksum over ``pseudo``, the MH's pseudo-header."""
    _authenticate(out, mh, mh + length, pseudo, bad_at, auth_key, coa, correspondent)
    return bytes(out)


def _authenticate(
    out: bytearray,
    off: int,
    end: int,
    pseudo: bytes,
    bad_at: int | None,
    auth_key: bytes | None,
    coa: str | bytes,
    correspondent: str | bytes,
) -> None:
    """The BAD at ``bad_at`` (None: none) and the checksum of the MH ``out[off:end]``."""
    out[off + 4 : off + 6] = b"\0\0"  # the BAD and the checksum each cover it as zero
    if bad_at is not None and auth_key is not None:
        covered = bytes(out[off:bad_at])
        out[bad_at : bad_at + AUTHENTICATOR_LEN] = bad_authenticator(auth_key, coa, correspondent, covered)
    # the sum runs over the MH as it is (RFC 6275 §6.1.1)
    out[off + 4 : off + 6] = internet_checksum(pseudo + out[off:end]).to_bytes(2, "big")


def finish_bytes(
    raw: bytes,
    *,
    coa: str = "",
    correspondent: str = "",
    keypair: KeyPair | None = None,
    auth_key: bytes | None = None,
) -> bytes:
    """:func:`finish` on bytes laid out elsewhere (an edited packet, a hand-made layout)."""
    frame = frame_of(raw)
    if frame is None:
        raise ValueError("finish_bytes() needs an IPv6 packet carrying a whole Mobility Header")
    return finish(frame, coa=coa, correspondent=correspondent, keypair=keypair, auth_key=auth_key)
