"""A pcapng writer with packet comments (draft-ietf-opsawg-pcapng, "PCAP Now Generic").

Theory of operation
-------------------
One section, little-endian, written as a stream (nothing is held back)::

    Section Header Block    byte-order magic 0x1A2B3C4D, version 1.0, section length -1
                            (unknown), shb_userappl
    Interface Description   one per capture point, written before its first packet: link
                            type, snap length, if_name, if_tsresol (when not the default 10^-6)
    Enhanced Packet Block   one per packet: interface id, the 64-bit timestamp in that
                            interface's units, captured and original lengths, the bytes
                            padded to 32 bits, opt_comment (one per comment), epb_flags

Every block is Type | Total Length | Body | Options | Total Length, options are Code | Length |
Value padded to 32 bits, ended by opt_endofopt (§3.5). Timestamps are written as the integer
they were read as, in the units of the interface they came from, so nothing is rounded.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

SHB, IDB, EPB = 0x0A0D0D0A, 1, 6  # block types (§4)
BYTE_ORDER_MAGIC = 0x1A2B3C4D
OPT_ENDOFOPT, OPT_COMMENT = 0, 1  # §3.5
SHB_USERAPPL = 4  # §4.1
IF_NAME, IF_TSRESOL = 2, 9  # §4.2
EPB_FLAGS = 2  # §4.3
DEFAULT_TSRESOL = 6  # §4.2: if_tsresol absent means microseconds


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + bytes(-len(value) % 4)


def _options(options: list[bytes]) -> bytes:
    return b"".join(options) + _option(OPT_ENDOFOPT, b"") if options else b""


class PcapngWriter:
    """Writes one pcapng section to ``stream``: :meth:`interface`, then :meth:`packet`s."""

    def __init__(self, stream: BinaryIO, application: str) -> None:
        self._stream = stream
        self._interfaces = 0
        body = struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1)
        self._block(SHB, body + _options([_option(SHB_USERAPPL, application.encode())]))

    def _block(self, btype: int, body: bytes) -> None:
        size = 12 + len(body)
        self._stream.write(struct.pack("<II", btype, size) + body + struct.pack("<I", size))

    def interface(self, linktype: int, snaplen: int, name: str, tsresol: int) -> int:
        """Describe a capture point; returns its interface id for :meth:`packet`."""
        options = [_option(IF_NAME, name.encode())]
        if tsresol != DEFAULT_TSRESOL:
            options.append(_option(IF_TSRESOL, bytes((tsresol,))))
        self._block(IDB, struct.pack("<HHI", linktype, 0, snaplen) + _options(options))
        self._interfaces += 1
        return self._interfaces - 1

    def packet(
        self, interface: int, ticks: int, data: bytes, wirelen: int, comments: list[str], flags: int | None = None
    ) -> None:
        """One packet: ``ticks`` in the interface's time units, ``wirelen`` its length on the wire."""
        options = [_option(OPT_COMMENT, c.encode()) for c in comments]
        if flags is not None:
            options.append(_option(EPB_FLAGS, struct.pack("<I", flags)))
        head = struct.pack("<IIIII", interface, ticks >> 32, ticks & 0xFFFFFFFF, len(data), wirelen)
        self._block(EPB, head + data + bytes(-len(data) % 4) + _options(options))
