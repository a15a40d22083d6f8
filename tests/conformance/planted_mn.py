"""MNs with a planted defect: MnCore subclasses for the in-process tests, and fama-mn with one of
them for the netns tests; the first argument names it:

    crash   the process exits (code 3) the moment it is handed a BA with status 148 (MN-STATUS-003
            sends one), as an MN with a fatal bug in that path would
    slow    its core sends everything SLOW_MN seconds late (1.2 s: past the tester's wait of
            1 s, within its wait for the BU after a move, DAD's 1 s and the wait; a round trip
            shorter than the 1.5 s a first BU waits for its BA, so that its retransmissions do
            not race the tester's answers), as an MN on a busy machine would: no defect of
            FAMA's rules, and so no FAIL but those of the rules that time it (an RS and a
            first BU at once)

    python -m tests.conformance.planted_mn DEFECT --iface IF [fama-mn's other options]
"""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Callable
from typing import Any

from scapy_fama.conformance.inproc_mn import DrivenMn
from scapy_fama.conformance.mn_tester import nd_target
from scapy_fama.crypto import KeyPair
from scapy_fama.proto import MnCore
from scapy_fama.proto.effects import Effects
from scapy_fama.proto.messages import BindingAck, Message
from scapy_fama.wire import parse
from scapy_fama.wire.icmpv6 import neighbor_advertisement, neighbor_solicitation
from scapy_fama.wire.link import solicited_node
from scapy_fama.wire.numbers import NS
from tests.conformance.planted_dar import CRASH_EXIT, HeldBack

SLOW_MN = 1.2


class SlowMn(HeldBack, MnCore):
    """Sends everything SLOW_MN seconds late: what it answers, what its timers send, and what
    it sends on link-up, on a DAD collision or for its applications."""

    slow = SLOW_MN

    def on_link_up(self, now: float) -> Effects:
        return self._hold(super().on_link_up(now), now)

    def on_dad_collision(self, address: str, now: float) -> Effects:
        return self._hold(super().on_dad_collision(address, now), now)

    def send(self, *args: Any) -> Effects:
        return self._hold(super().send(*args), args[-1])


class CrashingMn(MnCore):
    def on_message(self, msg: Message, now: float) -> Effects:
        if isinstance(msg, BindingAck) and msg.status == 148:
            os._exit(CRASH_EXIT)  # no clean-up, no log line: a crash
        return super().on_message(msg, now)


class MnBehindALink(DrivenMn):
    """An in-process MN (``factory``: a planted one) behind a link the tester cannot take for
    lossless, as on an interface, which loses ``loss`` of what the MN sends and of what the
    tester sends (seeded), as fama-mn --link-loss does: the Neighbour Solicitations that probe
    the link, which the MN's host answers for its current address while the MN runs (RFC 4861
    §7.2.4; in-process the executor is that host, as fama-mn's automaton is on a link), and
    ``lose_sent`` the tester's other packets too (a lost BA or RA makes the MN's next message
    wrong, not missing)."""

    lossless = False

    def __init__(
        self,
        key: KeyPair,
        *,
        loss: float = 0.0,
        seed: int = 0,
        lose_sent: bool = False,
        factory: Callable[..., MnCore] = MnCore,
    ) -> None:
        super().__init__(key, factory=factory)
        self.loss, self.rng, self.lose_sent = loss, random.Random(seed), lose_sent
        self.probed: str | None = None  # the last address the host sent a DAD probe for

    def _deliver(self, raw: bytes) -> None:
        target, info = nd_target(raw, NS), parse(raw)
        if target is None or info is None:
            if not self.lose_sent or self._kept():
                super()._deliver(raw)
                self._probe_new_address()
        elif self._kept() and self.crashed is None and target == self.mn.current_address:
            na = neighbor_advertisement(target, info.src, target, bytes(6), router=False, solicited=True)
            self._received(na)

    def _received(self, raw: bytes, at: float | None = None, mac: str = "") -> bool:
        return self._kept() and super()._received(raw, at, mac)

    def _probe_new_address(self) -> None:
        """A new current address (an RA came) gets its DAD probe, from ``::`` (RFC 4862 §5.4.2),
        as fama-mn's automaton sends it: the tester then knows the address to probe the link for."""
        address = None if self.crashed is not None else self.mn.current_address
        if address is not None and address != self.probed:
            self.probed = address
            self._received(neighbor_solicitation("::", solicited_node(address), address, None))

    def _kept(self) -> bool:
        return self.rng.random() >= self.loss


CORES: dict[str, type[MnCore]] = {"crash": CrashingMn, "slow": SlowMn}


if __name__ == "__main__":
    import scapy_fama.cli.mn as cli

    defect = sys.argv.pop(1)
    if defect not in CORES:
        sys.exit(f"planted_mn.py: no defect named {defect!r} ({', '.join(CORES)})")
    cli.MnCore = CORES[defect]  # type: ignore[misc]
    sys.exit(cli.main())
