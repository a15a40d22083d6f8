"""fama-dar with a planted defect, for the netns tests; the first argument names it:

    crash      the process exits (code 3) the moment it is handed a Mobility Header type it
               does not know (DAR-MH-005 sends one), as a DAR with a fatal bug in that path would
    override   its neighbour cache takes the link-layer address of every NA for a known
               neighbour, Override flag or not (RFC 4861 §7.2.5 says not without it)

    python planted_dar.py DEFECT --iface IF --prefix P --address A [fama-dar's other options]
"""

from __future__ import annotations

import os
import sys

from scapy_fama.automata.nd import Neighbors
from scapy_fama.cli.dar import main
from scapy_fama.proto.dar import DarCore
from scapy_fama.proto.effects import Effects
from scapy_fama.proto.messages import Message, UnknownMobility

CRASH_EXIT = 3


class CrashingDar(DarCore):
    def on_message(self, msg: Message, now: float) -> Effects:
        if isinstance(msg, UnknownMobility):
            os._exit(CRASH_EXIT)  # no clean-up, no log line: a crash
        return super().on_message(msg, now)


class AlwaysOverridden(Neighbors):
    def advertised(self, target: str, mac: str | None, *, solicited: bool, override: bool, now: float) -> list[bytes]:
        return super().advertised(target, mac, solicited=solicited, override=True, now=now)


if __name__ == "__main__":
    import scapy_fama.automata.nd as nd
    import scapy_fama.cli.dar as cli

    defect = sys.argv.pop(1)
    if defect == "crash":
        cli.DarCore = CrashingDar  # type: ignore[misc]
    elif defect == "override":
        nd.Neighbors = AlwaysOverridden  # type: ignore[misc]
    else:
        sys.exit(f"planted_dar.py: no defect named {defect!r} (crash, override)")
    sys.exit(main())
