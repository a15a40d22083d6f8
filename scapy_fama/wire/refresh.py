"""A PHKT refresh foreseen: the bytes of a binding's next BU and of its BA, but for what changes.

Theory of operation
-------------------
An MN refreshes a binding with BUs that differ from the last one it sent in
three fields only: the Sequence Number, the Binding Authorization Data (it
covers the sequence number, RFC 6275 §6.2.7) and the MH checksum. The DAR's BA
to each differs from the last BA in the same three. So, as TCP's header
prediction does for the next segment of a connection, a DAR may keep a
:class:`RefreshShape` of the last refresh it accepted and take a BU equal to it
outside those fields without walking its headers again::

    BU  IPv6 | Dest. Options (HAO) | MH proto len type rsv [checksum] [seq] flags lifetime  NI  BAD-type BAD-len [BAD]
    BA  IPv6 | RH2                 | MH proto len type rsv [checksum] status K [seq] lifetime  BAD-type BAD-len [BAD]
        \\_______________________ equal, byte for byte, to the shape's ____________________/   [..]: the BU's own

:meth:`RefreshShape.read` checks the BU's checksum (RFC 6275 §9.2: a wrong one is
dropped, by the general path here) and returns its sequence number, BAD and the
data the BAD covers; :meth:`RefreshShape.answer` lays out the BA with a sequence
number and finishes it as :func:`~scapy_fama.wire.write.finish` would, with
:func:`~scapy_fama.wire.write.seal` and the offsets the shape keeps (the BAD
keyed as the caller says, then the checksum). What the BU's fields *mean* stays the
protocol's: a shape is made only from a BU the general path read and the core
accepted, and the core decides each foreseen BU again (``DarCore.refresh``).
A shape takes only the layout this toolkit's MN writes: IPv6, a Destination
Options header holding the HAO after a PadN and nothing else, the MH; in the MH
one BAD, last, and no CGA option or PHKT (RFC 4866 §4.5: a Signature covers the
sequence number, and a BU carrying one, or a BA issuing a PHKT, is no refresh).
So its home address sits at one offset for every shape (:func:`shape_key`), and
a DAR looks a BU's shape up with one slice whatever its bindings sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from scapy_fama.crypto import addr_bytes
from scapy_fama.wire.checksum import internet_checksum, pseudo_header
from scapy_fama.wire.numbers import (
    AUTHENTICATOR_LEN,
    BA,
    BAD,
    BU,
    CGA_PARAMS,
    CGA_REQUEST,
    DEST_OPTS,
    IPV6_HEADER,
    MH,
    PHKT,
    SIGNATURE,
)
from scapy_fama.wire.read import WireInfo
from scapy_fama.wire.write import MhFrame, frame_of, hao_header, seal

_NEVER = frozenset((CGA_PARAMS, SIGNATURE, CGA_REQUEST, PHKT))  # what only a first BU or its BA carries
CHECKSUM, BU_SEQ, BA_SEQ = 4, 6, 8  # MH offsets (RFC 6275 §6.1.1, §6.1.7, §6.1.8)
HEADERS = IPV6_HEADER + len(hao_header(MH, "::"))  # IPv6 | Destination Options: PadN, HAO (write.py)
ADDRESS = 16


def shape_key(ip: bytes) -> bytes:
    """Where a BU of the one layout a shape takes carries its home address: the key of its
    binding's shape (any other packet gives bytes no shape is kept under, or read() refuses)."""
    return ip[HEADERS - ADDRESS : HEADERS]


@dataclass(frozen=True)
class RefreshShape:
    """The last accepted refresh of one binding (``bu``, its IPv6 bytes) and the BA that answered
    it, with the offsets of the fields that change."""

    bu: bytes
    mh: int  # offset of the BU's MH
    bad: int  # offset of the BU's BAD data, which ends the packet
    pseudo: bytes  # the BU checksum's pseudo-header (RFC 6275 §6.1.1)
    ba: MhFrame  # the BA, rewritten in place by each answer: seq, BAD and checksum, all that changes
    ba_pseudo: bytes  # the BA checksum's pseudo-header
    ba_bad: int  # offset of the BA's BAD data in ``ba.data``
    ba_endpoints: tuple[bytes, bytes]  # (care-of address, correspondent) the BA's BAD covers

    def read(self, ip: bytes) -> tuple[int, bytes, bytes] | None:
        """(sequence number, BAD, the MH data the BAD covers with the checksum zero) of ``ip`` if
        it is this refresh again with a right checksum; None otherwise."""
        mh, bad, bu = self.mh, self.bad, self.bu
        if len(ip) != len(bu) or ip[: mh + CHECKSUM] != bu[: mh + CHECKSUM] or ip[mh + BU_SEQ + 2 : bad] != bu[mh + BU_SEQ + 2 : bad]:  # fmt: skip
            return None
        zeroed = ip[mh : mh + CHECKSUM] + b"\0\0" + ip[mh + BU_SEQ : bad]
        checksum = internet_checksum(self.pseudo + zeroed + ip[bad:])
        if checksum != int.from_bytes(ip[mh + CHECKSUM : mh + BU_SEQ], "big"):
            return None
        return int.from_bytes(ip[mh + BU_SEQ : mh + BU_SEQ + 2], "big"), ip[bad:], zeroed

    def answer(self, seq: int, auth_key: bytes) -> bytes:
        """The BA again, for sequence number ``seq``, its BAD keyed with ``auth_key``."""
        frame = self.ba
        frame.data[frame.mh + BA_SEQ : frame.mh + BA_SEQ + 2] = seq.to_bytes(2, "big")
        return seal(frame.data, frame.mh, frame.length, self.ba_pseudo, self.ba_bad, auth_key, *self.ba_endpoints)


def refresh_shape(bu: bytes, info: WireInfo, ba: bytes, ba_endpoints: tuple[str, str]) -> RefreshShape | None:
    """The shape of the refresh ``bu`` (read as ``info``, whole: a reassembled one too) answered
    by ``ba``; None for a layout it does not take: other headers before the MH than the HAO
    as this toolkit writes it, not a whole BU and BA each with one BAD that ends it, or one
    carrying a CGA option or a PHKT."""
    mh = info.mh
    answer = frame_of(ba)
    if mh is None or mh.mhtype != BU or info.fragment is not None or info.end != len(bu) or answer is None:
        return None
    if info.hoa is None or mh.offset != HEADERS or bu[6] != DEST_OPTS or bu[IPV6_HEADER:HEADERS] != hao_header(MH, info.hoa):
        return None
    if answer.data[answer.mh + 2] != BA or answer.mh + answer.length != len(ba):
        return None
    shapes = []
    for options, length in ((mh.options, mh.length), (answer.options, answer.length)):
        bads = [start for otype, start, size in options if otype == BAD and size == AUTHENTICATOR_LEN]
        if len(bads) != 1 or bads[0] + 2 + AUTHENTICATOR_LEN != length or any(o[0] in _NEVER for o in options):
            return None
        shapes.append(bads[0])
    if mh.offset + mh.length != len(bu):
        return None
    pseudo = pseudo_header(info.pseudo_src, info.pseudo_dst, mh.length, MH)
    ba_pseudo = pseudo_header(answer.pseudo_src, answer.pseudo_dst, answer.length, MH)
    coa, correspondent = map(addr_bytes, ba_endpoints)
    return RefreshShape(bytes(bu), mh.offset, mh.offset + shapes[0] + 2, pseudo, answer, ba_pseudo,
                        answer.mh + shapes[1] + 2, (coa, correspondent))  # fmt: skip
