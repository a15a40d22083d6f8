"""memlink: in-memory Ethernet links and an idealised routed core, with Scapy SuperSocket ports.

Theory of operation
-------------------
A :class:`MemLink` is a hub: every frame one port sends is queued, as bytes,
at every other port on the same link. A port is a Scapy ``SuperSocket``
(``send``, ``recv``, ``fileno``, ``select``, hence ``sniff(opened_socket=...)``
and Scapy Automata), so a driver cannot tell it from a real interface; like a
NIC in promiscuous mode it sees every frame, and filtering by destination MAC
is the driver's job. Moving a port to another link is a handover: the port
leaves its link, joins the new one and its ``epoch`` goes up, so that a driver
polling ``carrier`` and ``epoch`` sees the change even between two polls::

    mn = link1.port("mn")           mn --send--> link1 --queue--> dar1 port, sniffer port ...
    link2.attach(mn)                mn leaves link1, joins link2: carrier stays up, epoch + 1
    mn.detach()                     no link: carrier down, frames sent are lost

A :class:`MemRouter` stands for the routed network behind the access routers,
idealised: each of its ports owns prefixes (a DAR's /64, a CN's /128), and an
IPv6 packet sent into it goes to the port owning the longest prefix that holds
its destination, unchanged (no hop limit, no ICMP); a packet nobody owns is
dropped. Its ports carry bare IPv6 packets, no Ethernet::

    DAR1 upstream (owns 2001:db8:1::/64) --packet for 2001:db8:2::5--> DAR2 upstream (owns ...:2::/64)
    CN (owns 2001:db8:ff::1/128)         --packet for HoA 2001:db8:1::9--> DAR1 upstream

All queues are :class:`scapy.automaton.ObjectPipe` (selectable); one lock guards
link membership and delivery, so any thread may send, move or close ports.
"""

from __future__ import annotations

import itertools
import threading
import time
from ipaddress import IPv6Network

from scapy.automaton import ObjectPipe
from scapy.data import MTU
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Packet
from scapy.supersocket import SuperSocket

from scapy_fama.net.faults import Faults

_LOCK = threading.RLock()
_MACS = itertools.count(1)


def _next_mac() -> str:
    """A locally administered unicast MAC, numbered in creation order."""
    n = next(_MACS)
    return "02:00:fa:" + ":".join(f"{b:02x}" for b in n.to_bytes(3, "big"))


class _QueuePort(SuperSocket):
    """A SuperSocket whose receive side is a selectable in-memory queue of bytes."""

    LL: type[Packet]

    def __init__(self, name: str) -> None:  # no OS socket: SuperSocket.__init__ would open one
        self.name = self.iface = name
        self._inbox: ObjectPipe[bytes] = ObjectPipe(name)

    def _queue(self, data: bytes) -> None:
        """Called with the lock held, so a port is never closed under a delivery."""
        if not self.closed:
            self._inbox.send(data)

    def recv_raw(self, x: int = MTU) -> tuple[type[Packet], bytes, float]:
        return self.LL, self._inbox.recv(), time.time()

    def recv_bytes(self) -> bytes:
        """The next frame (or packet) as queued, without a Scapy dissection."""
        return self._inbox.recv()

    def fileno(self) -> int:
        return self._inbox.fileno()

    def _forget(self) -> None:
        """Leave whatever delivers to this port (called with the lock held)."""

    def close(self) -> None:
        with _LOCK:
            if self.closed:
                return
            self._forget()
            self.closed = True
            self._inbox.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class MemPort(_QueuePort):
    """A node's Ethernet interface on a :class:`MemLink` (or on none)."""

    LL = Ether

    def __init__(self, name: str, mac: str | None = None) -> None:
        super().__init__(name)
        self.mac = mac or _next_mac()
        self.link: MemLink | None = None
        self.epoch = 0  # how many times the port was attached to a link
        self.faults = Faults()  # stays empty: a memlink port never fails

    def revive(self) -> bool:
        """A memlink port is never deleted under its node (net.iface.IfacePort can be)."""
        return False

    @property
    def carrier(self) -> bool:
        return self.link is not None

    def send(self, x: Packet | bytes) -> int:
        data = bytes(x)
        with _LOCK:
            if self.link is not None:
                self.link._flood(self, data)
        return len(data)

    def detach(self) -> None:
        with _LOCK:
            self._forget()

    def _forget(self) -> None:
        if self.link is not None:
            self.link.ports.remove(self)
            self.link = None


class MemLink:
    """A broadcast Ethernet segment (a hub) joining any number of :class:`MemPort`."""

    def __init__(self, name: str = "link") -> None:
        self.name = name
        self.ports: list[MemPort] = []

    def port(self, name: str | None = None, mac: str | None = None) -> MemPort:
        """A new port, attached to this link."""
        port = MemPort(name or f"{self.name}-{len(self.ports)}", mac)
        self.attach(port)
        return port

    def attach(self, port: MemPort) -> None:
        """Move ``port`` here from whatever link it was on (a handover)."""
        with _LOCK:
            if port.closed:
                raise ValueError(f"{port.name} is closed")
            port._forget()
            self.ports.append(port)
            port.link = self
            port.epoch += 1

    def _flood(self, sender: MemPort, data: bytes) -> None:
        for port in self.ports:
            if port is not sender:
                port._queue(data)

    def __repr__(self) -> str:
        return f"<MemLink {self.name}: {', '.join(p.name for p in self.ports)}>"


class RouterPort(_QueuePort):
    """A port of a :class:`MemRouter`: sends and receives bare IPv6 packets."""

    LL = IPv6

    def __init__(self, name: str, router: MemRouter) -> None:
        super().__init__(name)
        self.router = router

    def send(self, x: Packet | bytes) -> int:
        data = bytes(x)
        with _LOCK:
            self.router._route(data)
        return len(data)

    def _forget(self) -> None:
        self.router.routes = [route for route in self.router.routes if route[3] is not self]


class MemRouter:
    """The routed network behind the DARs: delivery by longest-prefix match."""

    def __init__(self, name: str = "core") -> None:
        self.name = name
        # (prefix length, network, netmask, port), longest prefix first (the earliest of equals)
        self.routes: list[tuple[int, int, int, RouterPort]] = []

    def port(self, *owns: str, name: str | None = None) -> RouterPort:
        """A port that receives the packets for ``owns`` (prefixes or addresses)."""
        port = RouterPort(name or f"{self.name}-{len(self.routes)}", self)
        nets = [IPv6Network(prefix, strict=False) for prefix in owns]
        with _LOCK:
            self.routes += [(n.prefixlen, int(n.network_address), int(n.netmask), port) for n in nets]
            self.routes.sort(key=lambda route: -route[0])
        return port

    def _route(self, data: bytes) -> None:
        if len(data) < 40:
            return
        dst = int.from_bytes(data[24:40], "big")
        port = next((port for _, net, mask, port in self.routes if dst & mask == net), None)
        if port is not None:
            port._queue(data)
