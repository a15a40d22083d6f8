"""Role-applied link emulation: delay and loss on a role's access port, where tc netem is missing.

Theory of operation
-------------------
``tc netem`` would delay and drop frames on the link itself; a kernel without
it (``Specified qdisc kind is unknown``) leaves the roles to do it on their own
access port. :class:`EmulatedPort` wraps any access port (an
:class:`~scapy_fama.net.iface.IfacePort` or a memlink port) and puts every
frame through a :class:`DelayLine`, one per direction::

    automaton --send--> DelayLine out (drop with p = loss, else hold delay/2) --> port --> link
    automaton <--recv-- ready queue <-- DelayLine in (drop with p = loss, else hold delay/2) <-- port

So a frame this role sends and a frame it receives each wait half the delay,
and a round trip between two roles that both emulate the same delay D takes
D more than without; every frame, sent or received, is lost with probability
``loss`` on its own (a seeded :class:`random.Random`, so a run can be repeated).
One thread per port reads the real port, and releases each frame when it is
due; the automaton selects on the ready queue as on any socket.

What it cannot touch: what the kernel sends and receives itself (kernel mode's
native traffic) never passes the role's port, so only the signalling and the
tunnelled packets the role carries are delayed and lost.
"""

from __future__ import annotations

import heapq
import itertools
import random
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scapy.automaton import ObjectPipe, select_objects
from scapy.data import MTU
from scapy.layers.l2 import Ether
from scapy.packet import Packet
from scapy.supersocket import SuperSocket

if TYPE_CHECKING:  # the automata import this module: no import cycle at run time
    from scapy_fama.automata.ports import AccessPort

_IDLE = 0.5  # seconds the thread waits when nothing is due (a close wakes it sooner)


@dataclass(frozen=True)
class LinkEmulation:
    """What to emulate: ``delay_ms`` for a round trip (half each way), ``loss`` per frame (0..1)."""

    delay_ms: float = 0.0
    loss: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.delay_ms < 0:
            raise ValueError(f"link delay {self.delay_ms} ms is negative")
        if not 0.0 <= self.loss <= 1.0:
            raise ValueError(f"link loss {self.loss} is not a fraction between 0 and 1")


@dataclass
class DelayLine:
    """Frames in, the same frames out ``delay`` seconds later, each lost with probability ``loss``."""

    delay: float
    loss: float
    rng: random.Random
    _queue: list[tuple[float, int, Any]] = field(default_factory=list)
    _order: itertools.count[int] = field(default_factory=itertools.count)

    def push(self, item: Any, now: float) -> bool:
        """Take ``item`` at ``now``; False when it is lost."""
        if self.rng.random() < self.loss:
            return False
        heapq.heappush(self._queue, (now + self.delay, next(self._order), item))
        return True

    def due(self, now: float) -> list[Any]:
        """The items due at ``now``, oldest first."""
        out = []
        while self._queue and self._queue[0][0] <= now:
            out.append(heapq.heappop(self._queue)[2])
        return out

    def next_at(self) -> float | None:
        return self._queue[0][0] if self._queue else None


class EmulatedPort(SuperSocket):
    """An access port seen through two delay lines (see the module's docstring)."""

    def __init__(self, port: AccessPort, emulation: LinkEmulation) -> None:
        self.port = port
        self.faults = port.faults
        self.emulation = emulation
        rng = random.Random(emulation.seed)
        half = emulation.delay_ms / 2000
        self._in = DelayLine(half, emulation.loss, rng)
        self._out = DelayLine(half, emulation.loss, rng)
        self._lock = threading.Lock()
        self._ready: ObjectPipe[bytes] = ObjectPipe("emulated-in")
        self._wake: ObjectPipe[None] = ObjectPipe("emulated-wake")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="link-emulation", daemon=True)
        self._thread.start()

    @property
    def mac(self) -> str:
        return self.port.mac

    @property
    def carrier(self) -> bool:
        return self.port.carrier

    def revive(self) -> bool:
        revived = self.port.revive()
        if revived:  # the thread selects on the old socket: wake it to take the new one
            self._wake.send(None)
        return revived

    @property
    def epoch(self) -> int:
        return self.port.epoch

    def send(self, x: Packet | bytes) -> int:
        data = bytes(x)
        with self._lock:
            self._out.push(data, time.monotonic())
        self._wake.send(None)
        return len(data)

    def recv_bytes(self) -> bytes | None:
        return self._ready.recv()

    def recv(self, x: int = MTU, **kwargs: Any) -> Packet | None:
        return Ether(self._ready.recv())

    def fileno(self) -> int:
        return self._ready.fileno()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._stop.set()
            self._wake.send(None)
            self._thread.join()
            self.port.close()
            self._ready.close()
            self._wake.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                times = [t for t in (self._in.next_at(), self._out.next_at()) if t is not None]
            wait = max(0.0, min(times) - time.monotonic()) if times else _IDLE
            try:
                ready_ones = select_objects([self.port, self._wake], wait)
            except (OSError, ValueError):  # the port's socket was closed by revive() under us
                continue
            for ready in ready_ones:
                if ready is self._wake:
                    self._wake.recv()
                else:
                    self._read()
            self._release(time.monotonic())

    def _read(self) -> None:
        frame = self.port.recv_bytes()  # None also when the link is down (the port counts it)
        if frame is not None:
            with self._lock:
                self._in.push(frame, time.monotonic())

    def _release(self, now: float) -> None:
        with self._lock:
            arrived, leaving = self._in.due(now), self._out.due(now)
        for frame in arrived:
            self._ready.send(frame)
        for frame in leaving:
            self.port.send(frame)  # into a link that is down: lost, as on the wire
