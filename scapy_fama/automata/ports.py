"""NodeSocket: a node's interfaces as the one socket a Scapy Automaton listens on, carrying bytes.

Theory of operation
-------------------
A Scapy Automaton receives from one SuperSocket, and selects on it with the
socket's own ``select``. A node has an access port (Ethernet frames: a
:class:`~scapy_fama.net.memlink.MemPort` or an
:class:`~scapy_fama.net.iface.IfacePort`) and a DAR also a way upstream (bare
IPv6 packets: a :class:`~scapy_fama.net.memlink.RouterPort`, or the kernel's
routing, :class:`~scapy_fama.net.iface.KernelRoute`, which is never readable).
:class:`NodeSocket` joins them and moves bytes, not Scapy packets (DESIGN.md
"bytes first"): every port gives its frames with ``recv_bytes()``, and a
:class:`Frame` says where one came from and builds its Scapy view only when
someone looks (a debug line, an interception)::

    Automaton._do_iter: NodeSocket.select([cmdin, node, ioin...]) -> select on cmdin, access, upstream
    node.recv()          -> Frame(Ethernet bytes) from the access port, Frame(IPv6 bytes, upstream)
    node.send(Frame)     -> the access port (Ethernet) or upstream (IPv6)
"""

from __future__ import annotations

from typing import Any, Protocol

from scapy.automaton import select_objects
from scapy.data import MTU
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Packet
from scapy.supersocket import SuperSocket

from scapy_fama.wire.numbers import ETHER_HEADER, IPV6_HEADER
from scapy_fama.wire.read import addr


class AccessPort(Protocol):
    """What the automata need of an access interface, besides a SuperSocket's send/close."""

    mac: str

    @property
    def carrier(self) -> bool: ...

    @property
    def epoch(self) -> int:
        """Goes up on every attachment (a handover), so that a poll cannot miss one."""
        ...

    def recv_bytes(self) -> bytes | None:
        """One frame as it was on the wire (None: nothing for this node after all)."""
        ...


class Frame:
    """Bytes that crossed one of a node's interfaces: an Ethernet frame from the access port,
    or an IPv6 packet (``upstream``). The Scapy packet is built on first use of ``packet``."""

    __slots__ = ("data", "upstream", "_packet")

    def __init__(self, data: bytes, *, upstream: bool = False) -> None:
        self.data = data
        self.upstream = upstream
        self._packet: Packet | None = None

    @property
    def packet(self) -> Packet:
        if self._packet is None:
            self._packet = IPv6(self.data) if self.upstream else Ether(self.data)
        return self._packet

    def summary(self) -> str:
        """A one-line summary from the header bytes alone: Scapy's Automaton formats one for
        every frame it sends or receives, debugging or not (``packet.summary()`` for more)."""
        ip = self.data if self.upstream else self.data[ETHER_HEADER:]
        if len(ip) < IPV6_HEADER:
            return f"{len(self.data)} bytes"
        return f"IPv6 {addr(ip, 8)} > {addr(ip, 24)} nh {ip[6]} ({len(ip)} bytes)"

    def copy(self) -> Frame:
        return Frame(self.data, upstream=self.upstream)

    def __bytes__(self) -> bytes:
        return self.data

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        return f"<Frame {'upstream' if self.upstream else 'access'} {len(self.data)} bytes>"


class NodeSocket(SuperSocket):
    """The access port and the optional upstream of one node, as one SuperSocket of bytes."""

    def __init__(self, access: Any, upstream: Any = None) -> None:
        self.access = access
        self.upstream = upstream
        self.members = [access] if upstream is None else [access, upstream]

    def send(self, x: Frame | Packet | bytes) -> int:
        if isinstance(x, Frame):
            data, upstream = x.data, x.upstream
        else:
            data, upstream = bytes(x), not isinstance(x, Ether)
        if not upstream:
            return int(self.access.send(data))
        if self.upstream is None:
            raise OSError(f"no upstream to send {len(data)} bytes to")
        return int(self.upstream.send(data))

    def recv(self, x: int = MTU, **kwargs: Any) -> Frame | None:
        ready = select_objects(self.members, 0)
        if not ready:
            return None
        data = ready[0].recv_bytes()
        return None if data is None else Frame(data, upstream=ready[0] is self.upstream)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            for member in self.members:
                member.close()

    @staticmethod
    def select(sockets: list[Any], remain: float | None = None) -> list[Any]:
        """``select`` over the members of every NodeSocket among ``sockets`` (and the others)."""
        groups = {s: s.members if isinstance(s, NodeSocket) else [s] for s in sockets}
        ready = set(select_objects([m for members in groups.values() for m in members], remain))
        return [s for s, members in groups.items() if ready.intersection(members)]
