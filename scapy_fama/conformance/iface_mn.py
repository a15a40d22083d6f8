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
       link_down: ip link set dev CARRIER down   -> the MN loses its carrier
       link_up:   ip link set dev CARRIER up     -> carrier back: it solicits (RS)

``CARRIER`` is the tester's own interface unless another is named (a veth
peer or a bridge port, maybe in a network namespace), since a veth end has
carrier only while both ends are up. An MN that runs for the whole run cannot
be rebuilt per case: ``begin`` moves it (down, up) so that every case starts
with a fresh attachment, and the tester gives every case prefixes of its own.
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
    """An MN on ``iface``; its carrier follows ``carrier`` (default: ``iface``), which lives in
    network namespace ``netns`` when given."""

    role = "mn"

    def __init__(self, iface: str, *, carrier: str | None = None, netns: str | None = None) -> None:
        self.mn_mac: str | None = None  # before the reader thread starts asking
        self.carrier = carrier or iface
        self.netns = netns
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
        where = ["-n", self.netns] if self.netns else []
        done = subprocess.run(
            ["ip", *where, "link", "set", "dev", self.carrier, state],
            check=False,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"ip link set dev {self.carrier} {state}: {done.stderr.strip()}")

    def _read(self) -> None:
        while True:
            super()._read()  # returns when stopped, or on a socket error (ENETDOWN: our link_down)
            if self._stop.is_set() or not (SYS_NET / self.iface).is_dir():
                return
            time.sleep(POLL)
