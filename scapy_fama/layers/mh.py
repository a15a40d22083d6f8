"""Mobility Header messages (RFC 6275 §6.1) with FAMA's fixes to Scapy 2.8.

Theory of operation
-------------------
Every message subclasses Scapy's class of the same type (``isinstance`` and
``pkt[MIP6MH_BU]`` keep working) and changes only what is wrong for FAMA::

    MN (CoA)                                   DAR_i
      | IPv6(src=CoA) / DestOpt(HAO=HoA) / BU  |   A=1 H=1 K=0
      |--------------------------------------->|
      | IPv6(dst=CoA) / RH2(HoA) / BA          |   seq echoed
      |<---------------------------------------|

* checksum and Header Len: computed over the MH alone with the pseudo-header of
  :mod:`scapy_fama.layers.checksum` (HAO anywhere in the Destination Options);
* defaults: K=0 on BU and BA, a valid Binding Error status (1);
* ``BA.answers`` tests the A flag (Scapy tests P) and the sequence number, and
  knows that a BA 135 carries the last accepted number instead (§9.5.1);
* the full IANA status table (RFC 4866 147–150 and later registrations);
* options through :class:`~scapy_fama.layers.options.MobilityOptionsField`;
* a payload after the MH (Payload Proto other than 59, e.g. ns-3's HAO placed
  after the MH) is dissected by its protocol number instead of as Raw.
"""

from __future__ import annotations

import struct
from typing import Any

from scapy.fields import (
    ByteEnumField,
    Field,
    FlagsField,
    IP6Field,
    StrLenField,
)
from scapy.layers.inet6 import (
    LifetimeField,
    MIP6MH_BA,
    MIP6MH_BE,
    MIP6MH_BRR,
    MIP6MH_BU,
    MIP6MH_CoT,
    MIP6MH_CoTI,
    MIP6MH_Generic,
    MIP6MH_HoT,
    MIP6MH_HoTI,
    _IPv6GuessPayload,
    _OptionsField,
)
from scapy.packet import Packet

from scapy_fama.layers.checksum import pseudo_addresses
from scapy_fama.wire.checksum import mh_checksum
from scapy_fama.layers.options import MobilityOptionsField
from scapy_fama.wire.numbers import MH_TYPES

# IANA "Status Codes" of the Binding Acknowledgement (RFC 6275 §6.1.8, RFC 4866 §5.7, ...).
BA_STATUS = {
    0: "Binding Update accepted",
    1: "Accepted but prefix discovery necessary",
    2: "GRE_KEY_OPTION_NOT_REQUIRED",
    3: "GRE_TUNNELING_BUT_TLV_HEADER_NOT_SUPPORTED",
    4: "MCOA NOTCOMPLETE",
    5: "MCOA RETURNHOME WO/NDP",
    6: "PBU_ACCEPTED_TB_IGNORED_SETTINGSMISMATCH",
    128: "Reason unspecified",
    129: "Administratively prohibited",
    130: "Insufficient resources",
    131: "Home registration not supported",
    132: "Not home subnet",
    133: "Not home agent for this mobile node",
    134: "Duplicate Address Detection failed",
    135: "Sequence number out of window",
    136: "Expired home nonce index",
    137: "Expired care-of nonce index",
    138: "Expired nonces",
    139: "Registration type change disallowed",
    140: "Mobile Router Operation not permitted",
    141: "Invalid Prefix",
    142: "Not Authorized for Prefix",
    143: "Forwarding Setup failed",
    144: "MIPV6-ID-MISMATCH",
    145: "MIPV6-MESG-ID-REQD",
    146: "MIPV6-AUTH-FAIL",
    147: "Permanent home keygen token unavailable",
    148: "CGA and signature verification failed",
    149: "Permanent home keygen token exists",
    150: "Non-null home nonce index expected",
    151: "SERVICE_AUTHORIZATION_FAILED",
    152: "PROXY_REG_NOT_ENABLED",
    153: "NOT_LMA_FOR_THIS_MOBILE_NODE",
    154: "MAG_NOT_AUTHORIZED_FOR_PROXY_REG",
    155: "NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX",
    156: "TIMESTAMP_MISMATCH",
    157: "TIMESTAMP_LOWER_THAN_PREV_ACCEPTED",
    158: "MISSING_HOME_NETWORK_PREFIX_OPTION",
    159: "BCE_PBU_PREFIX_SET_DO_NOT_MATCH",
    160: "MISSING_MN_IDENTIFIER_OPTION",
    161: "MISSING_HANDOFF_INDICATOR_OPTION",
    162: "MISSING_ACCESS_TECH_TYPE_OPTION",
    163: "GRE_KEY_OPTION_REQUIRED",
    164: "MCOA MALFORMED",
    165: "MCOA NON-MCOA BINDING EXISTS",
    166: "MCOA PROHIBITED",
    167: "MCOA UNKNOWN COA",
    168: "MCOA BULK REGISTRATION PROHIBITED",
    169: "MCOA SIMULTANEOUS HOME AND FOREIGN PROHIBITED",
    170: "NOT_AUTHORIZED_FOR_IPV4_MOBILITY_SERVICE",
    171: "NOT_AUTHORIZED_FOR_IPV4_HOME_ADDRESS",
    172: "NOT_AUTHORIZED_FOR_IPV6_MOBILITY_SERVICE",
    173: "MULTIPLE_IPV4_HOME_ADDRESS_ASSIGNMENT_NOT_SUPPORTED",
    174: "Invalid Care-of Address",
    175: "INVALID_MOBILE_NODE_GROUP_IDENTIFIER",
    176: "REINIT_SA_WITH_HAC",
    177: "NOT_AUTHORIZED_FOR_DELEGATED_MNP",
    178: "REQUESTED_DMNP_IN_USE",
}

