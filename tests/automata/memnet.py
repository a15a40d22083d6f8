"""The memlink test network: two DARs and an MN on memlinks, a CN behind a MemRouter.

    link1 --- dar1 ---+                      P1 = 2001:db8:1::/64, DAR1 = 2001:db8:1::1
      |               +--- core --- cn       P2 = 2001:db8:2::/64, DAR2 = 2001:db8:2::1
     mn  (moves) ---- link2 --- dar2 ---+    CN = 2001:db8:ff::1
"""

from __future__ import annotations

from dataclasses import dataclass

from scapy.automaton import select_objects
from scapy.packet import Packet

from scapy_fama.automata import DarAutomaton, LogSink, MnAutomaton
from scapy_fama.net.memlink import MemLink, MemPort, MemRouter, RouterPort

P1, P2 = "2001:db8:1::/64", "2001:db8:2::/64"
DAR1, DAR2, CN = "2001:db8:1::1", "2001:db8:2::1", "2001:db8:ff::1"
WAIT = 10.0  # seconds a test waits for something that takes well under one


def receive(port: MemPort | RouterPort, timeout: float = WAIT) -> Packet | None:
    """The next packet on ``port``, or None after ``timeout``."""
    return port.recv() if select_objects([port], timeout) else None


@dataclass
class Net:
    log: LogSink
    link1: MemLink
    link2: MemLink
    core: MemRouter
    cn: RouterPort
    dar1: DarAutomaton
    dar2: DarAutomaton
    mn: MnAutomaton

    def attached_home(self) -> str:
        """Wait until the MN has its address on link1; returns it."""
        assert self.mn.wait_for("ATTACHED", WAIT), self.mn.history
        address = self.mn.core.current_address
        assert address is not None
        return address

    def move(self, link: MemLink) -> None:
        link.attach(self.mn.access)  # type: ignore[arg-type]

    def leave_home(self) -> str:
        """Attach at DAR1, keep the address (a flow on it), move to link2; returns the HoA."""
        hoa = self.attached_home()
        self.mn.open_flow(hoa)
        self.move(self.link2)
        return hoa
