"""FamaAutomaton: the Scapy Automaton both roles share, a driver of one sans-I/O core.

Theory of operation
-------------------
The automaton owns the sockets, the thread and the clock; the core (DarCore,
MnCore) owns every protocol decision. Three things can happen in any state,
and each calls the core with ``now = time.monotonic()`` and carries out the
effects it returns::

    frame (bytes, cheap ones first: ports.py) --MAC filter, wire.parse--> NS / NA / RS / RA: ND (nd.py)
       fragment for this node --> reassembly.py (RFC 8200 §4.5) --whole--+
       unrecognised option, action 10/11 --> Parameter Problem (errors.py) |
                        +--> codec.decode_parsed --> core.on_message(msg, now) <--+
    tick (ATMT.timer, 50 ms) --> the link watched (down/up, gone/back: one line each
                                 way), core.on_timer(now) once next_deadline() is due,
                                 ND and reassembly timers; a deadline on_timer left where
                                 it was (it raised) is looked at again ever later, up to 50 ms
    link event (ioevent "link": rtnetlink, a real interface) --> the same look at the
                                 link at once: an RS leaves on link-up (profile §2 step 1)
    command (ioevent "cmd") --> a call from another thread: flows, data, held, status
                                                                                  |
    effects: Send(msg)     -> codec.encode_bytes -> intercepted kind? held : out  v
             Forward(msg)  -> the bytes it came in with, one hop less -> out
                              (came with hop limit <= 1: Time Exceeded instead, RFC 8200 §3)
             out           -> multicast MAC | next hop's MAC (ND, queued meanwhile) | upstream
             TunnelUp/Down -> self.tunnels        Deliver -> self.received (bounded; DAR: none)
             Notify / Drop -> one log line each (log.py: rate-limited and summarised)
    then:    the life-cycle state is derived from the core; only a change is a transition

Every table the driver keeps is bounded (profile §6 "Bounded state"; README):
the neighbour cache, the reassembly, the socket backlog, ``received``,
``history``, the log queue; ``status()`` (SIGUSR1 under ``serve``) says how full.
Link events and log failures are counted and said once, never raised.

``serve(realtime=P)`` runs the automaton's thread, and it alone, under SCHED_FIFO at
priority P: it then runs as soon as a packet wakes it, ahead of every ordinary process
on the machine, while the data plane and log threads keep the ordinary policy (a
saturated tunnel cannot take the cores from the applications it serves, and the
kernel's real-time throttling still leaves them 5 % of each second).

Kernel mode (``kernel=`` a :class:`~scapy_fama.automata.kernel_path.KernelPath`):
the kernel owns the addresses and carries the data; the automaton keeps the
signalling, and a data plane thread of the kernel path the tunnels' bytes
(:mod:`~scapy_fama.automata.dataplane`); the automaton forwards only the
signalling the data plane hands it (a DAR's: what its kernel routed into a tunnel)::

    frame in / upstream / hand-off --MH, RS, RA--> the core, as above  anything else: the kernel's
                                                                       (IPv6-in-IPv6: the data plane's)
    after every event   --> _sync_kernel: the kernel's addresses and routes follow the core,
                            then the data plane's tunnels (a DAR's at once, after its BA left;
                            an MN's in a thread of their own, automata/follower.py: the BAs
                            that answer a move's BUs do not wait for its kernel work)
    NS for an address   --> the kernel's to answer where it holds the address on the link
                            (KernelPath.answers); the automaton answers the rest (a DAR's
                            proxied HoAs): one NA per NS (RFC 4861 §7.2.4)

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
* timeouts are wall-clock: the protocol timers stay in the core, ticked here
  every TICK, and sooner when the core's next deadline is sooner (a 1 s
  retransmission fires at 1 s, not at the next 50 ms tick);
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
automaton's thread while they wait: a call from another thread meanwhile
(``release``, ``open_flow``, ...) is withdrawn after COMMAND_TIMEOUT with a
TimeoutError that says so, and never runs later. ``stop()`` is for good: the
thread's end closes the node's sockets, and starting it again is refused.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Collection
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

from scapy.automaton import ATMT, Automaton, Timer, _TimerList
from scapy.layers.inet6 import IPv6
from scapy.packet import Packet

from scapy_fama.automata import nd
from scapy_fama.automata.drawing import draw
from scapy_fama.automata.errors import IcmpErrors
from scapy_fama.automata.kernel_path import KernelPath, signalling
from scapy_fama.automata.log import LogSink
from scapy_fama.automata.ports import AccessPort, Frame, NodeSocket
from scapy_fama.automata.reassembly import Refused, Reassembly
from scapy_fama.codec import decode, decode_parsed, encode_bytes
from scapy_fama.interrupt import Latch
from scapy_fama.net import bpf
from scapy_fama.net.iface import IfacePort
from scapy_fama.net.linkemu import EmulatedPort, LinkEmulation
from scapy_fama.net.rtnetlink import LinkEvents
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
from scapy_fama.proto.messages import Datagram, Message, Tunnelled, Undecodable, kind, kind_named
from scapy_fama.wire import WireInfo, icmpv6, parse
from scapy_fama.wire.link import ether, is_group, mac_bytes, mac_text, solicited_node
from scapy_fama.wire.numbers import (
    ACTION_REPORT,
    ACTION_REPORT_UNICAST,
    ICMPV6,
    IPV6_IN_IPV6,
    NA,
    NA_O,
    NA_S,
    NS,
    PP_HEADER,
    PP_OPTION,
    RA,
    RS,
    TE_REASSEMBLY,
    TE_TRANSIT,
)
from scapy_fama.wire.read import addr
from scapy_fama.wire.write import ipv6

TICK = 0.05  # seconds between two looks at the core's deadline, at the longest
SOONEST = 0.001  # seconds: the earliest tick (a core deadline left in the past: a look a millisecond)
RECEIVED = 256  # datagrams kept for the node's applications (profile §6 "Bounded state")
HISTORY = 256  # life-cycle states remembered
COMMAND_TIMEOUT = 5.0


class Core(Protocol):
    """What a driver calls on DarCore and MnCore alike."""

    def next_deadline(self) -> float | None: ...
    def on_timer(self, now: float) -> Effects: ...
    def on_message(self, msg: Message, now: float) -> Effects: ...


class _Tick(Timer):
    """A periodic ATMT timer that, however late, fires once and then waits a full period, or
    less: no longer than until the core's next deadline (``until()``: seconds, None: none)."""

    def __init__(self, period: float, until: Callable[[], float | None]) -> None:
        super().__init__(period, autoreload=True)
        self.until = until

    def _reset(self) -> None:  # entering a state
        super()._reset()
        self.shorten()

    def _decrement(self, time: float) -> None:
        super()._decrement(time)
        if self._time <= 0:
            self._time = self._timeout

    def shorten(self) -> None:
        """Fire no later than the core's next deadline, and no sooner than SOONEST."""
        left = self.until()
        if left is not None and left < self._time:
            self._time = max(left, SOONEST)