# RFC 6275 §6.1.9
BE_STATUS = {
    1: "Unknown binding for Home Address destination option",
    2: "Unrecognized MH Type value",
}


class _FamaMH(_IPv6GuessPayload):
    """Shared behaviour of every FAMA MH class (mixed in before Scapy's class)."""

    match_subclass = True

    def post_build(self, p: bytes, pay: bytes) -> bytes:
        hdr_len = self.len if self.len is not None else (len(p) - 8) // 8
        p = p[:1] + struct.pack("B", hdr_len & 0xFF) + p[2:]
        cksum = self.cksum
        if cksum is None:
            addrs = pseudo_addresses(self)
            cksum = mh_checksum(p, *addrs) if addrs else 0
        return p[:4] + struct.pack("!H", cksum) + p[6:] + pay


def _fields(base: type[Packet], **replace: Field[Any, Any]) -> list[Field[Any, Any]]:
    """``base``'s fields with FAMA's option list and the given field replacements."""
    out: list[Field[Any, Any]] = []
    for f in base.fields_desc:
        if f.name in replace:
            out.append(replace.pop(f.name))
        elif isinstance(f, _OptionsField):
            out.append(MobilityOptionsField(f.name, f.curpos, f.length_from))
        elif f.name == "mhtype":
            out.append(ByteEnumField("mhtype", f.default, MH_TYPES))
        else:
            out.append(f)
    assert not replace, f"unknown fields {sorted(replace)} in {base.__name__}"
    return out


class GenericMH(_FamaMH, MIP6MH_Generic):
    """A Mobility Header of a type without its own class."""

    name = "Mobility Header"
    # RFC 6275 §6.1.1: the message data runs to 8 * (Header Len + 1); Scapy's
    # length (8 * len - 6) leaves the last 8 bytes to the payload.
    fields_desc = _fields(
        MIP6MH_Generic,
        msg=StrLenField("msg", b"\x00" * 2, length_from=lambda pkt: 8 * pkt.len + 2),
    )


class BRR(_FamaMH, MIP6MH_BRR):
    """Binding Refresh Request, RFC 6275 §6.1.2."""

    name = "Binding Refresh Request"
    fields_desc = _fields(MIP6MH_BRR)


class HoTI(_FamaMH, MIP6MH_HoTI):
    """Home Test Init, RFC 6275 §6.1.3."""

    name = "Home Test Init"
    fields_desc = _fields(MIP6MH_HoTI)


class CoTI(_FamaMH, MIP6MH_CoTI):
    """Care-of Test Init, RFC 6275 §6.1.4 (profile §5: secure mode)."""

    name = "Care-of Test Init"
    fields_desc = _fields(MIP6MH_HoTI, mhtype=ByteEnumField("mhtype", 2, MH_TYPES))


class HoT(_FamaMH, MIP6MH_HoT):
    """Home Test, RFC 6275 §6.1.5."""

    name = "Home Test"
    fields_desc = _fields(MIP6MH_HoT)


class CoT(_FamaMH, MIP6MH_CoT):
    """Care-of Test, RFC 6275 §6.1.6 (profile §5: carries the care-of keygen token)."""

    name = "Care-of Test"
    fields_desc = _fields(MIP6MH_HoT, mhtype=ByteEnumField("mhtype", 4, MH_TYPES))


class BU(_FamaMH, MIP6MH_BU):
    """Binding Update, RFC 6275 §6.1.7; FAMA defaults A=1 H=1 K=0 (profile §4)."""

    name = "Binding Update"
    fields_desc = _fields(MIP6MH_BU, flags=FlagsField("flags", "HA", 7, "PRMKLHA"))


class BA(_FamaMH, MIP6MH_BA):
    """Binding Acknowledgement, RFC 6275 §6.1.8; K=0 by default."""

    name = "Binding Acknowledgement"
    fields_desc = _fields(
        MIP6MH_BA,
        status=ByteEnumField("status", 0, BA_STATUS),
        flags=FlagsField("flags", 0, 3, "PRK"),
        mhtime=LifetimeField("mhtime", 0),
    )

    def answers(self, other: Packet) -> int:
        if not isinstance(other, MIP6MH_BU):
            return 0
        # profile §6 step 7: every BU the DAR processes gets a BA, whatever its A bit (Scapy 2.8
        # tested the P bit); RFC 6275 §9.5.1: a 135 carries the last accepted sequence number
        return int(self.seq == other.seq or self.status == 135)


class BE(_FamaMH, MIP6MH_BE):
    """Binding Error, RFC 6275 §6.1.9; status 1 by default, field ``hoa``."""

    name = "Binding Error"
    fields_desc = _fields(
        MIP6MH_BE,
        status=ByteEnumField("status", 1, BE_STATUS),
        ha=IP6Field("hoa", "::"),
    )


MH_CLASSES: dict[int, type[Packet]] = {
    0: BRR,
    1: HoTI,
    2: CoTI,
    3: HoT,
    4: CoT,
    5: BU,
    6: BA,
    7: BE,
}
