"""FamaAutomaton: the Scapy Automaton both roles share, a driver of one sans-I/O core.

Theory of operation
-------------------
The automaton owns the sockets, the thread and the clock; the core (DarCore,
MnCore) owns every protocol decision. Three things can happen in any state,
and each calls the core with ``now = time.monotonic()`` and carries out the
effects it returns::

    frame (bytes) --MAC filter, wire.parse--> NS / NA: neighbour discovery (nd.py)
                        +--> codec.decode_parsed --> core.on_message(msg, now) --+
    tick (ATMT.timer, 50 ms) --> core.on_timer(now) once next_deadline() is due,  |
                                 NS retries; the MN also polls its link           |
    command (ioevent "cmd") --> a call from another thread: flows, data, held     |
                                                                                  v
    effects: Send(msg)     -> codec.encode_bytes -> intercepted kind? held : out
             Forward(msg)  -> the bytes it came in with, one hop less -> out
             out           -> multicast MAC | next hop's MAC (ND, queued meanwhile) | upstream
             TunnelUp/Down -> self.tunnels        Deliver -> self.received
             Notify / Drop -> one log line each (log.py)
    then:    the life-cycle state is derived from the core; only a change is a transition

Kernel mode (``kernel=`` a :class:`~scapy_fama.automata.kernel_path.KernelPath`):
the kernel owns the addresses and carries the data; the automaton keeps the
signalling and the tunnels' bytes, and forwards nothing::

    frame in / upstream --IPv6-in-IPv6--> KernelPath.out_of (checked) --> TUN --> kernel
                        --MH, RS, RA----> the core, as above     anything else: the kernel's
    TUN (ioevent "tun") --> KernelPath.into (the tunnel of its HoA) --> out (routed as above)
    after every event   --> _sync_kernel: the kernel's addresses and routes follow the core

A :class:`~scapy_fama.net.linkemu.LinkEmulation` (``emulation=``) puts the
access port behind two delay lines (role-applied delay and loss).

Everything that crosses the automaton is bytes (DESIGN.md "bytes first"): a
frame is read by :mod:`scapy_fama.wire` and decoded by the codec from those
bytes, answers are encoded straight to bytes, and a Scapy packet is built only
when someone looks (an interception, a debug line: :class:`~scapy_fama.automata.ports.Frame`).
Tunnelled and forwarded packets keep the bytes they arrived with (the core
names them as messages, and re-encoding would lose what the codec does not
model: other ICMPv6, TCP, unknown options).

Scapy 2.8 pitfalls, and what this class does about them:

* ATMT timers are created once per class and shared by all its instances:
  each instance gets its own copies (``self.timeout``), of :class:`_Tick`,
  which also mends a second trap: an autoreloading timer late by more than
  its period (the thread was busy, e.g. generating a CGA) stays at <= 0,
  which ``until_next`` ignores, so the automaton would ``select`` without a
  timeout and stop ticking until a packet came;
* entering a state, even the same one, restarts its timers: a packet, tick or
  command that leaves the life-cycle state unchanged makes no transition;
* timeouts are wall-clock: the protocol timers stay in the core, ticked here;
* the same three conditions exist in every state, so they are generated per
  state (``__init_subclass__``); ``graph()`` draws the edges each state names
  in its ``_enter(...)`` call, which are the life cycle the derivation may
  follow (a transition outside it is logged as an error).

Interception: ``intercept("BU")`` (or the MH type, 5) holds every BU about
to leave as a :class:`Held`, whose ``packet`` is the Scapy packet (built then),
while the automaton keeps running: ``next_held()`` waits for one, ``release(held,
packet)`` sends it (edited or not), ``drop(held)`` discards it. Scapy's own
interception points and breakpoints (``mn.BOUND.breaks()``) work as well,
since every frame leaves through ``Automaton.send``, but they stop the
automaton's thread while they wait.
"""

from __future__ import annotations

import itertools
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

from scapy.automaton import ATMT, Automaton, Timer, _TimerList
from scapy.layers.inet6 import IPv6
from scapy.packet import Packet

