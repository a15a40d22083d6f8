"""Byte positions of the options of a Mobility Header.

Theory of operation
-------------------
Signatures and authenticators cover the MH "up to" an option (RFC 4866 §4.5:
the end of the last CGA Parameters option; RFC 6275 §6.2.7: the BAD's Type and
Length). This module lays out where each option of a dissected message starts
and ends, from the option objects themselves (a dissected option rebuilds to its
wire bytes), as :class:`~scapy_fama.wire.layout.OptionFrame` values, so that the
placement rules of :mod:`scapy_fama.wire.layout` apply to the layers too::

    MH offset: 0      12                 201          331        336
               |fixed | CGA Params (12)  | Sig (13)   | PadN     |
"""

from __future__ import annotations

from dataclasses import dataclass

from scapy.packet import Packet

from scapy_fama.layers.options import CGAParamsOpt
from scapy_fama.wire.layout import OptionFrame
from scapy_fama.wire.numbers import CGA_PARAMS


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
