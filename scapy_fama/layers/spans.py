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

from dataclasses import dataclass

from scapy.packet import Packet

from scapy_fama.layers.options import (
    CGA_PIECE_MAX,
    BindingAuthData,
    CGAParamsOpt,
    SignatureOpt,
    option_padding,
)


@dataclass(frozen=True)
class OptionSpan:
    """One option of a dissected MH and its [start, end) MH byte offsets."""

    option: Packet
    start: int
    end: int

    @property
    def otype(self) -> int:
        return int(self.option.otype) if hasattr(self.option, "otype") else -1


def option_spans(mh: Packet) -> list[OptionSpan]:
    """The options of a *dissected* MH with their byte offsets in the MH."""
    pos = mh.get_field("options").curpos
    spans = []
    for opt in mh.options:
        size = len(bytes(opt))
        spans.append(OptionSpan(opt, pos, pos + size))
        pos += size
    return spans


def framing_problems(spans: list[OptionSpan]) -> list[str]:
    """RFC 4866 §5.1/§5.2 and RFC 6275 §6.2.7 placement rules; a list of problems."""
    problems = []
    cga = [i for i, s in enumerate(spans) if isinstance(s.option, CGAParamsOpt)]
    if len(cga) > 1:
        problems.append("CGA Parameters options are not back to back")
    for i in cga:
        lengths = spans[i].option.wire_lengths()
        if any(n != CGA_PIECE_MAX for n in lengths[:-1]):
            problems.append(f"CGA Parameters pieces {lengths}: every piece but the last must be 255 bytes")
    sigs = [i for i, s in enumerate(spans) if isinstance(s.option, SignatureOpt)]
    if cga and (not sigs or sigs[0] != cga[-1] + 1):
        problems.append("the Signature option does not directly follow the last CGA Parameters option")
    if sigs and not cga:
        problems.append("a Signature option without CGA Parameters")
    bads = [i for i, s in enumerate(spans) if isinstance(s.option, BindingAuthData)]
    if bads and bads[-1] != len(spans) - 1:
        after = "padding" if all(option_padding(s.option) for s in spans[bads[-1] + 1 :]) else "options"
        problems.append(f"the BAD option is not last ({after} after it)")
    if bads and spans[bads[-1]].start % 8 != 2:
        problems.append(f"the BAD option starts at MH offset {spans[bads[-1]].start}, not 8n+2")
    return problems