from scapy_fama.automata import nd
from scapy_fama.automata.kernel_path import KernelPath, signalling
from scapy_fama.automata.log import LogSink
from scapy_fama.automata.ports import AccessPort, Frame, NodeSocket
from scapy_fama.codec import decode, decode_parsed, encode_bytes
from scapy_fama.net import bpf
from scapy_fama.net.iface import IfacePort
from scapy_fama.net.linkemu import EmulatedPort, LinkEmulation
from scapy_fama.proto.effects import (
    Deliver,
    Drop,
    Effects,
    Forward,
    Notify,
    Send,
    TunnelDown,
    TunnelUp,
)
from scapy_fama.proto.messages import Datagram, Message, Tunnelled, kind, kind_named
from scapy_fama.wire import WireInfo, icmpv6, parse
from scapy_fama.wire.link import ether, is_group, mac_bytes, mac_text, solicited_node
from scapy_fama.wire.numbers import (
    ETHER_HEADER,
    ETHERTYPE_IPV6,
    ICMPV6,
    IPV6_IN_IPV6,
    NA,
    NS,
)
from scapy_fama.wire.read import addr
from scapy_fama.wire.write import ipv6

_ETHERTYPE = ETHERTYPE_IPV6.to_bytes(2, "big")
TICK = 0.05  # seconds between two looks at the core's deadline
COMMAND_TIMEOUT = 5.0


class Core(Protocol):
    """What a driver calls on DarCore and MnCore alike."""

    def next_deadline(self) -> float | None: ...
    def on_timer(self, now: float) -> Effects: ...
    def on_message(self, msg: Message, now: float) -> Effects: ...


class _Tick(Timer):
    """A periodic ATMT timer that, however late, fires once and then waits a full period."""

    def _decrement(self, time: float) -> None:
        super()._decrement(time)
        if self._time <= 0:
            self._time = self._timeout


def _own_timers(shared: dict[str, _TimerList]) -> dict[str, _TimerList]:
    """Per-instance copies of the class's timers (Scapy 2.8 shares them)."""
    own = {}
    for state, timers in shared.items():
        own[state] = _TimerList()
        for timer in timers:
            tick = _Tick(timer.get(), autoreload=True)
            tick._func = timer._func
            own[state].add_timer(tick)
    return own


def _conditions(state: Any) -> list[Any]:
    """The receive condition, tick, command and TUN ioevents of one state."""

    def receive(self: FamaAutomaton, frame: Frame) -> None:
        self._handle(self._receive, frame)

    def tick(self: FamaAutomaton) -> None:
        self._handle(self._tick)

    def command(self: FamaAutomaton, fd: Any) -> None:
        self._handle(self._command, fd.recv())

    def tunnel(self: FamaAutomaton, fd: Any) -> None:
        self._handle(self._from_tun, fd.recv())

    for function in (receive, tick, command, tunnel):
        function.__name__ = function.__qualname__ = f"{state.atmt_state.lower()}_{function.__name__}"
    return [
        ATMT.receive_condition(state)(receive),
        ATMT.timer(state, TICK)(tick),
        ATMT.ioevent(state, name="cmd")(command),
        ATMT.ioevent(state, name="tun")(tunnel),
    ]


@dataclass
class Held:
    """A message stopped on its way out: edit ``packet`` (its IPv6 packet), then release or drop it."""

    number: int
    kind: str
    msg: Message
    packet: Packet


@dataclass
class _Command:
    call: Callable[[float], Any]
    done: Future[Any]


