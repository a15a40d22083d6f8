"""Targets with a planted defect: the fuzzer must find each, with a finding that replays.

Loaded by name (``--target tests.fuzz.planted:OddLengthDissect``), as a user's own
target would be, so that the CLI's ``--replay`` is tested on them too.
"""

from __future__ import annotations

import copy

from scapy_fama.fuzz.seeds import Seed, World
from scapy_fama.fuzz.targets import DissectTarget, InprocTarget
from scapy_fama.proto import DarCore
from scapy_fama.proto.effects import Effects
from scapy_fama.proto.messages import BindingUpdate, Message
from scapy_fama.wire import parse

EVEN_OPTIONS = {4, 5, 13, 14}  # Nonce Indices, BAD, Signature, PHKT: even data lengths on the wire


class OddLengthDissect(DissectTarget):
    """A dissector that reads even-length options as 16-bit words, and crashes on an odd one."""

    def run(self, raw: bytes, seed: Seed, now: float) -> str:
        info = parse(raw)
        if info is not None and info.mh is not None:
            off = info.mh.offset
            for otype, start, n in info.mh.options:
                if otype in EVEN_OPTIONS:
                    memoryview(raw[off + start + 2 : off + start + 2 + n]).cast("H")  # TypeError when odd
        return super().run(raw, seed, now)


class StallingDar(DarCore):
    """A DAR that stops answering for good after a BU whose CGA Parameters are one 255-byte option."""

    stalled = False

    def on_message(self, msg: Message, now: float) -> Effects:
        if self.stalled:
            return []
        if isinstance(msg, BindingUpdate) and msg.cga_params is not None and len(msg.cga_params) == 255:
            self.stalled = True
        return super().on_message(msg, now)


def planted_dar(world: World, cls: type[DarCore]) -> None:
    """The world's DAR template, made a ``cls`` (its state as it was)."""
    planted = copy.copy(world.dar_template)
    planted.__class__ = cls
    world.dar_template = planted


class StallingInproc(InprocTarget):
    """The in-process target around :class:`StallingDar`."""

    def setup(self, world: World) -> None:
        planted_dar(world, StallingDar)
        super().setup(world)


class MuteDar(DarCore):
    """A DAR that answers nothing, from the start."""

    def on_message(self, msg: Message, now: float) -> Effects:
        return []


class MuteInproc(InprocTarget):
    """The in-process target around :class:`MuteDar`: its template fails every probe."""

    def setup(self, world: World) -> None:
        planted_dar(world, MuteDar)
        super().setup(world)


class HalfDoneProbe(InprocTarget):
    """A user's target whose liveness probe is still to be written (not a finding: exit 3)."""

    def alive(self, rng: object, now: float) -> str | None:
        raise NotImplementedError("the probe of our DAR is to do")


class NeedsArguments(InprocTarget):
    """A target class that cannot be made without arguments (fama-fuzz makes it with none)."""

    def __init__(self, iface: str) -> None:
        super().__init__()


class OtherRun(InprocTarget):
    """A target whose run() takes one argument instead of (raw, seed, now)."""

    def run(self, case: bytes) -> str:  # type: ignore[override]
        return "silent"
