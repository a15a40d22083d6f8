"""A message as an editable structure: the unit every mutation works on.

Theory of operation
-------------------
A :class:`Frame` splits an IPv6 packet carrying a Mobility Header into what
mutators change one at a time, and :func:`render` puts it back together with
honest lengths unless a mutation made one lie::

    head (8) | src | dst | ext headers ... | MH fixed part | options ... | tail pad | tail
               plen  <- computed unless ``payload_length``
               Hdr Ext Len <- computed unless ``Ext.hlen``
                                      Header Len <- computed unless ``header_len``
                                      option Length <- len(data) unless ``Opt.length``
                                      checksum <- RFC 6275 §6.1.1 unless ``checksum``

With a :class:`Signer` (``--keep-valid``) rendering re-signs and re-authenticates
as a receiver would read the result: the Signature right after the last CGA
Parameters option is computed over MH[0 : that option] (RFC 4866 §4.5), the
first BAD over MH[0 : its Type and Length] (RFC 6275 §6.2.7), then the
checksum, with the pseudo-header from the HAO and RH2 as :mod:`scapy_fama.wire`
reads them. ``render(parse(raw)) == raw`` for every well-formed seed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field, replace

from scapy_fama.crypto import KeyPair, bad_authenticator, kbm, sign_mh
from scapy_fama.layers.checksum import mh_checksum
from scapy_fama.wire import WireInfo, parse

FRAGMENT = 44
HAO_TYPE, RH2_TYPE = 0xC9, 2
SIGNATURE, CGA_PARAMS, BAD = 13, 12, 5
BAD_SIZE = 12


@dataclass
class Opt:
    """One mobility option; ``otype`` 0 is Pad1 (a lone byte)."""

    otype: int
    data: bytes = b""
    length: int | None = None  # the Length byte, when it does not match the data

    def wire(self) -> bytes:
        if self.otype == 0:
            return b"\0"
        n = len(self.data) if self.length is None else self.length
        return bytes((self.otype & 0xFF, n & 0xFF)) + self.data


@dataclass
class Ext:
    """One extension header: its type and the bytes after Next Header and Hdr Ext Len."""

    nh: int
    body: bytes
    hlen: int | None = None  # the Hdr Ext Len byte, when it lies

    def wire(self, next_nh: int) -> bytes:
        body = self.body + bytes(-(2 + len(self.body)) % 8)  # zero bytes: Pad1 / reserved
        size = 0 if self.nh == FRAGMENT else (2 + len(body)) // 8 - 1
        return bytes((next_nh & 0xFF, (size if self.hlen is None else self.hlen) & 0xFF)) + body


@dataclass
class Frame:
    head: bytes  # version, traffic class, flow label (4 bytes) + hop limit (1 byte)
    src: bytes
    dst: bytes
    ext: list[Ext]
    upper: int
    mh: bytearray  # the MH up to its first option (the common part and the fixed fields)
    options: list[Opt]
    tail: bytes = b""  # bytes after the MH
    pad_tail: bool = True
    header_len: int | None = None
    payload_length: int | None = None
    checksum: int | None = None
    truncate: int | None = None

    @property
    def mhtype(self) -> int:
        return self.mh[2] if len(self.mh) > 2 else -1

    def copy(self) -> "Frame":
        return replace(
            self,
            ext=[replace(e) for e in self.ext],
            mh=bytearray(self.mh),
            options=[replace(o) for o in self.options],
        )


@dataclass(frozen=True)
class Signer:
    """What re-signing needs: the key, the home token of the BAD, who receives the message."""

    key: KeyPair
    home_token: bytes
    to_dar: bool = True  # a BU/CoTI (CoA = src) rather than a BA (CoA = dst)
    cache: dict[bytes, bytes] = field(default_factory=dict, compare=False)

    def sign(self, coa: str, correspondent: str, covered: bytes) -> bytes:
        memo = coa.encode() + correspondent.encode() + covered  # a probe or mutant seen again
        if memo not in self.cache:
            if len(self.cache) > 256:
                self.cache.clear()
            self.cache[memo] = sign_mh(self.key, coa, correspondent, covered)
        return self.cache[memo]


def parse_frame(raw: bytes) -> Frame:
    """Split a well-formed IPv6 + MH packet (a seed) into a :class:`Frame`."""
    info = parse(raw)
    if info is None or info.mh is None or info.problem:
        raise ValueError("a seed must be an IPv6 packet carrying a whole Mobility Header")
    ext, off = [], 40
    for nh in info.ext:
        size = 8 if nh == FRAGMENT else 8 * (raw[off + 1] + 1)
        ext.append(Ext(nh, raw[off + 2 : off + size]))
        off += size
    mh = info.mh
    start, end = mh.offset, mh.offset + mh.length
    fixed = mh.options[0][1] if mh.options else mh.length
    options = [Opt(t, raw[start + o + 2 : start + o + 2 + n] if t else b"") for t, o, n in mh.options]
    return Frame(raw[:4] + raw[7:8], raw[8:24], raw[24:40], ext, info.proto or 135,
                 bytearray(raw[start : start + fixed]), options, raw[end:])


def _pad(size: int) -> bytes:
    return b"" if size == 0 else b"\0" if size == 1 else bytes((1, size - 2)) + bytes(size - 2)


def render(frame: Frame, signer: Signer | None = None) -> bytes:
    """The packet's bytes: lengths, signature, BAD and checksum as described above."""
    body = bytes(frame.mh) + b"".join(o.wire() for o in frame.options)
    if frame.pad_tail:
        body += _pad(-len(body) % 8)
    mh = bytearray(body)
    if len(mh) >= 6:
        mh[1] = (max(len(mh) // 8 - 1, 0) if frame.header_len is None else frame.header_len) & 0xFF
        mh[4:6] = b"\0\0"
    nhs = [e.nh for e in frame.ext] + [frame.upper]
    exts = b"".join(e.wire(nhs[i + 1]) for i, e in enumerate(frame.ext))
    payload = exts + bytes(mh) + frame.tail
    plen = len(payload) if frame.payload_length is None else frame.payload_length
    head = frame.head[:4] + struct.pack("!HBB", plen & 0xFFFF, nhs[0] & 0xFF, frame.head[4])
    raw = bytearray(head + frame.src + frame.dst + payload)
    info = parse(bytes(raw))
    if info is not None and info.mh is not None and len(mh) >= 6:
        off = info.mh.offset
        if signer is not None:
            _resign(raw, info, signer)
        if frame.checksum is not None:
            value = frame.checksum
        else:
            value = mh_checksum(bytes(raw[off : off + len(mh)]), info.hoa or info.src, info.rh2 or info.dst)
        raw[off + 4 : off + 6] = (value & 0xFFFF).to_bytes(2, "big")
    return bytes(raw if frame.truncate is None else raw[: frame.truncate])


def _resign(raw: bytearray, info: WireInfo, signer: Signer) -> None:
    """Signature and BAD as a receiver locates them (see the module docstring)."""
    mh = info.mh
    assert mh is not None
    off, end = mh.offset, mh.offset + mh.length
    opts = mh.options
    coa, peer = (info.src, info.dst) if signer.to_dar else (info.dst, info.src)
    dereg = signer.to_dar and (mh.lifetime == 0 or info.hoa is None or info.hoa == info.src)
    if dereg:
        coa = info.hoa or info.src  # profile §4: the HoA stands in for the CoA
    size = signer.key.bits // 8
    for i, (otype, start, n) in enumerate(opts):
        if otype == SIGNATURE and i and opts[i - 1][0] == CGA_PARAMS and n == size and off + start + 2 + n <= end:
            raw[off + start + 2 : off + start + 2 + n] = signer.sign(coa, peer, bytes(raw[off : off + start]))
            break
    bad = next(((s, n) for t, s, n in opts if t == BAD), None)
    if bad is not None and bad[1] == BAD_SIZE and off + bad[0] + 2 + BAD_SIZE <= end:
        key = kbm(signer.home_token, None, deregistration=dereg)
        covered = bytes(raw[off : off + bad[0] + 2])
        raw[off + bad[0] + 2 : off + bad[0] + 2 + BAD_SIZE] = bad_authenticator(key, coa, peer, covered)