def _own_timers(shared: dict[str, _TimerList], until: Callable[[], float | None]) -> dict[str, _TimerList]:
    """Per-instance copies of the class's timers (Scapy 2.8 shares them)."""
    own = {}
    for state, timers in shared.items():
        own[state] = _TimerList()
        for timer in timers:
            tick = _Tick(timer.get(), until)
            tick._func = timer._func
            own[state].add_timer(tick)
    return own


def _conditions(state: Any) -> list[Any]:
    """The receive condition, tick, and the command and link ioevents of one state."""

    def receive(self: FamaAutomaton, frame: Frame) -> None:
        self._handle(self._receive, frame)

    def tick(self: FamaAutomaton) -> None:
        self._handle(self._tick)

    def command(self: FamaAutomaton, fd: Any) -> None:
        self._handle(self._command, fd.recv())

    def link(self: FamaAutomaton, fd: Any) -> None:
        self._handle(self._link_event)

    for function in (receive, tick, command, link):
        function.__name__ = function.__qualname__ = f"{state.atmt_state.lower()}_{function.__name__}"
    return [
        ATMT.receive_condition(state)(receive),
        ATMT.timer(state, TICK)(tick),
        ATMT.ioevent(state, name="cmd")(command),
        ATMT.ioevent(state, name="link")(link),
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
    ROLE = "node"  # what its log calls it: "this DAR's"

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
        priority = None  # the port's priority socket: short BUs read first (ports.py), unless emulated
        if link is None:
            split = emulation is None
            to = self._destinations() if kernel is not None else ()  # the rest is the kernel's
            program = bpf.signalling(split, to) if kernel is not None else bpf.own_frames(split)
            port = IfacePort(iface or "", program, bpf.short_bus(to) if split else None)
            link, priority = port, port.priority
        self.access: AccessPort = link
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
        self.received: queue.Queue[Datagram] = queue.Queue(RECEIVED)  # Deliver effects, newest kept
        self.history: deque[tuple[float, str]] = deque(maxlen=HISTORY)  # (monotonic time, state entered)
        self.held: dict[int, Held] = {}
        self._held_queue: queue.Queue[Held] = queue.Queue()
        self._numbers = itertools.count(1)
        self._intercepts: frozenset[str] = frozenset()
        self._successors: frozenset[str] = frozenset()
        self._changed = threading.Condition()
        self._rx: tuple[bytes, WireInfo] | None = None  # the IPv6 packet being handled
        self._rx_group = False  # ... and whether it came as a link-layer multicast
        self.reassembly = Reassembly()  # fragments for this node (RFC 8200 §4.5)
        self.errors = IcmpErrors()  # the ICMPv6 errors it sends (RFC 4443 §2.4)
        self._carrier = False  # the access link as last seen (_watch_link)
        self._epoch: int | None = None  # its attachment epoch; None until the first look
        self._lost = 0  # socket errors while the link was down, for its link-up line
        self._overdue = SOONEST  # how soon to look at a deadline in the past again (_tick)
        self.timeout = _own_timers(type(self).timeout, self._until_deadline)
        self._link_events = LinkEvents() if iface is not None else None  # profile §2 step 1: RS at once
        fds = {} if self._link_events is None else {"link": self._link_events.sock}
        handoff = None if kernel is None else kernel.handoff
        node = NodeSocket(self.access, upstream, priority, handoff)
        self._intake = node.intake  # the tunnels' remote ends are its bound sources (_tunnel)
        super().__init__(sock=node, debug=debug, external_fd=fds)  # type: ignore[arg-type]
        if kernel is not None:
            kernel.start(lambda direction, what, **fields: self.log.write(name, direction, what, **fields), emulation)

    # ---------------------------------------------------------------- states

    @ATMT.state(stop=1, final=1)
    def STOPPED(self) -> None:
        """stop() was called: the thread ends and closes the sockets (and the kernel state)."""
        self._close_kernel()
        if self._link_events is not None:
            self._link_events.close()
        self._enter()

    @classmethod
    def graph(cls, **kwargs: Any) -> str | None:
        """The life cycle drawn by GraphViz (Scapy's ``graph``, also from an instance:
        ``target="mn.svg"`` writes a file); a missing program is one line (drawing.py)."""
        return draw(cls.__name__, cls.build_graph(), **kwargs)

    def _runs_once(self) -> None:
        """Refuse to start a stopped automaton (``start``, ``run``, ``runbg``): its thread's end
        closed the node's sockets, and Scapy started it again on them to die at once, silently."""
        if getattr(self.sock, "closed", False):
            raise ValueError(
                f"{self.name} was stopped: stop() closed its port, so it does not run again; "
                f"make a new {type(self).__name__} (its core may be reused, on a new port)"
            )

    def start(self, *args: Any, **kwargs: Any) -> None:
        self._runs_once()
        super().start(*args, **kwargs)

    def run(self, *args: Any, **kwargs: Any) -> Any:
        self._runs_once()
        return super().run(*args, **kwargs)

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
        for timer in self.timeout[self.state.state]:  # the event may have set an earlier deadline
            if isinstance(timer, _Tick):
                timer.shorten()
        self._settle()

    def _until_deadline(self) -> float | None:
        """Seconds until the core's next deadline (its timers: retransmissions, DAD, expiry);
        one in the past: the wait ``_tick`` chose for it (SOONEST unless on_timer is stuck). A
        deadline ahead ends a stuck episode, however it moved (a tick, or a message)."""
        deadline = self.core.next_deadline()
        if deadline is None:
            return None
        left = deadline - time.monotonic()
        if left > 0:
            self._overdue = SOONEST
            return left
        return self._overdue

    # ---------------------------------------------------------------- the three events

    def _receive(self, now: float, frame: Frame) -> None:
        if self._foreseen(now, frame):
            return
        data = frame.data
        if not (frame.upstream or data[:6] == self._mac or is_group(data)):
            return  # another node's unicast frame
        found = frame.parsed()  # read once, by the socket that queued it by cost
        if found is None:
            return  # not IPv6
        ip, info = found
        if not frame.upstream:
            if self._neighbor_discovery(data, ip, info, now) or self._spoofed(info) or not self._accepts(data[:6], info):
                return
        self._rx, self._rx_group = (ip, info), not frame.upstream and is_group(data)
        try:
            if info.fragment is not None and self._mine(info.dst):
                whole = self._reassemble(ip, info, now)
                if whole is None:
                    return
                ip, info = self._rx = whole
            if info.unknown_option is not None and self._mine(info.dst):
                self._unrecognised_option(now)  # the codec drops the packet (RFC 8200 §4.2)
            if self.kernel is not None and self._for_kernel(ip, info):
                return
            msg = decode_parsed(ip, info)
            if not isinstance(msg, Undecodable):  # garbage gets the core's drop line, not two
                self._log_in(msg, frame)
            self._apply(self._on_message(msg, now), now)
        finally:
            self._rx = None

    def _foreseen(self, now: float, frame: Frame) -> bool:
        """A role's shortcut for a frame it foresaw (the DAR's refreshes): True once handled.
        A hook, not an override of ``_receive`` calling ``super()``: Scapy 2.8's graph() follows
        the names a condition calls through the subclass's own methods without remembering
        where it has been, and ``_receive`` naming itself sends it round for ever."""
        return False

    def _log_in(self, msg: Message, frame: Frame) -> None:
        """The ``in`` record of ``msg``, with the kernel's receive time when the socket gave one."""
        if frame.stamp is None:
            self.log.message(self.name, "in", msg)
        else:
            self.log.message(self.name, "in", msg, rx=self.log.clock(frame.stamp))

    def _reassemble(self, ip: bytes, info: WireInfo, now: float) -> tuple[bytes, WireInfo] | None:
        """A fragment for this node (RFC 8200 §4.5): the whole packet, read, once it completes."""
        done = self.reassembly.add(ip, info, now)
        if isinstance(done, Refused):
            self.log.write(self.name, "drop", "fragment", src=info.src, dst=info.dst, why=f"fragment: {done.why}")
            if done.pointer is not None:
                self._send_error(self.errors.parameter_problem(
                    self._error_source(info), ip, info, PP_HEADER, done.pointer, now, link_multicast=self._rx_group), now)  # fmt: skip
            return None
        whole = None if done is None else parse(done)
        return None if done is None or whole is None else (done, whole)

    def _unrecognised_option(self, now: float) -> None:
        """Parameter Problem, code 2, at an option whose action bits ask for it (RFC 8200 §4.2:
        10 always, 11 unless the destination is multicast; IcmpErrors decides)."""
        assert self._rx is not None
        ip, info = self._rx
        assert info.unknown_option is not None
        otype, pointer = info.unknown_option
        if otype >> 6 in (ACTION_REPORT, ACTION_REPORT_UNICAST):
            self._send_error(self.errors.parameter_problem(
                self._error_source(info), ip, info, PP_OPTION, pointer, now,
                link_multicast=self._rx_group), now)  # fmt: skip

    def _time_exceeded(self, now: float) -> None:
        """Time Exceeded (code 0) for the packet being handled: out of hops in transit."""
        assert self._rx is not None
        ip, info = self._rx
        self._send_error(self.errors.time_exceeded(
            self._error_source(info), ip, info, TE_TRANSIT, now, link_multicast=self._rx_group), now)  # fmt: skip

    def _send_error(self, packet: bytes | None, now: float) -> None:
        """Send an ICMPv6 error that IcmpErrors allowed (None: it did not)."""
        if packet is None:
            return
        self.log.write(self.name, "out", "ICMPv6", src=addr(packet, 8), dst=addr(packet, 24),
                       type=packet[40], code=packet[41])  # fmt: skip
        self._route(packet, now)

    def _mine(self, dst: str) -> bool:
        """Whether a packet to ``dst`` is addressed to this node itself (not one it routes on)."""
        raise NotImplementedError

    def _error_source(self, offending: WireInfo) -> str | None:
        """This node's address to send an ICMPv6 error about ``offending`` from (None: none)."""
        raise NotImplementedError

    def _destinations(self) -> tuple[str, ...]:
        """Kernel mode: the destinations of the Mobility Headers this role takes from its access
        link, the others left in the kernel by the socket's filter (bpf.signalling); () for all."""
        return ()

    def _for_kernel(self, ip: bytes, info: WireInfo) -> bool:
        """Kernel mode: leave the kernel its own traffic and the data plane the tunnels' (True),
        or say ``ip`` is signalling for the core (False)."""
        return info.tunnelled or not signalling(ip, info)

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
        self._watch_link(now)
        deadline = self.core.next_deadline()
        if deadline is not None and now >= deadline:
            try:
                self._apply(self.core.on_timer(now), now)
            finally:
                self._after_timer(deadline)
        due = self.neighbors.due(now)
        for address in due.solicit:
            self._solicit(address)
        for address, mac in due.probe:  # RFC 4861 §7.3.3: is a neighbour in use still there?
            self._solicit(address, mac)
        for packet in due.lost:
            self._unresolved(packet, "no NA")
        for first in self.reassembly.expire(now):  # RFC 8200 §4.5: Time Exceeded, code 1
            info = parse(first)
            if info is not None:
                self._send_error(self.errors.time_exceeded(
                    self._error_source(info), first, info, TE_REASSEMBLY, now, link_multicast=False), now)  # fmt: skip

    def _after_timer(self, deadline: float) -> None:
        """A core whose on_timer left its due deadline where it was (it raised: the error is
        logged) would be ticked every SOONEST for ever: each look waits twice as long as the
        last, up to TICK, and the first says so once; a deadline that moves resets it."""
        after = self.core.next_deadline()
        if after is None or after > deadline:
            self._overdue = SOONEST
            return
        if self._overdue == SOONEST:
            self.log.write(self.name, "error", "timer-stuck",
                           why=f"on_timer left its deadline in the past: looking again within {TICK * 1000:g} ms")  # fmt: skip
        self._overdue = min(2 * self._overdue, TICK)

    def _watch_link(self, now: float) -> None:
        """Look at the access link: one log line each way when it goes down or comes back,
        whatever took it (admin down, no carrier, the interface deleted and created anew: then
        the port opens its socket again, maybe with another MAC); socket errors meanwhile are
        counted, not raised (issue 14 item 4). A new epoch with the carrier up is a new link
        (a memlink move)."""
        revived = self.access.revive()
        carrier, epoch = self.access.carrier, self.access.epoch
        errors, why = self.access.faults.take()
        if carrier and (not self._carrier or epoch != self._epoch or revived):
            lost, self._lost = self._lost + errors, 0
            self._carrier, self._epoch = True, epoch
            self.mac, self._mac = self.access.mac, mac_bytes(self.access.mac)
            self.neighbors.clear()
            self.log.write(self.name, "event", "link-up", epoch=epoch, errors=lost or None)
            self._link_changed(now)
        elif not carrier and self._carrier:
            self._carrier, self._lost = False, errors
            self.neighbors.clear()
            self.log.write(self.name, "event", "link-down", epoch=self._epoch, why=why)  # the link that went
            self._link_changed(now)
        elif not carrier:
            self._lost += errors
        elif errors:  # the link is up and a socket still failed (e.g. ENOBUFS): rate-limited
            self.log.write(self.name, "error", "link", why=why, errors=errors)

    def _link_changed(self, now: float) -> None:
        """The access link went down or came up (``self._carrier``): the MN tells its core."""

    def _link_event(self, now: float) -> None:
        """A link of the namespace changed (rtnetlink): look at the access link now, not at the
        next tick, so that the MN's RS leaves as the carrier comes up (profile §2 step 1)."""
        assert self._link_events is not None
        self._link_events.drain()
        self._watch_link(now)

    def _command(self, now: float, command: _Command) -> None:
        if not command.done.set_running_or_notify_cancel():
            return  # withdrawn: its caller stopped waiting (_call)
        try:
            result = command.call(now)
        except Exception as exc:  # noqa: BLE001 -- handed to the caller's thread
            command.done.set_exception(exc)
        else:
            command.done.set_result(result)

    def _call(self, call: Callable[[float], Any]) -> Any:
        """Run ``call(now)`` in the automaton's thread (the core is not thread-safe). A call the
        thread has not taken within COMMAND_TIMEOUT (it waits at a Scapy breakpoint, say) is
        withdrawn: it never runs later, behind its caller's back, and the error says why."""
        self._runs_once()  # stopped: no thread takes it
        done: Future[Any] = Future()
        self.io.cmd.send(_Command(call, done))
        try:
            return done.result(COMMAND_TIMEOUT)
        except TimeoutError:
            if not done.cancel():  # the thread took it meanwhile
                return done.result()
            paused = self.breakpointed
            why = f": it waits at its breakpoint on {paused} (runbg() resumes it)" if paused else ""
            raise TimeoutError(
                f"{self.name} did not take the call within {COMMAND_TIMEOUT:g} s{why}; "
                "it was withdrawn"
            ) from None

    def _core_call(self, call: Callable[[float], Effects]) -> None:
        self._call(lambda now: self._apply(call(now), now))

    # ---------------------------------------------------------------- effects

    def _apply(self, effects: Effects, now: float) -> None:
        for effect in effects:
            match effect:
                case Send(msg=msg):
                    if not (isinstance(msg, Tunnelled) and self._expired(msg.inner, now)):
                        self._emit(msg, self._encode(msg), "out", now)
                case Notify(event=event, data=data):
                    self.log.write(self.name, "event", event, **data)
                    self._notified(effect, now)
                case Forward(msg=msg):
                    if not self._expired(msg, now):
                        self._emit(msg, self._as_received(msg) or encode_bytes(msg), "fwd", now)
                case TunnelUp(local=local, remote=remote, hoa=hoa):
                    self._tunnel(hoa, effect)
                    self.log.write(self.name, "event", "tunnel-up", src=local, dst=remote, hoa=hoa)
                case TunnelDown(local=local, remote=remote, hoa=hoa):
                    self._tunnel(hoa, None)
                    self.log.write(self.name, "event", "tunnel-down", src=local, dst=remote, hoa=hoa)
                case Deliver(datagram=datagram):
                    self._deliver(datagram)
                case Drop(msg=msg, reason=reason):
                    self.log.message(self.name, "drop", msg, why=reason)
                    if effect.code == "hop-limit" and self._received_layer(msg, outer=True):
                        self._time_exceeded(now)

    def _tunnel(self, hoa: str, up: TunnelUp | None) -> None:
        """``hoa``'s tunnel is now ``up`` (None: gone); the socket's intake serves the short BUs
        of the tunnels' remote ends first (intake.py: a DAR's bound care-of addresses)."""
        old = self.tunnels.pop(hoa, None)
        if old is not None:
            self._intake.unbind(old.remote)
        if up is not None:
            self.tunnels[hoa] = up
            self._intake.bind(up.remote)

    def _deliver(self, datagram: Datagram) -> None:
        """Keep a datagram for this node's applications (``received``): the newest RECEIVED."""
        self.log.write(self.name, "event", "delivered", src=datagram.src, dst=datagram.dst,
                       bytes=len(datagram.payload))  # fmt: skip
        while True:
            try:
                self.received.put_nowait(datagram)
                return
            except queue.Full:  # nobody reads them: the oldest goes
                with contextlib.suppress(queue.Empty):
                    self.received.get_nowait()

    def _notified(self, notify: Notify, now: float) -> None:
        """A core event the driver acts on (the MN probes a tentative address)."""

    def _encode(self, msg: Message) -> bytes:
        if isinstance(msg, Tunnelled):  # RFC 2473: the inner packet as it came, when it came
            inner = self._as_received(msg.inner) or encode_bytes(msg.inner)
            return ipv6(msg.src, msg.dst, IPV6_IN_IPV6, inner, msg.hlim)
        return encode_bytes(msg, lladdr=self._mac)  # an RA carries it (RFC 4861 §4.2)

    def _received_layer(self, msg: Message, *, outer: bool = False) -> bytes | None:
        """The received packet (or, unless ``outer``, its tunnelled inner one) that ``msg``
        stands for, as it came."""
        if self._rx is None:
            return None
        ip, info = self._rx
        layers = [ip[: info.end]]
        if not outer and info.tunnelled and info.upper is not None and info.end - info.upper >= 40:
            layers.append(ip[info.upper : info.end])
        return next((layer for layer in layers if (addr(layer, 8), addr(layer, 24)) == (msg.src, msg.dst)), None)

    def _as_received(self, msg: Message) -> bytes | None:
        """The received packet (or its tunnelled inner one) that ``msg`` stands for, one hop on."""
        layer = self._received_layer(msg)
        if layer is None:
            return None
        new = getattr(msg, "hlim", layer[7] - 1)
        return layer[:7] + bytes((new,)) + layer[8:]

    def _expired(self, msg: Message, now: float) -> bool:
        """RFC 8200 §3: ``msg``, routed on as it came (the core counts the hops of data and
        tunnels itself), came with hop limit 1 or 0. It is dropped, with a Time Exceeded to its
        source when it is the packet itself, not one inside a tunnel."""
        layer = None if hasattr(msg, "hlim") else self._received_layer(msg)
        if layer is None or layer[7] > 1:
            return False
        self.log.message(self.name, "drop", msg, why="hop-limit: exceeded in transit")
        if self._received_layer(msg, outer=True):
            self._time_exceeded(now)
        return True

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
        if packet[24] == 0xFF:  # a multicast destination (RFC 4291 §2.7: ff00::/8)
            self._frame(packet, nd.group_mac(addr(packet, 24)))
            return
        hop = self._next_hop(packet[24:40])
        if hop is None:
            try:
                self.send(Frame(packet, upstream=True))
            except OSError as exc:  # e.g. no route in the kernel
                self.log.write(self.name, "drop", "upstream", src=addr(packet, 8), dst=addr(packet, 24), why=str(exc))
            return
        mac = self.neighbors.lookup(hop, now)
        if mac is not None:
            self._frame(packet, mac)
            return
        queued = self.neighbors.wait(hop, packet, now)
        if queued:
            self._solicit(hop)
        elif queued is None:
            self._unresolved(packet, "neighbour cache at its bound")

    def _unresolved(self, packet: bytes, why: str) -> None:
        self.log.write(self.name, "drop", "unresolved", src=addr(packet, 8), dst=addr(packet, 24), why=why)

    def _next_hop(self, dst: bytes) -> str | None:
        """The on-link address to resolve for ``dst`` (16 bytes, unicast); None: hand it upstream."""
        raise NotImplementedError

    def _frame(self, packet: bytes, mac: str) -> None:
        self.send(Frame(ether(mac_bytes(mac), self._mac, packet)))

    def send(self, pkt: Any, **kwargs: Any) -> None:
        """Scapy's ``Automaton.send`` when someone can see its work (an interception point on this
        state, debug level 3, stored packets); else straight to the socket: Scapy formats a
        summary of every frame for its debug line even when nobody asked for it."""
        if self.debug_level >= 3 or self.store_packets or self.state.state in self.interception_points:
            super().send(pkt, **kwargs)
        else:
            self.my_send(pkt, **kwargs)

    # ---------------------------------------------------------------- neighbour discovery

    def _solicit(self, target: str, mac: str | None = None) -> None:
        """A multicast NS for ``target``, or a unicast probe to its ``mac``."""
        source = self._nd_source()
        dst = solicited_node(target) if mac is None else target
        self.log.write(self.name, "out", "NS", src=source, dst=dst, target=target)
        sllao = not self._optimistic(source)  # RFC 4429 §3.3
        self.send(Frame(nd.solicitation(source, target, self.mac, sllao=sllao, dst_mac=mac)))

    def _send_waiting(self, waiting: list[bytes], mac: str) -> None:
        for packet in waiting:
            self._frame(packet, mac)

    def _neighbor_discovery(self, frame: bytes, ip: bytes, info: WireInfo, now: float) -> bool:
        """Handle an NS or NA (True), or say it is neither (False); an RS (at a router) or an
        RA (at a host) teaches the neighbour cache its sender's SLLA and goes on to the core.

        The cache learns only what RFC 4861 §7.2 allows (see nd.py). Only ND that concerns
        this node is logged (an NS it answers, an NA it waited for): the kernels on the link
        have ND traffic of their own.
        """
        kinds = (NS, NA, RS) if self.ROUTER else (NS, NA, RA)
        if info.proto != ICMPV6 or info.upper is None or info.upper >= len(ip) or ip[info.upper] not in kinds:
            return False
        msg = icmpv6.read(ip, info)
        if msg is None or msg.invalid:
            return True  # RFC 4861 §6.1, §7.1: an invalid ND message is silently discarded
        if msg.type not in (NS, NA):  # §6.2.6 (an RS at a router), §6.3.4 (an RA at a host)
            if msg.lladdr is not None and info.src != "::":
                self._send_waiting(self.neighbors.heard(info.src, mac_text(msg.lladdr), now), mac_text(msg.lladdr))
            return False
        assert msg.target is not None
        if msg.type == NS:
            self._on_solicitation(frame, info, msg, now)
            return True
        self._in_use(msg.target, now)
        mac = mac_text(msg.lladdr) if msg.lladdr else None
        flags = {"solicited": bool(msg.flags & NA_S), "override": bool(msg.flags & NA_O)}
        waiting = self.neighbors.advertised(msg.target, mac, now=now, untracked=self._untracked(msg.target), **flags)
        if waiting and mac is not None:
            self.log.write(self.name, "in", "NA", src=info.src, dst=info.dst, target=msg.target)
            self._send_waiting(waiting, mac)
        return True

    def _on_solicitation(self, frame: bytes, info: WireInfo, msg: icmpv6.Icmpv6, now: float) -> None:
        """RFC 4861 §7.2.3: an NS for an address of ours is answered, and its SLLA noted; one for
        another node's address teaches nothing. A DAD probe (from ::, RFC 4862 §5.4.3) may be a
        collision with a tentative address of ours, whoever it is for. In kernel mode the kernel
        answers for the addresses it holds on the link, and the role only for the others (a
        DAR's bound HoAs): one NA per NS (§7.2.4). With both, a unicast NS got two that
        disagreed: Linux's, O=0 without a TLLA (§7.2.4's MAY), and the role's, O=1 with one."""
        target = str(msg.target)
        if info.src == "::":
            self._in_use(target, now)
        if not self._answers(target):
            return
        if info.src == "::":
            dst, mac = nd.ALL_NODES, nd.group_mac(nd.ALL_NODES)
        else:
            dst = info.src
            mac = mac_text(msg.lladdr if msg.lladdr else frame[6:12])  # the answer's only: §7.2.4
            if msg.lladdr:
                self._send_waiting(self.neighbors.heard(dst, mac, now), mac)
        if self.kernel is not None and self.kernel.answers(target):
            return  # RFC 4861 §7.2.4: one NA per NS, the kernel's (its SLLA noted above, §7.2.3)
        self.log.write(self.name, "in", "NS", src=info.src, dst=info.dst, target=target)
        self.log.write(self.name, "out", "NA", src=target, dst=dst, target=target)
        override = not self._optimistic(target)  # RFC 4429 §3.3
        self.send(Frame(nd.advertisement(target, dst, mac, self.mac, self._router_flag(target), override=override)))

    def _router_flag(self, target: str) -> bool:
        """The R flag of an NA for ``target`` (RFC 4861 §4.4): whether this node routes."""
        return self.ROUTER

    def _optimistic(self, address: str) -> bool:
        """Whether ``address`` is an optimistic address of this node (RFC 4429 §3.3 applies)."""
        return False

    def _untracked(self, target: str) -> bool:
        """Whether an unsolicited NA for ``target`` may create its neighbour entry: at a router,
        for another node's address of its link (RFC 9131 §4.2)."""
        return False

    def _in_use(self, address: str, now: float) -> None:
        """Another node uses or probes ``address`` (a DAD collision if it is tentative here)."""

    def _spoofed(self, info: WireInfo) -> bool:
        """Ingress filtering (RFC 3704 §2, profile §6 strictness): this node's own addresses are
        never a valid source on its access link. Answered, such a packet made a node send its
        answer (a BA, an echo) or forward the packet to itself, and solicit its own address.
        ND has been read before (a DAD defence comes from the address it defends): True when
        the packet is dropped, with its log line."""
        if info.src not in self._own_addresses():
            return False
        self.log.write(self.name, "drop", "spoofed-source", src=info.src, dst=info.dst,
                       why=f"own-address: {info.src} is this {self.ROLE}'s")  # fmt: skip
        return True

    def _own_addresses(self) -> Collection[str]:
        """The addresses of this node that no other node may send from."""
        raise NotImplementedError

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
        if self.held.get(held.number) is not held:  # numbers are per automaton: #1 of another
            raise ValueError(
                f"message {held.number} is not held by {self.name} "
                "(released or dropped already, or another node's)"
            )
        del self.held[held.number]
        self.log.message(self.name, direction, msg, number=held.number)

    def _release(self, held: Held, packet: Packet, now: float) -> None:
        self._take(held, "released", decode(packet))
        self._route(bytes(packet), now)

    # ---------------------------------------------------------------- running as a daemon

    def status(self) -> dict[str, int]:
        """The size of every table this node keeps, each bounded (README "Bounded state")."""
        node = self.listen_sock
        return {
            "neighbours": len(self.neighbors),
            "fragments": len(self.reassembly),
            "fragment_bytes": self.reassembly.held,
            "backlog": node.backlog if isinstance(node, NodeSocket) else 0,
            "shed": node.shed if isinstance(node, NodeSocket) else 0,
            "intake": len(node.intake) if isinstance(node, NodeSocket) else 0,
            "intake_shed": node.intake.shed if isinstance(node, NodeSocket) else 0,
            "received": self.received.qsize(),
            "held": len(self.held),
            "tunnels": len(self.tunnels),
            "icmp_errors": self.errors.sent,
            "icmp_limited": self.errors.limited,
            "history": len(self.history),
            "log_queued": self.log.queued,
            "log_keys": self.log.keys,
            "log_suppressed": self.log.suppressed,
            "log_lost": self.log.lost,
        } | self._core_status()

    def _core_status(self) -> dict[str, int]:
        """The sizes of the core's tables."""
        raise NotImplementedError

    def schedule_fifo(self, priority: int) -> None:
        """Put the running automaton's thread, and no other, under SCHED_FIFO at ``priority``
        (1 to 99; Linux applies a policy per thread), and log it as a ``scheduling`` record."""
        thread = next((t for t in threading.enumerate() if t.ident == self.threadid), None)
        if thread is None or thread.native_id is None:
            raise RuntimeError(f"{self.name} is not running: no thread to schedule")
        try:
            os.sched_setscheduler(thread.native_id, os.SCHED_FIFO, os.sched_param(priority))
        except PermissionError:
            raise PermissionError(f"real-time scheduling (SCHED_FIFO {priority}) refused: it needs root or "
                                  "CAP_SYS_NICE, and a container may forbid it") from None  # fmt: skip
        self.log.write(self.name, "event", "scheduling", policy="fifo", priority=priority, thread=thread.native_id)

    def _leave(self, hurry: Latch) -> None:
        """What the node does after the signal to stop and before it stops (the MN de-registers
        its bindings); return at once when ``hurry`` is set (a second signal)."""

    def serve(self, realtime: int | None = None) -> None:
        """Run until SIGINT or SIGTERM, then stop cleanly (call from the main thread), after what
        the node does on its way out (:meth:`_leave`), which a second SIGINT or SIGTERM cuts
        short; SIGUSR1 logs one ``status`` record with the size of every table. ``realtime``:
        the automaton's thread under SCHED_FIFO at that priority (see the module's docstring);
        refused (no CAP_SYS_NICE, a container's limit), a PermissionError, the node stopped."""
        stop, hurry, asked = Latch(), Latch(), Latch()  # set by the handlers: no Event (see interrupt.Latch)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: (hurry if stop.is_set() else stop).set())
        signal.signal(signal.SIGUSR1, lambda *_: asked.set())
        self.runbg()
        try:
            if realtime is not None:
                try:
                    self.schedule_fifo(realtime)
                except BaseException:
                    self.stop()
                    raise
            while not stop.wait(4 * TICK) and self.isrunning():
                if asked.is_set():
                    asked.clear()
                    self._call(lambda now: self.log.write(self.name, "event", "status", **self.status()))
            if not self.isrunning():  # the thread ended by itself: the sockets failed
                failure = None if self.cmdout.empty() else self.cmdout.recv()
                raise OSError(f"{self.name} stopped: {getattr(failure, 'exception', 'unknown reason')}")
            try:
                self._leave(hurry)
            finally:
                self.stop()
        finally:
            self._close_kernel()
