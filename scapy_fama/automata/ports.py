"""NodeSocket: a node's interfaces as the one socket a Scapy Automaton listens on.

Theory of operation
-------------------
A Scapy Automaton receives from one SuperSocket, and selects on it with the
socket's own ``select``. A node has an access port (Ethernet frames: a
:class:`~scapy_fama.net.memlink.MemPort` or an
:class:`~scapy_fama.net.iface.IfacePort`) and a DAR also a way upstream (bare
IPv6 packets: a :class:`~scapy_fama.net.memlink.RouterPort`, or the kernel's
routing, :class:`~scapy_fama.net.iface.KernelRoute`, which is never readable).
:class:`NodeSocket` joins them; the type of a packet says where it goes::

    Automaton._do_iter: NodeSocket.select([cmdin, node, ioin...]) -> select on cmdin, access, upstream
    node.recv()               -> an Ether frame (access) or an IPv6 packet (upstream)
    node.send(Ether() / ...)  -> access          node.send(IPv6(...)) -> upstream
"""

from __future__ import annotations

from typing import Any, Protocol

from scapy.automaton import select_objects
from scapy.data import MTU
from scapy.layers.l2 import Ether
from scapy.packet import Packet
from scapy.supersocket import SuperSocket


class AccessPort(Protocol):
    """What the automata need of an access interface, besides a SuperSocket's send/recv/close."""

    mac: str

    @property
    def carrier(self) -> bool: ...

    @property
    def epoch(self) -> int:
        """Goes up on every attachment (a handover), so that a poll cannot miss one."""
        ...


class NodeSocket(SuperSocket):
    """The access port and the optional upstream of one node, as one SuperSocket."""

    def __init__(self, access: SuperSocket, upstream: SuperSocket | None = None) -> None:
        self.access = access
        self.upstream = upstream
        self.members = [access] if upstream is None else [access, upstream]

    def send(self, x: Packet) -> int:
        if isinstance(x, Ether):
            return self.access.send(x)
        if self.upstream is None:
            raise OSError(f"no upstream to send {x.summary()} to")
        return self.upstream.send(x)

    def recv(self, x: int = MTU, **kwargs: Any) -> Packet | None:
        ready = select_objects(self.members, 0)
        return ready[0].recv(x) if ready else None

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
