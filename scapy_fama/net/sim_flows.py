"""Application flows on a SimNet: periodic numbered datagrams both ways, and what arrived.

Theory of operation
-------------------
A flow joins a plain host (the CN) and one address of an MN. Every
``interval`` it sends one datagram each way, ``size`` bytes whose first four
carry a sequence number, from and to one UDP port (unique in the net, so the
net finds the flow of a delivered datagram by its destination port)::

    CN  --- down #0, #1, #2 ... ---> MN address (native, or through the DAR's tunnel)
    CN  <--- up #0, #1, #2 ... ----- MN address (native, or reverse-tunnelled)

    Direction: sent {seq: time} received {seq: time} -> missing(), bytes_sent, bytes_received

An echo flow (``echo=True``) is a ping: only the CN sends on its period, and
the MN answers each datagram it receives with one carrying the same number
(:meth:`Flow.echoes`: what a ping records, for
:func:`scapy_fama.latency.interruptions`).

Opening a flow counts as a flow on that address for the MN's keep policy
(``MnCore.open_flow``); :meth:`Flow.stop` stops sending and closes it
(``MnCore.close_flow``), so under the ``flows`` policy the address is released
when its last flow stops. Datagrams still in flight arrive after the stop and
are counted.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from scapy_fama.net.sim_topology import HostNode, MnNode, Node

SEQ_BYTES = 4
# the largest payload whose datagram still fits a tunnel: outer Payload Length 65535 (RFC 8200 §3)
# = inner IPv6 header 40 + UDP header 8 + payload
MAX_SIZE = 65535 - 40 - 8
MIN_INTERVAL = 0.001  # 1 ms: a flow sends at most 1000 datagrams a second each way


class FlowDriver(Protocol):
    """What a flow needs from the net."""

    @property
    def now(self) -> float: ...

    def at(self, when: float, action: Callable[[], None]) -> None: ...

    def send_data(self, node: Node, src: str, dst: str, port: int, payload: bytes) -> None: ...

    def close_flow(self, mn: MnNode, address: str) -> None: ...


@dataclass
class Direction:
    """One direction of a flow: the sequence numbers sent and received, with their times."""

    src: str  # node names
    dst: str
    size: int
    sent: dict[int, float] = field(default_factory=dict)
    received: dict[int, float] = field(default_factory=dict)

    @property
    def bytes_sent(self) -> int:
        return len(self.sent) * self.size

    @property
    def bytes_received(self) -> int:
        return len(self.received) * self.size

    def missing(self) -> list[int]:
        """Sequence numbers sent and not (yet) received."""
        return [seq for seq in self.sent if seq not in self.received]

    def next_payload(self, now: float, seq: int | None = None) -> bytes:
        """The next datagram (or that numbered ``seq``: an answer), counted as sent at ``now``."""
        seq = len(self.sent) if seq is None else seq
        self.sent[seq] = now
        return seq.to_bytes(SEQ_BYTES, "big") + bytes(self.size - SEQ_BYTES)

    def arrived(self, payload: bytes, now: float) -> int:
        """Count a datagram as received (its first copy); its number."""
        seq = int.from_bytes(payload[:SEQ_BYTES], "big")
        self.received.setdefault(seq, now)
        return seq

    def __str__(self) -> str:
        return (
            f"{self.src} -> {self.dst}: {len(self.received)}/{len(self.sent)} datagrams, "
            f"{self.bytes_received}/{self.bytes_sent} B"
        )


class Flow:
    """Datagrams both ways between ``cn`` and ``address`` of ``mn``, every ``interval`` s."""

    def __init__(
        self,
        cn: HostNode,
        mn: MnNode,
        address: str,
        port: int,
        *,
        interval: float,
        size: int,
        driver: FlowDriver,
        echo: bool = False,
    ) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or not SEQ_BYTES <= size <= MAX_SIZE:
            # 100.5 failed inside run(), at every run until the flow was stopped
            raise ValueError(f"a flow needs a whole number {SEQ_BYTES} <= size <= {MAX_SIZE}, not size={size!r}")
        if isinstance(interval, bool) or not isinstance(interval, (int, float)):
            raise TypeError(f"a flow's interval is a number of seconds, not {type(interval).__name__} {interval!r}")
        if not MIN_INTERVAL <= interval < math.inf:  # NaN too; a smaller one makes a run's datagrams unbounded
            raise ValueError(
                f"a flow's interval is at least {MIN_INTERVAL:g} s "
                f"({1 / MIN_INTERVAL:.0f} datagrams a second each way) and finite, not {interval:g}"
            )
        self.cn = cn
        self.mn = mn
        self.address = address
        self.port = port
        self.interval = interval
        self.echo = echo
        self.down = Direction(cn.name, mn.name, size)
        self.up = Direction(mn.name, cn.name, size)
        self.stopped: float | None = None
        self._driver = driver
        self._start = driver.now
        driver.at(self._start, self._tick)

    def _tick(self) -> None:
        if self.stopped is not None:
            return
        now = self._driver.now
        self._driver.send_data(
            self.cn, self.cn.address, self.address, self.port, self.down.next_payload(now)
        )
        if not self.echo:
            self._send_up(self.up.next_payload(now))
        # from the start time, so that the ticks do not drift by repeated float addition
        self._driver.at(self._start + len(self.down.sent) * self.interval, self._tick)

    def _send_up(self, payload: bytes) -> None:
        self._driver.send_data(self.mn, self.address, self.cn.address, self.port, payload)

    def arrived(self, node: Node, payload: bytes) -> None:
        """A datagram of this flow reached ``node``; an echo flow's MN answers it."""
        now = self._driver.now
        if node is self.mn:
            seq = self.down.arrived(payload, now)
            if self.echo and seq not in self.up.sent:
                self._send_up(self.up.next_payload(now, seq))
        else:
            self.up.arrived(payload, now)

    def echoes(self) -> list[tuple[int, float, float | None]]:
        """Each datagram the CN sent: (number, send time, round trip; None: no answer came back)."""
        back = self.up.received
        return [(seq, sent, back[seq] - sent if seq in back else None) for seq, sent in self.down.sent.items()]

    def stop(self) -> None:
        """Stop sending; the MN closes the flow on its address (keep policy ``flows``)."""
        if self.stopped is None:
            self.stopped = self._driver.now
            self._driver.close_flow(self.mn, self.address)

    def __str__(self) -> str:
        state = "running" if self.stopped is None else f"stopped at {self.stopped:g} s"
        head = f"flow {self.cn.name} <-> {self.mn.name} [{self.address}] port {self.port}"
        return f"{head} ({state})\n  down {self.down}\n  up   {self.up}"
