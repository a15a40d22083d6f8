"""Byte positions of the options of a Mobility Header.

Theory of operation
-------------------
Signatures and authenticators cover the MH "up to" an option (RFC 4866 §4.5:
the end of the last CGA Parameters option; RFC 6275 §6.2.7: the BAD's Type and
Length). This module lays out where each option of a dissected message starts
and ends, from the option objects themselves (a dissected option rebuilds to its
wire bytes), so nobody re-parses TLVs by hand, and checks the placement rules
that depend on it (:func:`framing_problems`)::

    MH offset: 0      12                 201          331        336
               |fixed | CGA Params (12)  | Sig (13)   | PadN     |
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from scapy.packet import Packet

from scapy_fama.layers.options import CGA_PIECE_MAX, CGAParamsOpt


CGA_PARAMS, SIGNATURE, BAD = 12, 13, 5  # option types (RFC 4866 §5, RFC 6275 §6.2.7)


@dataclass(frozen=True)
class OptionFrame:
    """Where an option sits, independent of how it was read: type, MH offset, TLV data lengths.

    A CGA Parameters block split over back-to-back type-12 options is one frame
    with one length per piece.
    """

    otype: int
    start: int
    lengths: tuple[int, ...]


@dataclass(frozen=True)
class OptionSpan:
    """One option of a dissected MH and its [start, end) MH byte offsets."""

    option: Packet
    start: int
    end: int

    @property
    def otype(self) -> int:
        return int(self.option.otype) if hasattr(self.option, "otype") else -1

    @property
    def frame(self) -> OptionFrame:
        if isinstance(self.option, CGAParamsOpt):
            return OptionFrame(CGA_PARAMS, self.start, tuple(self.option.wire_lengths()))
        return OptionFrame(self.otype, self.start, (self.end - self.start - 2,))


def option_spans(mh: Packet) -> list[OptionSpan]:
    """The options of a *dissected* MH with their byte offsets in the MH."""
    pos = mh.get_field("options").curpos
    spans = []
    for opt in mh.options:
        size = len(bytes(opt))
        spans.append(OptionSpan(opt, pos, pos + size))
        pos += size
    return spans


def framing_problems(frames: Sequence[OptionFrame]) -> list[str]:
    """RFC 4866 §5.1/§5.2 and RFC 6275 §6.2.7 placement rules; a list of problems."""
    problems = []
    cga = [i for i, f in enumerate(frames) if f.otype == CGA_PARAMS]
    if len(cga) > 1:
        problems.append("CGA Parameters options are not back to back")
    for i in cga:
        lengths = list(frames[i].lengths)
        if any(n != CGA_PIECE_MAX for n in lengths[:-1]):
            problems.append(f"CGA Parameters pieces {lengths}: every piece but the last must be 255 bytes")
    sigs = [i for i, f in enumerate(frames) if f.otype == SIGNATURE]
    if cga and (not sigs or sigs[0] != cga[-1] + 1):
        problems.append("the Signature option does not directly follow the last CGA Parameters option")
    if sigs and not cga:
        problems.append("a Signature option without CGA Parameters")
    bads = [i for i, f in enumerate(frames) if f.otype == BAD]
    if bads and bads[-1] != len(frames) - 1:
        after = "padding" if all(f.otype in (0, 1) for f in frames[bads[-1] + 1 :]) else "options"
        problems.append(f"the BAD option is not last ({after} after it)")
    if bads and frames[bads[-1]].start % 8 != 2:
        problems.append(f"the BAD option starts at MH offset {frames[bads[-1]].start}, not 8n+2")
    return problems
