"""MNs with a planted defect: MnCore subclasses for the in-process tests, and fama-mn with one of
them for the netns tests; the first argument names it:

    slow    its core sends everything SLOW_MN seconds late (1.2 s: past the tester's wait of
            1 s, within its wait for the BU after a move, DAD's 1 s and the wait; a round trip
            shorter than the 1.5 s a first BU waits for its BA, so that its retransmissions do
            not race the tester's answers), as an MN on a busy machine would: no defect of
            FAMA's rules, and so no FAIL but those of the rules that time it (an RS and a
            first BU at once)

    python -m tests.conformance.planted_mn DEFECT --iface IF [fama-mn's other options]
"""

from __future__ import annotations

import sys
from typing import Any

from scapy_fama.proto import MnCore
from scapy_fama.proto.effects import Effects
from tests.conformance.planted_dar import HeldBack

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


CORES: dict[str, type[MnCore]] = {"slow": SlowMn}


if __name__ == "__main__":
    import scapy_fama.cli.mn as cli

    defect = sys.argv.pop(1)
    if defect not in CORES:
        sys.exit(f"planted_mn.py: no defect named {defect!r} ({', '.join(CORES)})")
    cli.MnCore = CORES[defect]  # type: ignore[misc]
    sys.exit(cli.main())
