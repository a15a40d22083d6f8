"""Mobility options (RFC 6275 §6.2, RFC 4866 §5) with FAMA's fixes to Scapy 2.8.

Theory of operation
-------------------
Options follow the fixed part of a Mobility Header as TLVs (Pad1 is a lone zero
byte). :class:`MobilityOptionsField` dissects them through :data:`OPTION_CLASSES`,
so every message class gets the same option set:

* Nonce Indices and Binding Authorization Data with the RFC lengths (Scapy 2.8
  defaults both to 16 and fixes the authenticator at 96 bits);
* the RFC 4866 options under their RFC names (CGA Parameters Request 11, CGA
  Parameters 12, Signature 13, Permanent Home Keygen Token 14, Care-of Test Init
  15, Care-of Test 16);
* the PMIPv6 options of RFC 5213 (types 22-27, :mod:`scapy_fama.layers.pmip`);
* one :class:`CGAParamsOpt` for a whole CGA Parameters block. A block longer than
  255 bytes leaves as back-to-back type-12 options (RFC 4866 §5.1)::

      | 12 | 255 | piece 1 ... | 12 | 255 | piece 2 ... | 12 | n | last piece |

  and consecutive type-12 options are joined again on dissection, whatever tool
  wrote them. ``olens`` keeps the piece lengths seen on the wire, so a dissected
  option rebuilds byte for byte even when its split was not canonical; leave it
  ``None`` to get the RFC split.
"""

from __future__ import annotations

from typing import Any

from scapy.fields import (
    ByteEnumField,
    ByteField,
    Field,
    FieldLenField,
    PacketField,
    ShortField,
    StrLenField,
    XStrLenField,
)
from scapy.layers.inet6 import (
    MIP6OptAltCoA,
    MIP6OptBRAdvice,
    MIP6OptCareOfTest,
    MIP6OptCareOfTestInit,
    MIP6OptCGAParams,
    MIP6OptCGAParamsReq,
    MIP6OptHomeKeygenToken,
    MIP6OptLLAddr,
    MIP6OptMNID,
    MIP6OptMobNetPrefix,
    MIP6OptMsgAuth,
    MIP6OptNonceIndices,
    MIP6OptReplayProtection,
    MIP6OptSignature,
    MIP6OptUnknown,
    MIP6OptBindingAuthData,
    Pad1,
    PadN,
    _OptionsField,
)
from scapy.packet import Packet, Raw

from scapy_fama.layers.cga_params import CGAParams
from scapy_fama.layers.pmip import (
    PMIP_OPTIONS,
    AccessTechTypeOpt,
    HandoffIndicatorOpt,
    HomeNetworkPrefixOpt,
    LinkLocalAddressOpt,
    MNLinkLayerIdOpt,
    TimestampOpt,
)
from scapy_fama.wire.numbers import CGA_PIECE, OPTION_NAMES

MH_MAX_LEN = 2048  # RFC 6275 §6.1.1: Header Len is 8 bits of 8-octet units


class NonceIndices(MIP6OptNonceIndices):
    """Nonce Indices, RFC 6275 §6.2.6: Option Length 4 (Scapy 2.8 says 16)."""

    name = "Nonce Indices"
    match_subclass = True
    fields_desc = [
        ByteEnumField("otype", 4, OPTION_NAMES),
        ByteField("olen", 4),
        ShortField("hni", 0),
        ShortField("coni", 0),
    ]


class BindingAuthData(MIP6OptBindingAuthData):
    """Binding Authorization Data, RFC 6275 §6.2.7: 8n+2, last, 12-byte authenticator."""

    name = "Binding Authorization Data"
    match_subclass = True
    fields_desc = [
        ByteEnumField("otype", 5, OPTION_NAMES),
        FieldLenField("olen", None, length_of="authenticator", fmt="B"),
        XStrLenField("authenticator", bytes(12), length_from=lambda pkt: pkt.olen, max_length=255),
    ]


def _tlv_fields(otype: int, field: str, default: bytes) -> list[Field[Any, Any]]:
    """Type | Length | data, for an RFC 4866 option whose data is one byte string."""
    return [
        ByteEnumField("otype", otype, OPTION_NAMES),
        FieldLenField("olen", None, length_of=field, fmt="B"),
        XStrLenField(field, default, length_from=lambda pkt: pkt.olen, max_length=255),
    ]


