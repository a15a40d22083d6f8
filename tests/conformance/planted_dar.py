"""fama-dar with a planted crash, for the netns tests: the process exits (code 3) the moment
it is handed a Mobility Header type it does not know (DAR-MH-005 sends one), as a DAR with a
fatal bug in that path would.

    python planted_dar.py --iface IF --prefix P --address A [fama-dar's other options]
"""

from __future__ import annotations

import os
import sys

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


if __name__ == "__main__":
    import scapy_fama.cli.dar as cli

    cli.DarCore = CrashingDar  # type: ignore[misc]
    sys.exit(main())
