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
                        (the node at once while frames wait in its backlog)
    node.recv()          -> Frame(Ethernet bytes) from the access port, Frame(IPv6 bytes, upstream)
                            from upstream or the hand-off (:class:`Handoff`: the packets another
                            thread of the node gives it, a kernel-mode DAR's data plane)
    node.send(Frame)     -> the access port (Ethernet) or upstream (IPv6)

Cheap before costly, already at the socket (profile §6 DoS guard, issue 14 item 2):
each ``recv()`` first drains what the kernel holds for the node (at most
``DRAIN`` frames, while the backlog holds fewer than ``BACKLOG``), reads each
frame once with :func:`scapy_fama.wire.parse` (kept in the :class:`Frame` for
the automaton) and queues it by cost, then hands out one frame: the oldest
cheap one (ND, RS, RA, BAs, PHKT-authorised BUs, data, garbage) before any
costly one (a BU carrying CGA options, which may cost an RSA verification)::

    kernel socket buffers --drain (<= DRAIN per recv)--> cheap  [ND RS BA BU+BAD ...] --> the automaton,
                                                         costly [BU+CGA+Signature]    --> one per recv

A burst of CGA-signed BUs thus never holds back a PHKT refresh that arrived
behind it once both are read. The work per wakeup stays one frame, so ticks,
commands and interception keep their pace.

Already at the socket: on a real interface the kernel itself sorts the short BUs
(PHKT refreshes; :mod:`scapy_fama.net.bpf`) into the access port's second socket,
its ``priority`` member (:class:`~scapy_fama.net.iface.PrioritySocket`), and every
other frame into the port's own. ``recv()`` empties the priority member first, into
``intake`` (:class:`~scapy_fama.automata.intake.FairIntake`: per source, the sources
that hold a binding first, bounded), and hands out the intake's next frame; a drain
stops as soon as the priority member has a frame, and the intake's next frame is
handed out then. A flood of short BUs faster than the node answers them so waits in
the intake, where a bound MN's refresh overtakes it, not in the kernel's buffer, where
it waited behind all of it or was dropped at its tail. A refresh behind 2,000 CGA BUs in the
kernel so waits for the frame being read, not for the 2,000 to be read and
classified (issue 14 item 2). At most PRIORITY_RUN priority frames are handed out
in a row; then one drain and one frame of the others, so that a flood of short BUs
cannot keep ND and the rest waiting for ever. Ports without a kernel (memlink,
SimNet) and emulated links have no priority member and keep the order above::

    recv(): priority member --all of it--> intake (PRIORITY_RUN in a row at most) --> the automaton
            else drain the others (until the priority member has a frame) --> cheap, then costly

When the backlog is full, draining goes on as long as costly frames are in it: a
costly frame read then is dropped, a cheap one takes the place of the newest
costly frame, and each is counted in ``shed``. A sustained CGA flood faster than
the node answers it (the kernel's tail drop, earlier) so never leaves refreshes
waiting behind CGA BUs in the kernel's buffer; a backlog of cheap frames alone
stops the drain, as before::

    backlog full, costly frames in it --read--> costly: dropped          (shed + 1)
                                                cheap:  replaces the newest costly (shed + 1)
"""

from __future__ import annotations

import os
from collections import deque
from typing import Any, Protocol

from scapy.automaton import select_objects
from scapy.data import MTU
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Packet
from scapy.supersocket import SuperSocket

from scapy_fama.automata.intake import FairIntake
from scapy_fama.codec import signed_bu_head
from scapy_fama.net.faults import Faults
from scapy_fama.wire import WireInfo, parse
from scapy_fama.wire.numbers import (
    BU,
    CGA_PARAMS,
    ETHER_HEADER,
    ETHERTYPE_IPV6,
    IPV6_HEADER,
    SIGNATURE,
)
from scapy_fama.wire.read import addr

HANDOFF = 256  # packets another thread may leave waiting for the automaton at most
DRAIN = 256  # frames read from the kernel per recv() at most
BACKLOG = 4096  # frames held in the process at most; beyond, they wait in the kernel's buffer
PRIORITY_RUN = 16  # priority frames handed out in a row at most before one of the others'
_CGA_OPTIONS = (CGA_PARAMS, SIGNATURE)
_ETHERTYPE = ETHERTYPE_IPV6.to_bytes(2, "big")


class AccessPort(Protocol):
    """What the automata need of an access interface, besides a SuperSocket's send/close.
    Link events never raise: errors are counted in ``faults`` (a read gives None, a frame
    sent is lost), and ``revive()`` reopens a port whose interface was created anew."""

    mac: str
    faults: Faults

    def revive(self) -> bool: ...

    @property
    def carrier(self) -> bool: ...

    @property
    def epoch(self) -> int:
        """Goes up on every attachment (a handover), so that a poll cannot miss one."""
        ...

    def recv_bytes(self) -> bytes | None:
        """One frame as it was on the wire (None: nothing for this node after all). A port
        on a kernel interface also keeps, in ``stamp``, when the kernel received it
        (``time.time()``'s clock; the automata log it as the message's ``rx``)."""
        ...


class Frame:
    """Bytes that crossed one of a node's interfaces: an Ethernet frame from the access port,
    or an IPv6 packet (``upstream``). The Scapy packet is built on first use of ``packet``;
    ``parsed()`` reads the IPv6 packet with :func:`scapy_fama.wire.parse` once."""

    __slots__ = ("data", "upstream", "stamp", "_packet", "_parsed")

    def __init__(self, data: bytes, *, upstream: bool = False, stamp: float | None = None) -> None:
        self.data = data
        self.upstream = upstream
        self.stamp = stamp  # when the kernel received it (time.time()); None: not known
        self._packet: Packet | None = None
        self._parsed: tuple[bytes, WireInfo] | None | bool = False  # False: not read yet

    @property
    def packet(self) -> Packet:
        if self._packet is None:
            self._packet = IPv6(self.data) if self.upstream else Ether(self.data)
        return self._packet

    def parsed(self) -> tuple[bytes, WireInfo] | None:
        """The IPv6 packet's bytes and what :func:`~scapy_fama.wire.parse` found in them;
        None for a frame that is not IPv6."""
        if self._parsed is False:
            ip = self.data if self.upstream else self.data[ETHER_HEADER:]
            is_ipv6 = self.upstream or self.data[12:14] == _ETHERTYPE
            info = parse(ip) if is_ipv6 else None
            self._parsed = None if info is None else (ip, info)
        return self._parsed  # type: ignore[return-value]

    def costly(self) -> bool:
        """A BU carrying CGA options: its authorisation may cost an RSA verification. One laid
        out as the toolkit's MN writes it is told by its head (``codec.signed_bu_head``) without
        the walk a parse makes: a DAR reads it from its bytes (automata/dar.py), never parsed."""
        if self._parsed is False and (self.upstream or self.data[12:14] == _ETHERTYPE):
            if signed_bu_head(self.data if self.upstream else self.data[ETHER_HEADER:]):
                return True
        found = self.parsed()
        mh = None if found is None else found[1].mh
        return mh is not None and mh.mhtype == BU and any(t in _CGA_OPTIONS for t, _, _ in mh.options)

    def summary(self) -> str:
        """A one-line summary from the header bytes alone: Scapy's Automaton formats one for
        every frame it sends or receives, debugging or not (``packet.summary()`` for more)."""
        ip = self.data if self.upstream else self.data[ETHER_HEADER:]
        if len(ip) < IPV6_HEADER:
            return f"{len(self.data)} bytes"
        return f"IPv6 {addr(ip, 8)} > {addr(ip, 24)} nh {ip[6]} ({len(ip)} bytes)"

    def copy(self) -> Frame:
        return Frame(self.data, upstream=self.upstream, stamp=self.stamp)

    def __bytes__(self) -> bytes:
        return self.data

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        return f"<Frame {'upstream' if self.upstream else 'access'} {len(self.data)} bytes>"


class Handoff:
    """IPv6 packets another thread of the node hands to its automaton, read as a member of its
    :class:`NodeSocket` (the frames are ``upstream``, routed packets): a kernel-mode DAR's
    data plane hands on the signalling its kernel routed into a tunnel. Bounded (profile §6
    "Bounded state"): at most ``capacity`` wait, a packet beyond is refused, never waited for
    (the handing thread is a data plane that must not stall)."""

    def __init__(self, capacity: int = HANDOFF) -> None:
        self.capacity = capacity
        self.closed = False
        self._queue: deque[bytes] = deque()
        self._read, self._write = os.pipe()  # one byte per packet: 64 KiB of pipe holds them all
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)

    def fileno(self) -> int:
        return self._read

    def hand(self, packet: bytes) -> bool:
        """Queue ``packet`` for the automaton (any thread); False: refused, the queue is full."""
        if self.closed or len(self._queue) >= self.capacity:
            return False
        self._queue.append(packet)  # before its byte: a reader that has the byte finds the packet
        try:
            os.write(self._write, b"x")
        except OSError:  # closed under the hand: the node is stopping
            return False
        return True

    def recv_bytes(self) -> bytes | None:
        """The oldest packet waiting (the automaton's thread), None when none is."""
        try:
            os.read(self._read, 1)
        except BlockingIOError:
            return None
        return self._queue.popleft() if self._queue else None

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self._read)
            os.close(self._write)


class NodeSocket(SuperSocket):
    """The access port, the optional upstream and hand-off of one node, as one SuperSocket of
    bytes, cheap frames first; ``priority``, the access port's priority socket when it has
    one, read before them all into ``intake`` (see the module's docstring)."""

    def __init__(self, access: Any, upstream: Any = None, priority: Any = None, handoff: Handoff | None = None) -> None:
        self.access = access
        self.upstream = upstream
        self.priority = priority
        self.members = [m for m in (access, upstream, handoff) if m is not None]
        self.routed = tuple(m for m in (upstream, handoff) if m is not None)  # members that give IPv6 packets
        self.selectable = self.members if priority is None else [priority, *self.members]
        self.cheap: deque[Frame] = deque()
        self.costly: deque[Frame] = deque()
        self.shed = 0  # costly frames dropped at a full backlog
        self.intake = FairIntake()  # the priority member's frames, per source
        self._run = 0  # priority frames handed out in a row

    @property
    def backlog(self) -> int:
        """Frames read from the kernel and not handed out yet."""
        return len(self.cheap) + len(self.costly)

    @property
    def waiting(self) -> bool:
        """Frames read from the kernel wait to be handed out (the backlog's, the intake's)."""
        return bool(self.cheap or self.costly or self.intake)

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
        if self._run < PRIORITY_RUN:
            frame = self._priority()
            if frame is None and self._drain(until_priority=self.priority is not None):
                frame = self._priority()
            if frame is not None:
                self._run += 1
                return frame
        else:  # the others' turn: a drain that reads them whatever the priority member holds
            self._drain(until_priority=False)
        self._run = 0
        if self.cheap:
            return self.cheap.popleft()
        return self.costly.popleft() if self.costly else None

    def _priority(self) -> Frame | None:
        """The intake's next frame, once all the priority member holds (DRAIN frames at most)
        is in it (its reads never block)."""
        member = self.priority
        for _ in range(0 if member is None else DRAIN):
            data = member.recv_bytes()
            if data is None:
                break
            self.intake.put(Frame(data, stamp=getattr(member, "stamp", None)))
        return self.intake.get()

    def _drain(self, until_priority: bool) -> bool:
        """Read the members into the backlog; True when it stopped ``until_priority``: the
        priority member has a frame."""
        room = DRAIN
        while room > 0 and (self.backlog < BACKLOG or self.costly):
            ready = select_objects(self.selectable, 0)
            if self.priority in ready:
                if until_priority:
                    return True
                ready.remove(self.priority)
            if not ready:
                return False
            for member in ready:
                data = member.recv_bytes()
                room -= 1
                if data is not None:  # a port on a kernel interface knows when it came
                    self._queue(Frame(data, upstream=member in self.routed, stamp=getattr(member, "stamp", None)))
        return False

    def _queue(self, frame: Frame) -> None:
        costly = frame.costly()
        if self.backlog >= BACKLOG:
            self.shed += 1
            if costly or not self.costly:  # (a second member's frame at a backlog of cheap ones)
                return
            self.costly.pop()
        (self.costly if costly else self.cheap).append(frame)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            for member in self.members:
                member.close()

    @staticmethod
    def select(sockets: list[Any], remain: float | None = None) -> list[Any]:
        """``select`` over the members of every NodeSocket among ``sockets`` (and the others);
        a NodeSocket with frames waiting is ready at once."""
        waiting = any(isinstance(s, NodeSocket) and s.waiting for s in sockets)
        groups = {s: s.selectable if isinstance(s, NodeSocket) else [s] for s in sockets}
        ready = set(select_objects([m for members in groups.values() for m in members], 0 if waiting else remain))
        return [
            s
            for s, members in groups.items()
            if ready.intersection(members) or (isinstance(s, NodeSocket) and s.waiting)
        ]