class SignatureOpt(MIP6OptSignature):
    """Signature option, RFC 4866 §5.2: follows the last CGA Parameters option."""

    name = "Signature"
    match_subclass = True
    fields_desc = _tlv_fields(13, "sig", b"")


class PHKTOpt(MIP6OptHomeKeygenToken):
    """Permanent Home Keygen Token, RFC 4866 §5.3: the 8-byte token encrypted to the MN."""

    name = "Permanent Home Keygen Token"
    match_subclass = True
    fields_desc = _tlv_fields(14, "phkt", b"")


class CareOfTestOpt(MIP6OptCareOfTest):
    """Care-of Test option, RFC 4866 §5.5: an 8-byte care-of keygen token."""

    name = "Care-of Test"
    match_subclass = True
    fields_desc = _tlv_fields(16, "cokt", bytes(8))


class CGAParamsRequest(MIP6OptCGAParamsReq):
    """CGA Parameters Request, RFC 4866 §5.6 (no data)."""

    name = "CGA Parameters Request"
    match_subclass = True
    fields_desc = [ByteEnumField("otype", 11, OPTION_NAMES), ByteField("olen", 0)]


class CareOfTestInitOpt(MIP6OptCareOfTestInit):
    """Care-of Test Init option, RFC 4866 §5.4 (no data)."""

    name = "Care-of Test Init"
    match_subclass = True
    fields_desc = [ByteEnumField("otype", 15, OPTION_NAMES), ByteField("olen", 0)]


class PieceLengthsField(Field[list[int] | None, bytes]):
    """The Option Length of every type-12 piece as seen on the wire (or None)."""

    islist = 1

    def __init__(self, name: str) -> None:
        super().__init__(name, None, fmt="s")

    def addfield(self, pkt: Packet, s: bytes, val: Any) -> bytes:
        return s  # written by CGAParamsOpt.self_build

    def getfield(self, pkt: Packet, s: bytes) -> tuple[bytes, Any]:
        return s, None  # read by CGAParamsOpt.do_dissect

    def i2repr(self, pkt: Packet | None, x: list[int] | None) -> str:
        return "canonical split" if x is None else repr(x)

    def randval(self) -> Any:
        return None


def split_lengths(total: int) -> list[int]:
    """RFC 4866 §5.1: pieces of 255 bytes, the last one shorter (one piece if empty)."""
    if total == 0:
        return [0]
    full, rest = divmod(total, CGA_PIECE)
    return [CGA_PIECE] * full + ([rest] if rest else [])


class CGAParamsOpt(MIP6OptCGAParams):
    """A whole CGA Parameters block, sent as one or more back-to-back type-12 options."""

    name = "CGA Parameters"
    match_subclass = True
    fields_desc = [
        ByteEnumField("otype", 12, OPTION_NAMES),
        PieceLengthsField("olens"),
        PacketField("params", None, CGAParams),
    ]

    def param_bytes(self) -> bytes:
        """The reassembled parameter block, exactly as carried."""
        params = self.params
        return b"" if params is None else bytes(params)

    def do_dissect(self, s: bytes) -> bytes:
        lengths: list[int] = []
        pieces: list[bytes] = []
        pos = 0
        while pos + 2 <= len(s) and s[pos] == 12:
            size = s[pos + 1]
            lengths.append(size)
            pieces.append(s[pos + 2 : pos + 2 + size])
            pos += 2 + size
        data = b"".join(pieces)
        self.fields["otype"] = 12
        self.fields["olens"] = lengths
        self.fields["params"] = CGAParams(data, _underlayer=self) if len(data) >= 25 else Raw(data)
        self.raw_packet_cache = None
        self.explicit = 1
        return s[pos:]

    def wire_lengths(self) -> list[int]:
        """The piece lengths this option builds to (or was dissected from)."""
        data_len = len(self.param_bytes())
        lengths = self.olens
        if lengths is None or sum(lengths) < data_len:
            return split_lengths(data_len)
        return list(lengths)

    def self_build(self) -> bytes:
        data = self.param_bytes()
        out = []
        pos = 0
        for size in self.wire_lengths():
            out.append(bytes((12, size)) + data[pos : pos + size])
            pos += size
        return b"".join(out)

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        return b"", s


