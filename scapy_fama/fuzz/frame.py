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

from dataclasses import dataclass, field

from scapy_fama.crypto import KeyPair, kbm, sign_mh
from scapy_fama.proto.messages import is_deregistration, lifetime_seconds, signing_endpoints
from scapy_fama.wire import MhFrame, WireInfo, finish, parse
from scapy_fama.wire.layout import pad, tlv
from scapy_fama.wire.numbers import FRAGMENT, FRAGMENT_HEADER, MH
from scapy_fama.wire.write import extension, ipv6


@dataclass
class Opt:
    """One mobility option; ``otype`` 0 is Pad1 (a lone byte)."""

    otype: int
    data: bytes = b""
    length: int | None = None  # the Length byte, when it does not match the data

    def wire(self) -> bytes:
        return tlv(self.otype, self.data, self.length)


@dataclass
class Ext:
    """One extension header: its type and the bytes after Next Header and Hdr Ext Len."""

    nh: int
    body: bytes
    hlen: int | None = None  # the Hdr Ext Len byte, when it lies

    def wire(self, next_nh: int) -> bytes:
        return extension(next_nh, self.body, fragment=self.nh == FRAGMENT, hdr_ext_len=self.hlen)


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

    def key(self) -> tuple[object, ...]:
        """Every field, as one hashable value: frames with equal keys render alike."""
        return (self.head, self.src, self.dst, tuple([(e.nh, e.body, e.hlen) for e in self.ext]), self.upper,
                bytes(self.mh), tuple([(o.otype, o.data, o.length) for o in self.options]), self.tail, self.pad_tail,
                self.header_len, self.payload_length, self.checksum, self.truncate)

    def copy(self) -> "Frame":
        """A copy to mutate: the parts are copied one level down (their fields are bytes and
        numbers), each made from its fields (five times faster than ``copy.copy``)."""
        out = Frame(**self.__dict__)
        out.ext = [Ext(**e.__dict__) for e in self.ext]
        out.mh = bytearray(self.mh)
        out.options = [Opt(**o.__dict__) for o in self.options]
        return out


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
        size = FRAGMENT_HEADER if nh == FRAGMENT else 8 * (raw[off + 1] + 1)
        ext.append(Ext(nh, raw[off + 2 : off + size]))
        off += size
    mh = info.mh
    start, end = mh.offset, mh.offset + mh.length
    fixed = mh.options[0][1] if mh.options else mh.length
    options = [Opt(t, raw[start + o + 2 : start + o + 2 + n] if t else b"") for t, o, n in mh.options]
    return Frame(raw[:4] + raw[7:8], raw[8:24], raw[24:40], ext, info.proto or MH,
                 bytearray(raw[start : start + fixed]), options, raw[end:])


def render(frame: Frame, signer: Signer | None = None) -> bytes:
    """The packet's bytes: lengths, signature, BAD and checksum as described above."""
    body = bytes(frame.mh) + b"".join(o.wire() for o in frame.options)
    if frame.pad_tail:
        body += pad(-len(body) % 8)
    mh = bytearray(body)
    if len(mh) >= 6:
        mh[1] = (max(len(mh) // 8 - 1, 0) if frame.header_len is None else frame.header_len) & 0xFF
        mh[4:6] = b"\0\0"
    nhs = [e.nh for e in frame.ext] + [frame.upper]
    exts = b"".join(e.wire(nhs[i + 1]) for i, e in enumerate(frame.ext))
    raw = ipv6(frame.src, frame.dst, nhs[0], exts + bytes(mh) + frame.tail, frame.head[4],
               first_word=frame.head[:4], payload_length=frame.payload_length)  # fmt: skip
    info = parse(raw)
    if info is not None and info.mh is not None and len(mh) >= 6:
        off = info.mh.offset
        laid = MhFrame(bytearray(raw), off, len(mh), list(info.mh.options), info.pseudo_src, info.pseudo_dst)
        raw = _finish(laid, info, signer) if signer is not None else finish(laid)
        if frame.checksum is not None:
            raw = raw[: off + 4] + (frame.checksum & 0xFFFF).to_bytes(2, "big") + raw[off + 6 :]
    return raw if frame.truncate is None else raw[: frame.truncate]


def _finish(laid: MhFrame, info: WireInfo, signer: Signer) -> bytes:
    """Signature and BAD as a receiver locates and keys them (see the module docstring)."""
    assert info.mh is not None
    units = info.mh.lifetime_units or 0
    dereg = signer.to_dar and is_deregistration(info.src, info.hoa, lifetime_seconds(units))
    hoa = info.hoa if signer.to_dar else info.rh2
    coa, peer = signing_endpoints(info.src, info.dst, hoa or (info.src if signer.to_dar else info.dst), dereg,
                                  from_mn=signer.to_dar)  # fmt: skip
    key = kbm(signer.home_token, None, deregistration=dereg)
    return finish(laid, coa=coa, correspondent=peer, keypair=signer.key, auth_key=key, sign=signer.sign)
