"""The CGA Parameters data structure (RFC 3972 §3) as a Scapy packet.

Theory of operation
-------------------
A CGA binds an IPv6 interface identifier to a public key. The verifier hashes the
parameter block exactly as it was sent, so this layer must rebuild every byte it
dissected::

    0        16            24   25                 25+len(PK)
    +--------+-------------+----+------------------+----------------------+
    |modifier|subnet prefix| cc | public key (DER) | extension fields ... |
    +--------+-------------+----+------------------+----------------------+

The public key is a DER SubjectPublicKeyInfo; its length comes from the DER
SEQUENCE header alone, so dissection never runs crypto. ``show()`` names the key
algorithm and modulus size. Extension fields are RFC 4581 TLVs (16-bit type,
16-bit length). Anything that does not parse stays as a Raw payload, so the
bytes always rebuild unchanged.
"""

from __future__ import annotations

import socket
from typing import Any

from scapy.fields import (
    ByteField,
    Field,
    FieldLenField,
    PacketListField,
    ShortEnumField,
    StrLenField,
    XStrFixedLenField,
)
from scapy.packet import Packet
from scapy.volatile import RandBin, RandIP6, VolatileValue

from scapy_fama.crypto.keys import spki_info, spki_length

# RFC 4581 §3 registry ("CGA Extension Type"), IANA.
CGA_EXTENSION_TYPES = {
    0x0012: "Multi-Prefix (RFC 5535)",
    0xFFFD: "Experimental",
    0xFFFE: "Experimental",
    0xFFFF: "Experimental",
}


class SubnetPrefixField(Field[str, bytes]):
    """The 64-bit subnet prefix, shown and set as an IPv6 prefix text."""

    def __init__(self, name: str, default: str) -> None:
        super().__init__(name, default, fmt="8s")

    def h2i(self, pkt: Packet | None, x: Any) -> Any:
        if isinstance(x, str):
            x = x.split("/", 1)[0]
            packed = socket.inet_pton(socket.AF_INET6, x)
            return socket.inet_ntop(socket.AF_INET6, packed[:8] + bytes(8))
        return x

    def i2m(self, pkt: Packet | None, x: str | bytes | None) -> bytes:
        if isinstance(x, VolatileValue):
            x = x._fix()
        if x is None:
            return bytes(8)
        if isinstance(x, bytes):
            return x[:8].ljust(8, b"\0")
        return socket.inet_pton(socket.AF_INET6, x.split("/", 1)[0])[:8]

    def m2i(self, pkt: Packet | None, x: bytes) -> str:
        return socket.inet_ntop(socket.AF_INET6, x + bytes(8))

    def i2repr(self, pkt: Packet | None, x: str) -> str:
        return f"{x}/64"

    def randval(self) -> Any:
        return RandIP6()


class SPKIField(Field[bytes, bytes]):
    """A DER SubjectPublicKeyInfo; its length is read from the DER header."""

    islist = 0

    def __init__(self, name: str, default: bytes) -> None:
        super().__init__(name, default, fmt="s")

    def getfield(self, pkt: Packet, s: bytes) -> tuple[bytes, bytes]:
        n = spki_length(s)
        if n is None or n > len(s):
            return b"", s  # malformed: keep every byte as the key
        return s[n:], s[:n]

    def addfield(self, pkt: Packet, s: bytes, val: bytes | None) -> bytes:
        return s + (val or b"")

    def i2len(self, pkt: Packet, x: bytes | None) -> int:
        return len(x or b"")

    def i2repr(self, pkt: Packet | None, x: bytes | None) -> str:
        if not x:
            return "<no key>"
        try:
            algorithm, bits = spki_info(x)
        except ValueError:
            return f"<unparsable key, {len(x)} bytes>"
        return f"<{algorithm} {bits} bits, SPKI {len(x)} bytes>"

    def randval(self) -> Any:
        return RandBin(162)


class CGAExtension(Packet):
    """One RFC 4581 extension field: Type(16) | Length(16) | Data."""

    name = "CGA Extension Field (RFC 4581)"
    fields_desc = [
        ShortEnumField("etype", 0xFFFD, CGA_EXTENSION_TYPES),
        FieldLenField("elen", None, length_of="edata", fmt="!H"),
        StrLenField("edata", b"", length_from=lambda pkt: pkt.elen),
    ]

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        return b"", s


class CGAParams(Packet):
    """RFC 3972 §3 CGA Parameters; ``bytes(p)`` is what Hash1 is computed over."""

    name = "CGA Parameters (RFC 3972)"
    fields_desc = [
        XStrFixedLenField("modifier", bytes(16), 16),
        SubnetPrefixField("prefix", "::"),
        ByteField("cc", 0),  # RFC 3972 §3: collision count, 0..2
        SPKIField("pubkey", b""),
        # RFC 4581 fields are 4 bytes or more, in a block carried by one MH (<= 2048 bytes);
        # Scapy's default limit of 100 would turn a block with more into Raw
        PacketListField("ext", [], CGAExtension, max_count=512),
    ]