# Option type -> class. Types FAMA does not define keep Scapy's classes.
OPTION_CLASSES: dict[int, type[Packet]] = {
    0: Pad1,
    1: PadN,
    2: MIP6OptBRAdvice,
    3: MIP6OptAltCoA,
    4: NonceIndices,
    5: BindingAuthData,
    6: MIP6OptMobNetPrefix,
    7: MIP6OptLLAddr,
    8: MIP6OptMNID,
    9: MIP6OptMsgAuth,
    10: MIP6OptReplayProtection,
    11: CGAParamsRequest,
    12: CGAParamsOpt,
    13: SignatureOpt,
    14: PHKTOpt,
    15: CareOfTestInitOpt,
    16: CareOfTestOpt,
    **PMIP_OPTIONS,
}


# Option Lengths that a class's layout reads exactly: Scapy's fixed-layout classes
# ignore the length byte, MNID and MsgAuth subtract a fixed part from it.
_DATA_LENGTHS: dict[type[Packet], tuple[int, int]] = {
    MIP6OptBRAdvice: (2, 2),
    MIP6OptAltCoA: (16, 16),
    NonceIndices: (4, 4),
    MIP6OptMobNetPrefix: (18, 18),
    MIP6OptLLAddr: (8, 8),
    MIP6OptMNID: (1, 255),
    MIP6OptMsgAuth: (5, 255),
    MIP6OptReplayProtection: (8, 8),
    CGAParamsRequest: (0, 0),
    CareOfTestInitOpt: (0, 0),
    HomeNetworkPrefixOpt: (18, 18),
    HandoffIndicatorOpt: (2, 2),
    AccessTechTypeOpt: (2, 2),
    MNLinkLayerIdOpt: (2, 255),
    LinkLocalAddressOpt: (16, 16),
    TimestampOpt: (8, 8),
}


class MobilityOption(MIP6OptUnknown):
    """Any mobility option: dispatches on the type byte through OPTION_CLASSES."""

    name = "Mobility Option"
    fields_desc = [
        ByteEnumField("otype", 255, OPTION_NAMES),
        FieldLenField("olen", None, length_of="odata", fmt="B"),
        StrLenField("odata", b"", length_from=lambda pkt: pkt.olen, max_length=255),
    ]

    @classmethod
    def dispatch_hook(cls, _pkt: bytes | None = None, *args: Any, **kargs: Any) -> type[Packet]:
        if not _pkt:
            return cls
        if len(_pkt) < 2 and _pkt[0] != 0:  # a type byte with no length after it
            return cls
        chosen = OPTION_CLASSES.get(_pkt[0], cls)
        low, high = _DATA_LENGTHS.get(chosen, (0, 255))
        if _pkt[0] != 0 and not low <= _pkt[1] <= high:
            # RFC 6275 §6.2: the Option Length frames the option. A class whose
            # layout cannot hold this length would read past or short of it
            # (e.g. the old PMIPv6-draft options 7-10 of the OAI captures).
            return cls
        return chosen


class MobilityOptionsField(_OptionsField):
    """The option list of a Mobility Header, dissected through :class:`MobilityOption`."""

    def __init__(self, name: str, curpos: int, length_from: Any) -> None:
        # RFC 6275 §6.1.1: the options end where Header Len says. A Header Len below
        # the fixed part leaves no room (Scapy's formula goes negative), and a
        # 2048-byte MH can hold some 2040 one-byte Pad1 options (Scapy stops at 100).
        super().__init__(
            name,
            [],
            MobilityOption,
            curpos,
            length_from=lambda pkt: max(0, length_from(pkt)),
            max_count=MH_MAX_LEN,
        )

    def m2i(self, pkt: Packet | None, m: bytes) -> Packet:
        return MobilityOption(m, _underlayer=pkt)


__all__ = [
    "BindingAuthData",
    "CGAParamsOpt",
    "CGAParamsRequest",
    "CareOfTestInitOpt",
    "CareOfTestOpt",
    "MobilityOption",
    "MobilityOptionsField",
    "NonceIndices",
    "OPTION_CLASSES",
    "OPTION_NAMES",
    "PHKTOpt",
    "SignatureOpt",
    "split_lengths",
]