class FamaAutomaton(Automaton):
    """A Scapy Automaton that drives a FAMA core; see the module's docstring."""

    ROUTER = False  # the R flag of this node's Neighbour Advertisements

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for member in list(vars(cls).values()):
            if getattr(member, "atmt_type", None) == ATMT.STATE and not member.atmt_final:
                for condition in _conditions(member):
                    setattr(cls, condition.__name__, condition)

    def __init__(
        self,
        core: Core,
        link: AccessPort | None,
        iface: str | None,
        upstream: Any = None,
        *,
        name: str,
        log: LogSink | None = None,
        debug: int = 0,
        kernel: KernelPath | None = None,
        emulation: LinkEmulation | None = None,
    ) -> None:
        if (link is None) == (iface is None):
            raise ValueError("give either link= (e.g. a memlink port) or iface=")
        self.core = core
        self.name = name
        self.log = log or LogSink(sys.stdout)
        self.kernel = kernel
        program = bpf.signalling() if kernel is not None else bpf.own_frames()
        self.access: AccessPort = link if link is not None else IfacePort(iface or "", program)
        if emulation is not None:
            self.access = EmulatedPort(self.access, emulation)
            self.log.write(
                name, "event", "link-emulation", method="role-applied",
                delay_ms=emulation.delay_ms, loss=emulation.loss, seed=emulation.seed,
            )  # fmt: skip
        self.upstream = upstream
        self.mac = self.access.mac
        self._mac = mac_bytes(self.mac)
        self.neighbors = nd.Neighbors()
        self.tunnels: dict[str, TunnelUp] = {}  # HoA -> the tunnel carrying its traffic
        self.received: queue.Queue[Datagram] = queue.Queue()  # Deliver effects
        self.history: list[tuple[float, str]] = []  # (monotonic time, state entered)
        self.held: dict[int, Held] = {}
        self._held_queue: queue.Queue[Held] = queue.Queue()
        self._numbers = itertools.count(1)
        self._intercepts: frozenset[str] = frozenset()
        self._successors: frozenset[str] = frozenset()
        self._changed = threading.Condition()
        self._rx: tuple[bytes, WireInfo] | None = None  # the IPv6 packet being handled
        self.timeout = _own_timers(type(self).timeout)
        tun = {} if kernel is None else {"external_fd": {"tun": kernel.tun.fd}}
        super().__init__(sock=NodeSocket(self.access, upstream), debug=debug, **tun)  # type: ignore[arg-type]

    # ---------------------------------------------------------------- states

    @ATMT.state(stop=1, final=1)
    def STOPPED(self) -> None:
        """stop() was called: the thread ends and closes the sockets (and the kernel state)."""
        self._close_kernel()
        self._enter()

    def _enter(self, *successors: Any) -> None:
        """Called by each state on entry, naming the states it may lead to (graph() draws them)."""
        with self._changed:
            self._successors = frozenset(s.atmt_state for s in successors)
            self.history.append((time.monotonic(), self.state.state))
            self._changed.notify_all()
        self.log.write(self.name, "state", self.state.state)

    def wait_for(self, state: str, timeout: float) -> bool:
        """Wait until the automaton is in ``state``; False after ``timeout`` seconds."""
        with self._changed:
            return self._changed.wait_for(lambda: self.state.state == state, timeout)

    def _phase(self) -> str:
        """The life-cycle state the core is in now."""
        raise NotImplementedError

    def _settle(self) -> None:
        phase = self._phase()
        if phase == self.state.state:
            return
        if phase not in self._successors:
            self.log.write(
                self.name, "error", "transition", why=f"{self.state.state} -> {phase} is not drawn"
            )
        raise getattr(self, phase)()

    def _handle(self, step: Callable[..., None], *args: Any) -> None:
        try:
            step(time.monotonic(), *args)
            if self.kernel is not None:
                self._sync_kernel()
        except Exception as exc:  # noqa: BLE001 -- one bad packet must not stop a router: log it
            self.log.write(self.name, "error", type(exc).__name__, why=str(exc))
        self._settle()

    # ---------------------------------------------------------------- the three events

    def _receive(self, now: float, frame: Frame) -> None:
        data = frame.data
        if frame.upstream:  # routed to this node: an IPv6 packet
            ip = data
        else:
            if not (data[:6] == self._mac or is_group(data)) or data[12:14] != _ETHERTYPE:
                return  # another node's unicast frame, or not IPv6
            ip = data[ETHER_HEADER:]
        info = parse(ip)
        if info is None:
            return
        if not frame.upstream:
            if ip[8] == 0xFE and ip[9] & 0xC0 == 0x80:  # fe80::/10 sources are never routed: the sender is here
                self._learn(info.src, mac_text(data[6:12]))
            if self._neighbor_discovery(data, ip, info, now) or not self._accepts(data[:6], info):
                return
        if self.kernel is not None and self._for_kernel(ip, info):
            return
        msg = decode_parsed(ip, info)
        self.log.message(self.name, "in", msg)
        self._rx = (ip, info)
        try:
            self._apply(self._on_message(msg, now), now)
        finally:
            self._rx = None

    def _for_kernel(self, ip: bytes, info: WireInfo) -> bool:
        """Kernel mode: take a tunnelled packet out of its tunnel to the kernel, and leave the
        kernel its own traffic (True), or say ``ip`` is signalling for the core (False)."""
        assert self.kernel is not None
        if info.tunnelled:
            why = self.kernel.out_of(ip, info, self.tunnels)
            if why:
                self.log.write(self.name, "drop", "TUN", src=info.src, dst=info.dst, why=why)
            return True
        return not signalling(ip, info)

    def _from_tun(self, now: float, data: bytes) -> None:
        """Kernel mode: a packet the kernel routed into the TUN goes out through its HoA's tunnel."""
        assert self.kernel is not None
        packet = self.kernel.into(data, self.tunnels)
        if packet is None:
            src, dst = (addr(data, 8), addr(data, 24)) if len(data) >= 40 else ("::", "::")
            self.log.write(self.name, "drop", "DATA", src=src, dst=dst, why="no-tunnel")
            return
        self._route(packet, now)

    def _sync_kernel(self) -> None:
        """Kernel mode: make the kernel's addresses and routes follow the core's state."""
        raise NotImplementedError

    def _close_kernel(self) -> None:
        if self.kernel is None or self.kernel.closed:
            return
        try:
            self.kernel.close()
        except OSError as exc:  # a state already gone: say so, the rest is removed anyway
            self.log.write(self.name, "error", "kernel-path", why=str(exc))
        self.log.write(self.name, "event", "kernel-path-closed", **self.kernel.counts)

    def _on_message(self, msg: Message, now: float) -> Effects:
        return self.core.on_message(msg, now)

    def _tick(self, now: float) -> None:
        self._poll(now)
        deadline = self.core.next_deadline()
        if deadline is not None and now >= deadline:
            self._apply(self.core.on_timer(now), now)
        again, lost = self.neighbors.due(now)
        for address in again:
            self._solicit(address)
        for packet in lost:
            self.log.write(self.name, "drop", "unresolved", src=addr(packet, 8), dst=addr(packet, 24), why="no NA")

    def _poll(self, now: float) -> None:
        """Look at the link (the MN does, to see handovers)."""

    def _command(self, now: float, command: _Command) -> None:
        try:
            result = command.call(now)
        except Exception as exc:  # noqa: BLE001 -- handed to the caller's thread
            command.done.set_exception(exc)
        else:
            command.done.set_result(result)

    def _call(self, call: Callable[[float], Any]) -> Any:
        """Run ``call(now)`` in the automaton's thread (the core is not thread-safe)."""
        done: Future[Any] = Future()
        self.io.cmd.send(_Command(call, done))
        return done.result(COMMAND_TIMEOUT)

    def _core_call(self, call: Callable[[float], Effects]) -> None:
        self._call(lambda now: self._apply(call(now), now))

    # ---------------------------------------------------------------- effects

    def _apply(self, effects: Effects, now: float) -> None:
        for effect in effects:
            match effect:
                case Send(msg=msg):
                    self._emit(msg, self._encode(msg), "out", now)
                case Forward(msg=msg):
                    self._emit(msg, self._as_received(msg) or encode_bytes(msg), "fwd", now)
                case TunnelUp(local=local, remote=remote, hoa=hoa):
                    self.tunnels[hoa] = effect
                    self.log.write(self.name, "event", "tunnel-up", src=local, dst=remote, hoa=hoa)
                case TunnelDown(local=local, remote=remote, hoa=hoa):
                    self.tunnels.pop(hoa, None)
                    self.log.write(self.name, "event", "tunnel-down", src=local, dst=remote, hoa=hoa)
                case Deliver(datagram=datagram):
                    self.received.put(datagram)
                    self.log.write(
                        self.name,
                        "event",
                        "delivered",
                        src=datagram.src,
                        dst=datagram.dst,
                        bytes=len(datagram.payload),
                    )
                case Notify(event=event, data=data):
                    self.log.write(self.name, "event", event, **data)
                    self._notified(effect, now)
                case Drop(msg=msg, reason=reason):
                    self.log.message(self.name, "drop", msg, why=reason)

    def _notified(self, notify: Notify, now: float) -> None:
        """A core event the driver acts on (the MN probes a tentative address)."""

    def _encode(self, msg: Message) -> bytes:
        if isinstance(msg, Tunnelled):  # RFC 2473: the inner packet as it came, when it came
            inner = self._as_received(msg.inner) or encode_bytes(msg.inner)
            return ipv6(msg.src, msg.dst, IPV6_IN_IPV6, inner, msg.hlim)
        return encode_bytes(msg)

    def _as_received(self, msg: Message) -> bytes | None:
        """The received packet (or its tunnelled inner one) that ``msg`` stands for, one hop on."""
        if self._rx is None:
            return None
        ip, info = self._rx
        layers = [(ip, info.hlim)]
        if info.tunnelled and info.upper is not None and info.end - info.upper >= 40:
            inner = ip[info.upper : info.end]
            layers.append((inner, inner[7]))
        for layer, hlim in layers:
            if (addr(layer, 8), addr(layer, 24)) == (msg.src, msg.dst):
                new = getattr(msg, "hlim", hlim - 1)
                return layer[:7] + bytes((new & 0xFF,)) + layer[8:]
        return None

    # ---------------------------------------------------------------- out: interception, routing

    def _emit(self, msg: Message, packet: bytes, direction: str, now: float) -> None:
        name = kind(msg)
        if name in self._intercepts:
            held = Held(next(self._numbers), name, msg, IPv6(packet))
            self.held[held.number] = held
            self._held_queue.put(held)
            self.log.message(self.name, "held", msg, number=held.number)
            return
        self.log.message(self.name, direction, msg)
        self._route(packet, now)

    def _route(self, packet: bytes, now: float) -> None:
        dst = addr(packet, 24)
        if nd.is_multicast(dst):
            self._frame(packet, nd.group_mac(dst))
            return
        hop = self._next_hop(dst)
        if hop is None:
            try:
                self.send(Frame(packet, upstream=True))
            except OSError as exc:  # e.g. no route in the kernel
                self.log.write(self.name, "drop", "upstream", src=addr(packet, 8), dst=dst, why=str(exc))
            return
        mac = self.neighbors.macs.get(hop)
        if mac is not None:
            self._frame(packet, mac)
        elif self.neighbors.wait(hop, packet, now):
            self._solicit(hop)

    def _next_hop(self, dst: str) -> str | None:
        """The on-link address to resolve for ``dst``; None: hand it upstream."""
        raise NotImplementedError

    def _frame(self, packet: bytes, mac: str) -> None:
        self.send(Frame(ether(mac_bytes(mac), self._mac, packet)))

    # ---------------------------------------------------------------- neighbour discovery

    def _solicit(self, target: str) -> None:
        source = self._nd_source()
        self.log.write(self.name, "out", "NS", src=source, dst=solicited_node(target), target=target)
        self.send(Frame(nd.solicitation(source, target, self.mac)))

    def _learn(self, address: str, mac: str) -> int:
        """Note where ``address`` is; send what waited for it (how many packets)."""
        waiting = self.neighbors.learn(address, mac)
        for packet in waiting:
            self._frame(packet, mac)
        return len(waiting)

    def _neighbor_discovery(self, frame: bytes, ip: bytes, info: WireInfo, now: float) -> bool:
        """Handle an NS or NA (True), or say it is neither (False).

        Only ND that concerns this node is logged (an NS it answers, an NA it
        waited for): the kernels on the link have ND traffic of their own.
        """
        if info.proto != ICMPV6 or info.upper is None or info.upper >= len(ip) or ip[info.upper] not in (NS, NA):
            return False
        msg = icmpv6.read(ip, info)
        if msg is None or msg.invalid or msg.target is None:
            return True  # RFC 4861 §7.1: an invalid NS or NA is silently discarded
        target = msg.target
        if msg.type == NS:
            if info.src == "::":  # a DAD probe (RFC 4862 §5.4.3)
                self._in_use(target, now)
                dst, mac = nd.ALL_NODES, nd.group_mac(nd.ALL_NODES)
            else:
                dst = info.src
                mac = mac_text(msg.lladdr) if msg.lladdr else mac_text(frame[6:12])
                self._learn(dst, mac)
            if self._answers(target):
                self.log.write(self.name, "in", "NS", src=info.src, dst=info.dst, target=target)
                self.log.write(self.name, "out", "NA", src=target, dst=dst, target=target)
                self.send(Frame(nd.advertisement(target, dst, mac, self.mac, self.ROUTER)))
            return True
        self._in_use(target, now)
        mac = mac_text(msg.lladdr) if msg.lladdr else mac_text(frame[6:12])
        if self._learn(target, mac):
            self.log.write(self.name, "in", "NA", src=info.src, dst=info.dst, target=target)
        return True

    def _in_use(self, address: str, now: float) -> None:
        """Another node uses or probes ``address`` (a DAD collision if it is tentative here)."""

    def _accepts(self, dst_mac: bytes, info: WireInfo) -> bool:
        """Whether a packet from the access link is for this node's core."""
        raise NotImplementedError

    def _answers(self, target: str) -> bool:
        """Whether this node advertises ``target`` (its own address, or one it defends)."""
        raise NotImplementedError

    def _nd_source(self) -> str:
        raise NotImplementedError

    # ---------------------------------------------------------------- interception (any thread)

    def intercept(self, *kinds: str | int) -> None:
        """Hold messages of these kinds ("BU", "BA", "CoTI", ..., or MH types) on their way out."""
        self._intercepts = self._intercepts | {kind_named(k) for k in kinds}

    def unintercept(self, *kinds: str | int) -> None:
        self._intercepts = self._intercepts - {kind_named(k) for k in kinds}

    def next_held(self, timeout: float | None = None) -> Held | None:
        """The next message held since the last call, waiting up to ``timeout`` for one."""
        try:
            return self._held_queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def release(self, held: Held, packet: Packet | None = None) -> None:
        """Send a held message: its packet as held (and maybe edited), or ``packet`` instead."""
        self._call(lambda now: self._release(held, held.packet if packet is None else packet, now))

    def drop(self, held: Held) -> None:
        """Discard a held message: it never leaves."""
        self._call(lambda now: self._take(held, "drop", held.msg))

    def _take(self, held: Held, direction: str, msg: Message) -> None:
        if self.held.pop(held.number, None) is None:
            raise ValueError(f"message {held.number} is not held (released or dropped already)")
        self.log.message(self.name, direction, msg, number=held.number)

    def _release(self, held: Held, packet: Packet, now: float) -> None:
        self._take(held, "released", decode(packet))
        self._route(bytes(packet), now)

    # ---------------------------------------------------------------- running as a daemon

    def serve(self) -> None:
        """Run until SIGINT or SIGTERM, then stop cleanly (call from the main thread)."""
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        self.runbg()
        try:
            while not stop.wait(4 * TICK) and self.isrunning():
                pass
            if not self.isrunning():  # the thread ended by itself: the sockets failed
                failure = None if self.cmdout.empty() else self.cmdout.recv()
                raise OSError(f"{self.name} stopped: {getattr(failure, 'exception', 'unknown reason')}")
            self.stop()
        finally:
            self._close_kernel()
