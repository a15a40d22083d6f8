"""DARs with a planted defect: DarCore subclasses for the in-process tests, and fama-dar with one
of them for the netns tests; the first argument names it:

    crash        the process exits (code 3) the moment it is handed a Mobility Header type it
                 does not know (DAR-MH-005 sends one), as a DAR with a fatal bug in that path would
    override     its neighbour cache takes the link-layer address of every NA for a known
                 neighbour, Override flag or not (RFC 4861 §7.2.5 says not without it)
    silent-a0    it accepts a BU with the A bit clear without a BA (what profile §6 step 7 said
                 before; RFC 6275 §10.3.1 answers every registration)
    no-ra-limit  it answers every RS from :: with a multicast RA at once (RFC 4861 §6.2.6's
                 MIN_DELAY_BETWEEN_RAS ignored)
    slow         it sends everything SLOW seconds late (1.5 s: past the tester's wait of 1 s),
                 as a DAR on a busy machine would: no defect of FAMA's rules, and so no
                 FAIL but DAR-RA-001's (RFC 4861 §6.2.6: an RA within 0.5 s of an RS)

    python planted_dar.py DEFECT --iface IF --prefix P --address A [fama-dar's other options]

A DAR that keeps state for a BU it refused at a full cache (:class:`KeepsRefusedState`) is
in-process only: DAR-BU-014 needs a binding cache of a capacity the tester knows.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from scapy_fama.automata.nd import Neighbors
from scapy_fama.cli.dar import main
from scapy_fama.proto.authorise import Authorised
from scapy_fama.proto.dar import DarCore
from scapy_fama.proto.effects import Effect, Effects, Forward, Send
from scapy_fama.proto.messages import BindingUpdate, Message, RouterAdvertisement, RouterSolicitation, UnknownMobility
from scapy_fama.proto.status import REFUSED

CRASH_EXIT = 3


class CrashingDar(DarCore):
    def on_message(self, msg: Message, now: float) -> Effects:
        if isinstance(msg, UnknownMobility):
            os._exit(CRASH_EXIT)  # no clean-up, no log line: a crash
        return super().on_message(msg, now)


class AlwaysOverridden(Neighbors):
    def advertised(
        self, target: str, mac: str | None, *, solicited: bool, override: bool, now: float, untracked: bool = False
    ) -> list[bytes]:
        return super().advertised(target, mac, solicited=solicited, override=True, now=now, untracked=untracked)


class SilentToA0(DarCore):
    """Accepts a BU with the A bit clear without a BA (what profile §6 step 7 said before)."""

    def _reply(self, bu: BindingUpdate, status: int, **kwargs: object) -> Effects:
        effects = super()._reply(bu, status, **kwargs)  # type: ignore[arg-type]
        if bu.ack or status >= REFUSED:
            return effects
        return [e for e in effects if not isinstance(e, Send)]


class NoRaRateLimit(DarCore):
    """Answers every RS from :: with a multicast RA at once (the RFC 4861 §6.2.6 limit ignored)."""

    def on_message(self, msg: Message, now: float) -> Effects:
        if isinstance(msg, RouterSolicitation) and msg.src == "::":
            return [Send(RouterAdvertisement(
                self.link_local, "ff02::1", self.address, self.prefix, self.config.valid_lifetime,
                self.config.preferred_lifetime, self.config.router_lifetime,
            ))]  # fmt: skip
        return super().on_message(msg, now)


SLOW = 1.5


class HeldBack:
    """A core (DarCore or MnCore, mixed in before it) that sends everything it would send SLOW
    seconds later: held back, then let out by its timer. An MN's other entry points hold what
    they send through ``_hold`` too (see test_mn_patience.SlowMn)."""

    slow = SLOW  # seconds

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._held: list[tuple[float, Effect]] = []

    def _hold(self, effects: Effects, now: float) -> Effects:
        self._held += [(now + self.slow, e) for e in effects if isinstance(e, (Send, Forward))]
        return [e for e in effects if not isinstance(e, (Send, Forward))]

    def on_message(self, msg: Message, now: float) -> Effects:
        return self._hold(super().on_message(msg, now), now)  # type: ignore[misc]

    def next_deadline(self) -> float | None:
        own = super().next_deadline()  # type: ignore[misc]
        due = [t for t in (own, *(at for at, _ in self._held)) if t is not None]
        return min(due, default=None)

    def on_timer(self, now: float) -> Effects:
        out = [e for at, e in self._held if at <= now]
        self._held = [(at, e) for at, e in self._held if at > now]
        own = super().next_deadline()  # type: ignore[misc]
        return out + (self._hold(super().on_timer(now), now) if own is not None and own <= now else [])  # type: ignore[misc]


class SlowDar(HeldBack, DarCore):
    """Sends everything it would send SLOW seconds later (HeldBack)."""


class KeepsRefusedState(DarCore):
    """Stores the PHKT a CGA BU earned in step 4 even when step 6 refuses the BU for a full
    cache (what DarCore did before profile §6 said a refused BU leaves no state)."""

    def _on_bu(self, bu: BindingUpdate, now: float) -> Effects:
        effects = super()._on_bu(bu, now)
        if any(isinstance(e, Send) and getattr(e.msg, "status", None) == 130 for e in effects):
            verdict = self._authoriser.check(bu, self._cache.record(bu.home_address), now)
            if isinstance(verdict, Authorised) and verdict.new_phkt and verdict.mn_key:
                self._cache.new_phkt(bu.home_address, verdict.new_phkt, verdict.mn_key, now)
        return effects


CORES: dict[str, type[DarCore]] = {
    "crash": CrashingDar, "silent-a0": SilentToA0, "no-ra-limit": NoRaRateLimit, "slow": SlowDar,
}


if __name__ == "__main__":
    import scapy_fama.automata.nd as nd
    import scapy_fama.cli.dar as cli

    defect = sys.argv.pop(1)
    if defect in CORES:
        cli.DarCore = CORES[defect]  # type: ignore[misc]
    elif defect == "override":
        nd.Neighbors = AlwaysOverridden  # type: ignore[misc]
    else:
        sys.exit(f"planted_dar.py: no defect named {defect!r} ({', '.join([*CORES, 'override'])})")
    sys.exit(main())
