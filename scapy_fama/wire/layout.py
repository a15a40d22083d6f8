"""Where options go in a Mobility Header: alignment, padding, CGA pieces and the placement rules.

Theory of operation
-------------------
Options follow the message's fixed part. Each option type has an alignment
``xn+y`` (RFC 6275 §6.2; :data:`~scapy_fama.wire.numbers.ALIGNMENT`), met with
Pad1/PadN before it, and the whole MH is padded to a multiple of 8 octets
(§6.1.1). A CGA Parameters block longer than 255 bytes is split over
back-to-back type-12 options, every piece but the last 255 bytes long
(RFC 4866 §5.1)::

    MH offset: 0      12                 201          331        336
               |fixed | CGA Params (12)  | Sig (13)   | PadN     |

:func:`framing_problems` checks the placement rules a receiver depends on:
the CGA Parameters pieces back to back and canonical, the Signature right after
them (RFC 4866 §5.2), the BAD last and at 8n+2 (RFC 6275 §6.2.7). It works on
:class:`OptionFrame`, which both the byte reader and the Scapy layers produce,
so the rules are written once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from scapy_fama.wire.numbers import (
    ALIGNMENT,
    BAD,
    CGA_PARAMS,
    CGA_PIECE,
    PAD1,
    PADN,
    SIGNATURE,
)


def pad(size: int) -> bytes:
    """Pad1 or PadN of ``size`` bytes (RFC 6275 §6.2.1, §6.2.2)."""
    if size == 0:
        return b""
    return b"\x00" if size == 1 else bytes((PADN, size - 2)) + bytes(size - 2)


def tlv(otype: int, data: bytes = b"", length: int | None = None) -> bytes:
    """One option: Pad1 is a lone zero byte (RFC 6275 §6.2.1), any other Type | Length | data;
    ``length`` other than the data's own only for an option made wrong on purpose."""
    if otype == PAD1:
        return b"\x00"
    return bytes((otype & 0xFF, (len(data) if length is None else length) & 0xFF)) + data


def cga_pieces(params: bytes) -> list[bytes]:
    """A CGA Parameters block in the pieces of RFC 4866 §5.1 (255 bytes, the rest last)."""
    return [params[i : i + CGA_PIECE] for i in range(0, len(params), CGA_PIECE)] or [b""]


def place(options: Sequence[tuple[int, bytes]], start: int) -> tuple[bytes, list[tuple[int, int, int]]]:
    """``options`` laid out from MH offset ``start``: each aligned, then the whole padded to 8n.

    Returns the bytes and each option's (type, MH offset, data length), as a receiver reads
    them: a Pad1 is its one byte, of data length 0, whatever data it was given (RFC 6275 §6.2.1).
    """
    out: list[bytes] = []
    where: list[tuple[int, int, int]] = []
    pos = start
    for otype, data in options:
        x, y = ALIGNMENT.get(otype, (0, 0))
        if x:
            delta = (y - pos) % x
            out.append(pad(delta))
            pos += delta
        option = tlv(otype, data)
        out.append(option)
        where.append((otype, pos, 0 if otype == PAD1 else len(data)))
        pos += len(option)
    out.append(pad(-pos % 8))
    return b"".join(out), where


@dataclass(frozen=True)
class OptionFrame:
    """Where an option sits, however it was read: type, MH offset, TLV data lengths.

    A CGA Parameters block split over back-to-back type-12 options is one frame
    with one length per piece.
    """

    otype: int
    start: int
    lengths: tuple[int, ...]

    @property
    def end(self) -> int:
        return self.start + sum(2 + n for n in self.lengths)


def option_frames(tlvs: Sequence[tuple[int, int, int]]) -> list[OptionFrame]:
    """(type, offset, length) TLVs as frames (padding too: nothing may sit between the CGA
    Parameters and the Signature, or after the BAD)."""
    frames: list[OptionFrame] = []
    for otype, start, size in tlvs:
        if otype == CGA_PARAMS and frames and frames[-1].otype == CGA_PARAMS and frames[-1].end == start:
            frames[-1] = OptionFrame(CGA_PARAMS, frames[-1].start, frames[-1].lengths + (size,))
        else:
            frames.append(OptionFrame(otype, start, (size,)))
    return frames


def framing_problems(frames: Sequence[OptionFrame]) -> list[str]:
    """RFC 4866 §5.1/§5.2 placement rules for the CGA options; a list of problems."""
    problems = []
    cga = [i for i, f in enumerate(frames) if f.otype == CGA_PARAMS]
    if len(cga) > 1:
        problems.append("CGA Parameters options are not back to back")
    for i in cga:
        lengths = list(frames[i].lengths)
        if any(n != CGA_PIECE for n in lengths[:-1]):
            problems.append(f"CGA Parameters pieces {lengths}: every piece but the last must be 255 bytes")
    sigs = [i for i, f in enumerate(frames) if f.otype == SIGNATURE]
    if cga and (not sigs or sigs[0] != cga[-1] + 1):
        problems.append("the Signature option does not directly follow the last CGA Parameters option")
    if sigs and not cga:
        problems.append("a Signature option without CGA Parameters")
    return problems


def bad_problem(frames: Sequence[OptionFrame]) -> str | None:
    """Profile §6, RFC 6275 §6.2.7: exactly one BAD, the last option, at 8n+2; else why not.

    A message that breaks this is dropped silently (its authenticator cannot be trusted
    to cover what follows it)."""
    bads = [i for i, f in enumerate(frames) if f.otype == BAD]
    if not bads:
        return None
    if len(bads) > 1:
        return f"{len(bads)} BAD options (exactly one allowed)"
    if bads[0] != len(frames) - 1:
        after = "padding" if all(f.otype in (PAD1, PADN) for f in frames[bads[0] + 1 :]) else "options"
        return f"the BAD option is not last ({after} after it)"
    if frames[bads[0]].start % 8 != 2:
        return f"the BAD option starts at MH offset {frames[bads[0]].start}, not 8n+2"
    return None
