"""The interface executor: an IUT reachable on a real Ethernet interface, in wall-clock time.

Theory of operation
-------------------
One reader thread owns the receive side of an AF_PACKET socket on the
interface (:class:`scapy_fama.net.iface.IfacePort`) from the first case to the
last::

    IUT --frame--> reader thread --+-- NS for an address the tester holds -> NA at once
                                   +-- from the IUT (``from_iut``) -> queue (time, IPv6 bytes,
                                       the Ethernet destination: whichever MAC the IUT chose)
                                       (an NS for any other target is also noted in ``solicited``)
    case.wait() <-- queue.get(timeout)      case.send(raw) --> Ether(dst = the IUT's MAC) / raw

Packets go out byte for byte (Ether + the case's raw IPv6, never re-built by
Scapy, so a malformed packet stays malformed). Which MAC the IUT has and which
frames are its own is the role's business: a DAR's MAC is resolved once with a
Neighbour Solicitation, an MN's is learnt from its first frame (``IfaceMn``).
A frame's time is when the kernel received it (the socket's timestamp), not
when the reader thread got round to it: on a busy machine a late reader would
otherwise make a retransmission look early, and the cases judge times to 0.3 s.
A frame the kernel received before the case began belongs to an earlier case
and is discarded, however late the reader thread queues it.
The IUT's network must bring back to this interface what the IUT sends to the
tester's CoAs and correspondents (e.g. a default route via the tester's
link-local address); the README says how. A DAR whose network treats them as
on-link instead asks for their link-layer address with Neighbour
Solicitations that nobody answers: :meth:`IfaceDar.bed_problem` says so, and
the run stops (exit 2) rather than blame the DAR for the BAs that never come.
"""

from __future__ import annotations

import queue
import threading
import time
from ipaddress import IPv6Address, IPv6Network

from scapy.layers.inet6 import ICMPv6ND_NS, IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw

from scapy_fama.automata.nd import ALL_NODES, advertisement, group_mac
from scapy_fama.conformance.executor import Executor, Setup
from scapy_fama.net.iface import IfacePort, link_local, require_root, resolve_mac

POLL = 0.05  # seconds between the reader thread's looks at its stop flag
RESOLVE_TRIES = 3  # RFC 4861 §10 MAX_MULTICAST_SOLICIT: a DAR just started may miss the first
ETH_IPV6 = 0x86DD


class IfaceExecutor(Executor):
    """The shared part of the DAR and MN interface executors (see the module doc)."""

    kind = "iface"

    def __init__(self, iface: str) -> None:
        super().__init__()
        require_root()
        self.port = IfacePort(iface)
        self.iface, self.mac = iface, self.port.mac
        self.link_local = link_local(iface)
        self.held: set[str] = set()
        self.solicited: list[str] = []  # targets of the IUT's NSs in this case that we did not answer
        self._queue: queue.Queue[tuple[float, bytes, str]] = queue.Queue()
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read, name=f"conformance-{iface}", daemon=True)
        self._reader.start()

    def clock(self) -> float:
        return time.monotonic()

    def close(self) -> None:
        self._stop.set()
        self._reader.join()
        self.port.close()

    def begin(self, setup: Setup) -> None:
        super().begin(setup)
        self.held, self.solicited = set(), []
        while not self._queue.empty():
            self._queue.get_nowait()

    def hold(self, address: str) -> None:
        self.held.add(address)

    def claim(self, address: str) -> None:
        """An unsolicited NA for ``address`` (O=1) to all nodes, naming the tester's MAC."""
        self.port.send(advertisement(address, ALL_NODES, group_mac(ALL_NODES), self.mac, router=False))

    # ---------------------------------------------------------------- the roles' business

    def from_iut(self, frame: Packet) -> bool:
        """Whether a received frame is the IUT's (not ours, nor another host's)."""
        return bool(frame.src != self.mac)

    def iut_mac(self, raw: bytes) -> str:
        """The destination MAC of a packet for the IUT."""
        raise NotImplementedError

    # ---------------------------------------------------------------- the link

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                ready = IfacePort.select([self.port], POLL)
                frame = self.port.recv() if ready else None
            except OSError:  # the interface went away under us: the cases will see silence
                return
            if frame is None or IPv6 not in frame or not self.from_iut(frame):
                continue
            if ICMPv6ND_NS in frame:
                if str(frame[ICMPv6ND_NS].tgt) in self.held:
                    self._answer_ns(frame)
                    continue
                self.solicited.append(str(frame[ICMPv6ND_NS].tgt))
            age = max(0.0, time.time() - float(frame.time))  # since the kernel received it
            self._queue.put((self.clock() - age, bytes(frame[IPv6]), str(frame.dst)))

    def _answer_ns(self, frame: Packet) -> None:
        ns = frame[ICMPv6ND_NS]
        src = str(frame[IPv6].src)
        dst, dst_mac = (src, str(frame.src)) if src != "::" else ("ff02::1", "33:33:00:00:00:01")
        self.port.send(advertisement(str(ns.tgt), dst, dst_mac, self.mac, router=False))

    def _deliver(self, raw: bytes) -> None:
        self.port.send(Ether(src=self.mac, dst=self.iut_mac(raw), type=ETH_IPV6) / Raw(raw))

    def _advance(self, deadline: float) -> bool:
        while (remaining := deadline - self.now()) > 0:
            try:
                at, raw, mac = self._queue.get(timeout=remaining)
            except queue.Empty:
                return False
            if self._received(raw, at - self._start, mac):  # else an earlier case's (module doc)
                return True
        return False


class IfaceDar(IfaceExecutor):
    """A DAR on the link: its MAC resolved once from ``address`` (its global address).
    ``beyond`` are the tester's addresses the DAR's network must route to this interface
    (its CoA prefix and its correspondent)."""

    role = "dar"

    def __init__(
        self, iface: str, address: str, wait: float = 1.0, beyond: tuple[str, ...] = ()
    ) -> None:
        require_root()
        try:  # before the reader
            self.dar_mac = resolve_mac(iface, address, wait, tries=RESOLVE_TRIES)
        except ValueError as exc:
            raise ValueError(
                f"{exc}: is {address} the DAR's address (--iut-address), and the IUT a DAR? "
                "(--role mn tests a mobile node)"
            ) from None
        self.beyond = [IPv6Network(net) for net in beyond]
        super().__init__(iface)

    def from_iut(self, frame: Packet) -> bool:
        return bool(frame.src == self.dar_mac)

    def iut_mac(self, raw: bytes) -> str:
        return self.dar_mac

    def bed_problem(self) -> str | None:
        ours = [a for a in self.solicited if any(IPv6Address(a) in net for net in self.beyond)]
        if not ours:
            return None
        nets = " and ".join(str(net) for net in self.beyond)
        return (
            f"the test bed, not the DAR: the IUT asks for the link-layer address of the tester's "
            f"{ours[0]} with Neighbour Solicitations on {self.iface} and nothing answers them, so what "
            f"it sends there never arrives; its network must route {nets} via this interface's "
            f"{self.link_local} instead of treating them as on-link (does the DAR's kernel own "
            f"the DAR's address, with an on-link route?)"
        )
