"""Executors: the link to the implementation under test (IUT) and the clock of a case.

Theory of operation
-------------------
Cases speak IPv6 packets (bytes) and seconds; an executor carries them to an IUT
and keeps every packet of the case, both ways, with its time::

    case --send(raw)--> executor --> IUT            in-process: DarCore / MnCore via the codec,
    case <--wait(s, until)-- frames <-- IUT                     virtual time, a fresh core per case
                                                    iface:      a real interface, wall-clock time
                                                                (:mod:`scapy_fama.conformance.iface`)

``wait(seconds, until)`` returns the IUT's packets that arrive within
``seconds``, stopping early at the first one ``until`` accepts. In-process,
the core answers at once and its timers run in virtual time, so a 30-second
retransmission back-off costs nothing; on an interface the same case waits
for real. An MN executor also moves the MN's link (``link_down``/``link_up``),
which in-process is the core's link event and on an interface the carrier.

A case's frames are its own: a frame that reached the tester before the case
began (an earlier case's late answer, a kernel's retried Neighbour
Solicitation) is dropped, never given a negative time. ``epoch`` is the Unix
time of the case's second 0, so that its frames can be written with real
timestamps: on an interface the wall clock; in-process the run's virtual
timeline, which starts when the executor is made and runs on through the
cases. In-process, fragments are put together before the core reads them, as
the drivers do (:mod:`scapy_fama.automata.reassembly`, RFC 8200 §4.5): a core
is the IUT's protocol, its IP layer the driver's. An in-process core that
raises has crashed, as its process would, and so has one whose timer fires
without end at one instant (its process would spin, answering nothing):
``crashed`` says how, and it answers nothing for the rest of the run (the
runner then finds it silent, see :mod:`scapy_fama.conformance.runner`).
"""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from scapy_fama.automata.reassembly import Reassembly
from scapy_fama.codec import decode, encode_bytes
from scapy_fama.crypto import KeyPair
from scapy_fama.proto import DarConfig, DarCore, MnConfig, MnCore
from scapy_fama.proto.effects import Effects, Forward, Send
from scapy_fama.wire import parse

TESTER, IUT = "tester", "iut"  # the directions of a frame
SPINS = 10_000  # an in-process core's timer firing this often at one instant has hung


@dataclass(frozen=True)
class Frame:
    time: float  # seconds since the case began
    direction: str  # TESTER (to the IUT) or IUT (from it)
    raw: bytes  # the IPv6 packet
    mac: str = ""  # the Ethernet destination of a frame from the IUT ("" where there is no link)


@dataclass(frozen=True)
class Setup:
    """What a case asks of the IUT before it starts (in-process: how the core is built)."""

    secure: bool = False  # the DAR requires the care-of test (profile §5)
    dar: DarConfig = field(default_factory=DarConfig)
    mn: MnConfig = field(default_factory=MnConfig)
    link: bool = False  # the case reads the IUT's link layer (its neighbour cache): an interface's


class Executor(ABC):
    """One IUT behind a link, the clock, and the frames of the current case."""

    kind: str  # "inproc" or "iface"
    role: str  # "dar" or "mn"
    lossless = False  # the link loses nothing (in-process: the codec), so the tester need not probe it
    link_local = "fe80::7e57"  # the tester's own address on the IUT's link

    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self._unread: list[Frame] = []
        self._start = 0.0
        self.epoch = time.time()  # the Unix time of the case's second 0
        self.crashed: str | None = None  # how the IUT crashed, where the executor can tell

    def begin(self, setup: Setup) -> None:
        """A new case: a fresh frame log (and, where the executor can, a fresh IUT)."""
        self.frames, self._unread = [], []
        self._start = self.clock()
        self.epoch = self.case_epoch()

    def case_epoch(self) -> float:
        """The Unix time of the case beginning now (the wall clock, unless the clock is virtual)."""
        return time.time()

    def bed_problem(self) -> str | None:
        """What is wrong with the test bed rather than with the IUT, seen during the case
        (an interface executor's business; None: nothing)."""
        return None

    def end(self) -> None:
        """The case is over (an executor with threads or timers tidies up here)."""

    def now(self) -> float:
        """Seconds since the case began."""
        return self.clock() - self._start

    def send(self, raw: bytes) -> None:
        self.frames.append(Frame(self.now(), TESTER, raw))
        self._deliver(raw)

    def _received(self, raw: bytes, at: float | None = None, mac: str = "") -> bool:
        """Log a frame from the IUT that arrived ``at`` (case time; now if None), unless it
        arrived before the case began: that one belongs to an earlier case (False)."""
        frame = Frame(self.now() if at is None else at, IUT, raw, mac)
        if frame.time < 0:
            return False
        self.frames.append(frame)
        self._unread.append(frame)
        return True

    def wait(self, seconds: float, until: Callable[[Frame], bool] | None = None) -> list[Frame]:
        """The IUT's packets within ``seconds``, up to the first that ``until`` accepts."""
        got: list[Frame] = []
        deadline = self.now() + seconds
        while True:
            while self._unread:
                frame = self._unread.pop(0)
                got.append(frame)
                if until is not None and until(frame):
                    return got
            if self.now() >= deadline or not self._advance(deadline):
                return got

    def hold(self, address: str) -> None:
        """The tester plays ``address`` on the IUT's link (an iface executor answers its NS)."""

    def claim(self, address: str) -> None:
        """Another node on the IUT's link answers for ``address`` (a DAD collision if the IUT is
        probing for it; in-process the core hears of it as from its driver)."""
        raise NotImplementedError(f"{self.kind} {self.role} executor has no link to claim on")

    def link_down(self) -> None:
        raise NotImplementedError(f"{self.kind} {self.role} executor has no link to move")

    def link_up(self) -> None:
        raise NotImplementedError(f"{self.kind} {self.role} executor has no link to move")

    @abstractmethod
    def clock(self) -> float: ...

    @abstractmethod
    def _deliver(self, raw: bytes) -> None:
        """Hand one packet to the IUT (its answers land in ``_received``)."""

    @abstractmethod
    def _advance(self, deadline: float) -> bool:
        """Let time pass towards ``deadline`` (case time) until a frame arrives or it is reached;
        False when nothing can happen any more before it (the wait may end)."""


