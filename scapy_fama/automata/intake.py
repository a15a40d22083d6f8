"""FairIntake: the short BUs of a node's priority socket, queued per source, bound sources first.

Theory of operation
-------------------
The kernel sorts the short BUs (no room for a Signature: PHKT refreshes, and every
unauthorised BU that costs nothing to send) into the access port's priority socket
(:mod:`scapy_fama.net.bpf`). One queue in the kernel served in order would let a flood of
them, faster than the node answers, fill that socket's buffer: a bound MN's refresh then
waits behind seconds of flood, or is dropped at the buffer's tail. Profile §6 asks that a
flood "leaves the DAR serving the MNs it already serves" and that "PHKT-authorised BUs are
never queued behind CGA work" nor, here, behind anyone else's BUs.

So :class:`~scapy_fama.automata.ports.NodeSocket` empties the priority socket into this
intake on every read (a read and a few byte comparisons a frame: profile §6 "cost before
trust", nothing is parsed), and hands out one frame of it at a time::

    priority socket --all it holds--> put(): source = the IPv6 source (bytes 8-23)
                                        bound  (a CoA of a tunnel): ring "bound",  one queue per address
                                        others:                     ring "others", one queue per /64
    get(): the next source of the bound ring, round robin; when it is empty, of the others'

Round robin over sources: a source with many frames waiting gets one turn per round,
as every other source, so a flood from a few sources (or from many addresses of one
/64: the others' queues are per /64, as the CGA budget of the DoS guard) costs each
other source one frame's wait per flooding source at most. The sources that hold a
binding (:meth:`bind`: the tunnels' remote ends, a DAR's bound care-of addresses)
come before all others: their refreshes wait only for one another.

Bounded state (profile §6): each ring holds at most ``limit`` frames, a source at most
``depth`` of them. A frame for a full queue evicts that queue's oldest (a retransmission
carries a newer sequence number, profile §7); any other frame for a full ring is
dropped. A source leaves its ring when its last frame is handed out. Every frame dropped
is counted in ``shed``. The depth leaves room for the first BUs of a crowd of MNs that
moved together onto one foreign /64 (they share a queue until their bindings exist).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import TYPE_CHECKING

from scapy_fama.crypto import addr_bytes
from scapy_fama.wire.numbers import ETHER_HEADER

if TYPE_CHECKING:
    from scapy_fama.automata.ports import Frame

LIMIT = 4096  # frames a ring holds at most
DEPTH = 256  # frames a source has waiting at most
_SOURCE = slice(ETHER_HEADER + 8, ETHER_HEADER + 24)  # the IPv6 source address of an Ethernet frame
_PREFIX = 8  # bytes of a source that make an unbound source's key: its /64


class FairIntake:
    """Frames queued per source, bound sources first (see the module's docstring)."""

    def __init__(self, limit: int = LIMIT, depth: int = DEPTH) -> None:
        self.limit = limit
        self.depth = depth
        self.shed = 0  # frames dropped: a full ring's newcomers, a full queue's oldest
        self._bound: dict[bytes, int] = {}  # address -> tunnels ending there
        # the bound sources' ring, then the others': source -> its frames, in the order of the round
        self._rings: tuple[OrderedDict[bytes, deque[Frame]], ...] = (OrderedDict(), OrderedDict())
        self._held = [0, 0]  # frames in each ring

    def __len__(self) -> int:
        return sum(self._held)

    def __bool__(self) -> bool:
        return any(self._rings)

    def bind(self, address: str) -> None:
        """One more tunnel ends at ``address``: its frames are served first."""
        a = addr_bytes(address)
        self._bound[a] = self._bound.get(a, 0) + 1

    def unbind(self, address: str) -> None:
        """A tunnel ending at ``address`` is gone."""
        a = addr_bytes(address)
        left = self._bound.get(a, 0) - 1
        if left > 0:
            self._bound[a] = left
        else:
            self._bound.pop(a, None)

    def put(self, frame: Frame) -> None:
        source = frame.data[_SOURCE]
        bound = source in self._bound
        n = 0 if bound else 1
        ring = self._rings[n]
        key = source if bound else source[:_PREFIX]
        queue = ring.get(key)
        if queue is not None and len(queue) == self.depth:
            self.shed += 1  # the append below evicts the oldest
        elif self._held[n] >= self.limit:
            self.shed += 1
            return
        else:
            self._held[n] += 1
            if queue is None:
                queue = ring[key] = deque(maxlen=self.depth)
        queue.append(frame)

    def get(self) -> Frame | None:
        """The next source's oldest frame, bound sources first; None when nothing waits."""
        for n, ring in enumerate(self._rings):
            if ring:
                self._held[n] -= 1
                key, queue = ring.popitem(last=False)
                frame = queue.popleft()
                if queue:
                    ring[key] = queue  # to the end of the round
                return frame
        return None
