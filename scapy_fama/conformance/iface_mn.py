"""IfaceMn: a mobile node under test on a real Ethernet link, moved by its carrier.

Theory of operation
-------------------
The MN is the only other host on the tester's link (a veth pair, or a cable).
Its MAC is learnt from the first frame that is not the tester's (its RS or a
DAD probe); unicast to it goes to that MAC, multicast to the group's MAC
(RFC 2464 §7). The tester plays every DAR on this one interface: it holds each
DAR's link-local and global address, so the reader thread answers the MN's NS
for them (the MN resolves its router before it sends a BU)::

    tester (IfaceMn) --- veth / cable --- MN under test
       link_down: ip link set dev IFACE down   -> the MN loses its carrier
       link_up:   ip link set dev IFACE up     -> carrier back: it solicits (RS)

The tester's end going down takes the MN's carrier with it (a veth end has
carrier only while both ends are up; a cable, while both ports are). An MN
that runs for the whole run cannot be rebuilt per case: ``begin`` moves it
(down, up) so that every case starts with a fresh attachment, and the tester
gives every case prefixes of its own. Its state still carries over: under
keep=all it keeps the address of every earlier case and registers them all
again after each move, so the case's BU may leave late in that burst, and an
MN whose back-off timer runs from when it decided to send then retransmits
early on the wire (our fama-mn does, by 0.3 s and more with some twenty kept
addresses on a loaded machine). For timing verdicts about one binding, start
the MN afresh per case, as ``tests/conformance/test_mn_netns.py`` does.
Taking our own interface down makes the AF_PACKET socket report ENETDOWN once;
the reader resumes after it, while the interface exists.
"""

from __future__ import annotations

import subprocess
import time

from scapy.packet import Packet

from scapy_fama.conformance.executor import Setup
from scapy_fama.conformance.iface import POLL, IfaceExecutor
from scapy_fama.net.iface import SYS_NET


def multicast_mac(ipv6_dst: bytes) -> str:
    """RFC 2464 §7: 33:33 and the last four bytes of the group address."""
    return "33:33:" + ":".join(f"{b:02x}" for b in ipv6_dst[12:16])


class IfaceMn(IfaceExecutor):
    """The MN on the other end of ``iface``'s link."""

    role = "mn"

    def __init__(self, iface: str) -> None:
        self.mn_mac: str | None = None  # before the reader thread starts asking
        super().__init__(iface)

    def begin(self, setup: Setup) -> None:
        super().begin(setup)
        self.link_down()
        self.link_up()

    # ---------------------------------------------------------------- the role's business

    def from_iut(self, frame: Packet) -> bool:
        if frame.src == self.mac:
            return False
        if self.mn_mac is None:
            self.mn_mac = str(frame.src)
        return bool(frame.src == self.mn_mac)

    def iut_mac(self, raw: bytes) -> str:
        dst = raw[24:40]
        if dst[0] == 0xFF:
            return multicast_mac(dst)
        if self.mn_mac is None:
            raise ValueError("the MN's MAC is not known: it has sent nothing on the link yet")
        return self.mn_mac

    # ---------------------------------------------------------------- the link

    def link_down(self) -> None:
        self._carrier("down")

    def link_up(self) -> None:
        self._carrier("up")

    def _carrier(self, state: str) -> None:
        command = ["ip", "link", "set", "dev", self.iface, state]
        done = subprocess.run(command, check=False, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"ip link set dev {self.iface} {state}: {done.stderr.strip()}")

    def _read(self) -> None:
        while True:
            super()._read()  # returns when stopped, or on a socket error (ENETDOWN: our link_down)
            if self._stop.is_set() or not (SYS_NET / self.iface).is_dir():
                return
            time.sleep(POLL)