class InprocExecutor(Executor):
    """A sans-I/O core behind the codec, in virtual time; a fresh core for every case, until
    one crashes (see the module doc)."""

    kind = "inproc"
    lossless = True

    def __init__(self) -> None:
        super().__init__()
        self.virtual = 0.0
        self.core: DarCore | MnCore | None = None
        self._origin = time.time()  # the run's virtual timeline starts here ...
        self._elapsed = 0.0  # ... and has run this long in the cases before this one
        self.reassembly = Reassembly()  # the fragments of the case's packets (module doc)
        self._spins = 0  # the core's timer fired this many times without the clock moving on

    def clock(self) -> float:
        return self.virtual

    def case_epoch(self) -> float:
        return self._origin + self._elapsed

    def begin(self, setup: Setup) -> None:
        self._elapsed += self.virtual
        self.virtual = 0.0
        self.reassembly.clear()
        super().begin(setup)
        if self.crashed is None:
            self._run("starting", lambda: self._started(setup))

    def _started(self, setup: Setup) -> Effects:
        self.core = self.build(setup)
        return self.start()

    def _run(self, what: str, step: Callable[[], Effects]) -> None:
        """Apply what the core does in ``step``; an exception is the IUT's crash."""
        if self.crashed is not None:
            return
        try:
            self._apply(step())
        except Exception as exc:  # noqa: BLE001 - the IUT's fault: the runner judges a silent IUT
            self.crashed = f"{type(exc).__name__}: {exc} ({what})"

    @abstractmethod
    def build(self, setup: Setup) -> DarCore | MnCore: ...

    def start(self) -> Effects:
        """What the fresh core does first (an MN comes up on its link)."""
        return []

    def _apply(self, effects: Effects) -> None:
        for e in effects:  # Send: onto the link; Forward: routed on by the IUT, also seen here
            if isinstance(e, (Send, Forward)):
                self._received(encode_bytes(e.msg))

    def _deliver(self, raw: bytes) -> None:
        core = self.core
        info = parse(raw)
        if info is not None and info.fragment is not None:
            whole = self.reassembly.add(raw, info, self.virtual)
            if not isinstance(whole, bytes):  # awaiting the rest, or refused: nothing for the core
                return
            raw = whole
        if core is not None:
            what = f"handling the tester's packet at {self.now():.3f} s"
            self._run(what, lambda: core.on_message(decode(raw), self.virtual))

    def _advance(self, deadline: float) -> bool:
        core = self.core
        due = None if core is None or self.crashed else core.next_deadline()
        if core is None or due is None or due > deadline:
            self.virtual = max(self.virtual, deadline)
            return False
        self._spins = self._spins + 1 if due <= self.virtual else 0
        if self._spins > SPINS:  # a timer that fires but never moves on: a process that spins
            self.crashed = f"its timer fires again and again at {self.virtual:.3f} s, never later"
            return False
        self.virtual = max(self.virtual, due)
        self._run(f"on its timer at {self.virtual:.3f} s", lambda: core.on_timer(self.virtual))
        return True


class InprocDar(InprocExecutor):
    """Our DarCore as the IUT; ``factory`` builds another (a deliberately broken one, in tests)."""

    role = "dar"

    def __init__(
        self,
        address: str = "2001:db8:1::1",
        prefix: str = "2001:db8:1::/64",
        factory: Callable[..., DarCore] = DarCore,
    ) -> None:
        super().__init__()
        self.address, self.prefix, self.factory = address, prefix, factory

    def build(self, setup: Setup) -> DarCore:
        config = replace(setup.dar, require_coa_test=setup.secure)
        return self.factory(self.address, self.prefix, config=config, rand=os.urandom)


class InprocMn(InprocExecutor):
    """Our MnCore as the IUT, with a key made once per run; ``factory`` as for InprocDar."""

    role = "mn"

    def __init__(self, keypair: KeyPair, factory: Callable[..., MnCore] = MnCore) -> None:
        super().__init__()
        self.keypair, self.factory = keypair, factory

    @property
    def mn(self) -> MnCore:
        assert isinstance(self.core, MnCore)
        return self.core

    def build(self, setup: Setup) -> MnCore:
        return self.factory(self.keypair, config=setup.mn, rand=os.urandom)

    def start(self) -> Effects:
        return self.mn.on_link_up(self.virtual)

    def claim(self, address: str) -> None:
        self._run("on a DAD collision", lambda: self.mn.on_dad_collision(address, self.virtual))

    def link_down(self) -> None:
        self._run("on link-down", lambda: self.mn.on_link_down(self.virtual))

    def link_up(self) -> None:
        self._run("on link-up", lambda: self.mn.on_link_up(self.virtual))
