"""The tester's side of an MN case: the DARs it plays, the moves it makes, what it expects.

Theory of operation
-------------------
The tester plays every DAR the mobile node under test meets. DAR ``i`` of a
case has a fresh /64 (a run-wide counter, so that a long-running MN on an
interface never meets a prefix of an earlier case), a global address ``::1``
in it and a link-local address; it advertises the prefix with L=1 A=1 R=1
(profile §1, §2). The MN moves when its link goes down and up and the new
DAR's RA follows::

    tester (DAR 1, DAR 2, ...)                        MN under test
      <-- RS ---------------------------------------- link up (begin, move)
      --- RA(prefix 1, R: 2001:db8:n::1) ----------->  HoA_1 = CGA(prefix 1), DAD
      ~~ link down / up ~~ <-- RS ---------------------
      --- RA(prefix 2) ----------------------------->  CoA = CGA(prefix 2), DAD
      <-- BU(CoA -> DAR 1, HAO HoA_1, CGA, Sig) ------   expect_bu(dar 1)
      --- BA(status, PHKT to the BU's key, BAD) ---->   answer(bu, status)   (or withhold it)

Every frame from the MN goes through one stream: what a case does not ask for
yet stays in a backlog for its next expectation, and a link change clears the
backlog (what came before it belongs to the old link). The tester learns the
MN's addresses from its BUs, the MN's public key from the CGA Parameters of
its first BU, and keeps the PHKT each DAR issued and the care-of token each
CoT carried (secure mode, ``answer_coti``), so that its BAs carry a BAD the MN
can check and the MN's later BUs can be checked (profile §4, §5).

After each case the runner asks :meth:`MnTester.alive` whether the MN still
answers: its link goes down and up, and an RS must follow (profile §2 step 1;
on a link that may lose them, a second link-up gets its chance too). Before the
first case (a real MN, ``ready``) the IUT must also not be a router: one that
answers the tester's RS with an RA (RFC 4861 §6.2.6; a host never sends one)
is a DAR pointed at by mistake, and no case runs. The check also runs when a
first link probe goes unanswered (patience.py): a dead MN is probed once, and
a live one, moved by the check, gets the RA of the DAR it was on at once, so
that the probes go on (what it sends after that move is not held against a
silence, ``moved_at``; if it answers no probe after the move, that RA may be
lost, and the probes showed nothing). Set-up
steps that the MN does not complete (no RS, no BU to register with) make a
case inconclusive; an expectation that is not met fails it, naming what
arrived instead. Neither a slow MN nor a lossy link decides a case, as for a
DAR (:mod:`scapy_fama.conformance.patience`): what the MN sends at no time a
rule sets (a BU after a move, the answer to a BA or a CoT) is awaited the grace
(LATE seconds, or --grace) past the wait, and if it comes then the case is inconclusive; before
a missing message fails a case or a silence passes one, Neighbour Solicitations
for the MN's current address (the newest it used from the prefix last
advertised) probe the link, each answered by an NA (RFC 4861 §7.2.4)::

    tester (fe80::..)  -- NS(target CoA, to the CoA) -->  MN     answered and unanswered
                       <-- NA(target CoA) --------------         probes: the link loses packets

A message that a rule times (a retransmission, a refresh) gets no such grace.
An MN acts on what the tester sent, so on such a link any FAIL stands only where
the probes show the link losing nothing (``doubt``: a BA lost makes the MN
retransmit where the case expects silence or a refresh), and an MN never seen
to use an address of the prefix last advertised cannot be probed: its RA may
be lost (``link_loss``).
``applicable`` says beforehand why a case cannot run against
this executor: an MN on an interface runs with the configuration it was
started with (only its keep policy and whether it uses optimistic addresses are
known, ``RunConfig.mn_keep`` and ``RunConfig.mn_optimistic``). A case that
needs more of the executor's time than the run's ``patience`` (real seconds on
an interface) says so with ``needs`` and is inconclusive.

Data cases need the MN to send from a given address (:meth:`MnTester.data_from`).
In-process the executor is the MN's host and its application sends
(``app_send``); an MN on an interface answers UDP Echo (RFC 862) on the port
the run names (``RunConfig.mn_echo_port``, ``fama-mn --udp-echo``), so the
tester sends it a request from the correspondent CN to that address, as the
network would bring it::

    tester                                                       MN under test
    kept HoA: DAR i == TUN(DAR i -> CoA)[CN -> HoA, to the port] ==> answers from HoA:
              <======= TUN(CoA -> DAR i)[HoA -> CN] =============== reverse tunnel (§8)
    the CoA:  DAR j -- CN -> CoA, to the port ---------------------> answers from the CoA:
              <------- CoA -> CN ---------------------------------- natively (§8)

The answer (or the application's datagram) carries a payload new to the case,
so that nothing else the MN sends is taken for it. Without either, data cases
are inconclusive.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from ipaddress import IPv6Address, IPv6Network

from scapy_fama.codec import decode, encode_bytes
from scapy_fama.conformance.case import Case, Fail, Inconclusive
from scapy_fama.conformance.config import RunConfig
from scapy_fama.conformance.executor import (
    IUT,
    TESTER,
    Executor,
    Frame,
    InprocExecutor,
    Setup,
)
from scapy_fama.conformance.patience import LATE, Patience, Until
from scapy_fama.crypto import (
    CgaParams,
    cga_check,
    check_authenticator,
    encrypt_phkt,
    kbm,
    new_phkt,
    verify_mh_signature,
)
from scapy_fama.proto import KeepPolicy, MnConfig
from scapy_fama.proto.messages import (
    BindingAck,
    BindingUpdate,
    CareOfTest,
    CareOfTestInit,
    Datagram,
    Message,
    RouterAdvertisement,
    RouterSolicitation,
    Tunnelled,
    kind,
)
from scapy_fama.proto.messages import describe as label_of
from scapy_fama.proto.seqno import SEQ_MOD
from scapy_fama.wire import icmpv6, parse
from scapy_fama.wire.numbers import NA, NS

RS_WAIT = 10.0  # seconds for the MN's RS after a (re)start or link-up (a real MN must start first)
DAD_TIME = 1.0  # RFC 4862 §5.1: RetransTimer x DupAddrDetectTransmits, before the CoA is usable
VALID, PREFERRED = 2_592_000, 604_800  # RFC 4861 §6.2.1 defaults of the PIO lifetimes
LIFETIME = 600  # seconds a BA grants unless the case says
SLACK = 0.3  # seconds of timing tolerance: an MN on an interface ticks, the reader thread queues
CN = "2001:db8:cc::1"  # the correspondent a data case talks to
CN_PORT = 50_862  # the CN's UDP port for echo requests: a dynamic one (RFC 6335 §6)
# Link-ups before an MN is taken for dead: each brings up to MAX_RTR_SOLICITATIONS (3) RSs
# (RFC 4861 §6.3.7), and a link that loses packets may lose them all.
ALIVE_LINK_UPS = 2


def describe(msg: Message, at: float | None = None) -> str:
    """A message for a verdict: its label and route, and when it came (case time)."""
    when = "" if at is None else f" at {at:.2f} s"
    return f"{label_of(msg, route=True)}{when}"


def _noise(msg: Message) -> bool:
    """What a host sends unasked (MLD, other ICMPv6, its own RSs): never an answer."""
    return kind(msg) in ("RS", "??")


@dataclass
class PlayedDar:
    """A DAR the tester plays: its prefix, addresses, the PHKT it issued per HoA and the
    care-of token it sent per CoA (secure mode, profile §5)."""

    prefix: str
    address: str
    link_local: str
    phkt: dict[str, bytes] = field(default_factory=dict)
    care_of: dict[str, bytes] = field(default_factory=dict)  # CoA -> the care-of token sent

    def owns(self, address: str | None) -> bool:
        return address is not None and IPv6Address(address) in IPv6Network(self.prefix)


@dataclass(frozen=True)
class Sighting:
    """A BU from the MN and when it arrived (seconds since the case began)."""

    at: float
    bu: BindingUpdate


class MnTester(Patience):
    """Plays the DARs towards a mobile node under test (see the module doc)."""

    PROBE = "Neighbour Solicitations for the MN's address"

    def __init__(
        self,
        executor: Executor,
        *,
        wait: float = 1.0,
        keep: str = KeepPolicy.FLOWS.value,
        patience: float | None = None,
        echo: int | None = None,
        optimistic: bool = True,
        grace: float = LATE,
    ) -> None:
        self.x, self.wait, self.keep, self.patience = executor, wait, KeepPolicy(keep), patience
        self.grace = grace
        self.optimistic = optimistic  # a real MN's address policy (profile §2 step 3)
        self.echo = echo  # the UDP port the MN answers echo requests on (RFC 862), if it does
        self.dars: dict[int, PlayedDar] = {}
        self.backlog: list[tuple[Frame, Message]] = []
        self.public_key: bytes | None = None
        self.ra_at = 0.0  # when the last RA went out (case time)
        self.advertised: PlayedDar | None = None  # the DAR of the last RA
        self.moved_at: float | None = None  # when a liveness check in the case moved the MN
        self._prefixes = 0x100  # run-wide: every played DAR gets a prefix of its own

    # ---------------------------------------------------------------- what can run here

    def applicable(self, case: Case) -> str | None:
        """None if ``case`` can run against this executor, else why it is inconclusive."""
        if case.role != "mn":
            return f"{case.id} is a {case.role.upper()} case; this tester plays DARs to an MN"
        if case.group == "data" and not hasattr(self.x, "app_send") and self.echo is None:
            return (
                f"the {self.x.kind} executor cannot make the MN send data, so its data plane is "
                "not observable: give the MN a UDP Echo service (RFC 862; fama-mn --udp-echo) "
                "and run with --mn-echo PORT"
            )
        if isinstance(self.x, InprocExecutor):
            return None  # the executor builds the MN the case asks for
        running = MnConfig(keep=self.keep, optimistic=self.optimistic)
        differs = [
            f"{f.name}={getattr(case.setup.mn, f.name)}"
            for f in fields(MnConfig)
            if f.name != "sec" and getattr(case.setup.mn, f.name) != getattr(running, f.name)
        ]
        if differs:
            return (
                f"needs an MN with {', '.join(differs)}; the MN on the interface runs with "
                f"keep={self.keep}, optimistic={self.optimistic} and otherwise the defaults (start it with "
                "--keep and --no-optimistic, and run with --mn-keep and --mn-no-optimistic to match)"
            )
        return None

    def needs(self, seconds: float) -> None:
        """The case takes ``seconds`` of the executor's time: inconclusive beyond the patience."""
        if self.patience is not None and seconds > self.patience:
            raise Inconclusive(
                f"the case needs {seconds:g} s of real time; this run allows {self.patience:g} s"
            )

    # ---------------------------------------------------------------- set-up

    def begin(self, setup: Setup) -> None:
        self.x.begin(setup)
        self.dars, self.backlog, self.public_key, self.advertised = {}, [], None, None
        self.moved_at = None
        self._forget()

    def _check_alive(self) -> str | None:
        """None while the MN solicits a router when its link comes up (twice, on a link that
        may lose packets: ALIVE_LINK_UPS); otherwise what went unanswered."""
        tries = 1 if self.x.lossless else ALIVE_LINK_UPS
        for _ in range(tries):
            self.x.link_down()
            self.x.link_up()
            frames = self._solicited()
            self._heard(frames)
            if frames and isinstance(decode(frames[-1].raw), RouterSolicitation):
                return None
        return f"no Router Solicitation within {RS_WAIT:g} s of link-up ({tries} times)"

    def ready(self) -> str | None:
        """As for any IUT (patience.py), and the IUT is no router: a router answers a Router
        Solicitation with an RA (RFC 4861 §6.2.6), a host never sends one (§6.3): a DAR, whose
        node's kernel may well solicit on link-up, would fail the first case and leave the
        rest inconclusive."""
        why = super().ready()
        if why is not None:
            return why
        self.x.send(encode_bytes(RouterSolicitation(self.x.link_local)))
        frames = self.x.wait(self.wait, lambda f: isinstance(decode(f.raw), RouterAdvertisement))
        if frames and isinstance(decode(frames[-1].raw), RouterAdvertisement):
            return (
                "the IUT answers a Router Solicitation with a Router Advertisement: a router, not a "
                "mobile node (--role dar tests a DAR)"
            )
        return None

    def _unresponsive(self) -> bool:
        """The liveness check after a first unanswered probe moves the MN (its link down and up);
        a live one gets the RA of the DAR it was on at once, and DAD_TIME for its address there,
        so that the probes go on. What it sends from then on follows the move, not the case
        (``moved_at``)."""
        dar, self.moved_at = self.advertised, self.x.now()
        if super()._unresponsive():
            return True
        if dar is not None:
            self._advertised_by(dar, VALID, PREFERRED)
            self._heard(self.x.wait(DAD_TIME + SLACK))
        return False

    def _solicited(self) -> list[Frame]:
        """The MN's frames up to its first RS (within RS_WAIT)."""
        return self.x.wait(RS_WAIT, lambda f: isinstance(decode(f.raw), RouterSolicitation))

    def dar(self, i: int) -> PlayedDar:
        """DAR ``i`` of this case, made on first use with a prefix never used before in the run."""
        if i not in self.dars:
            self._prefixes += 1
            n = f"{self._prefixes:x}"
            self.dars[i] = PlayedDar(f"2001:db8:{n}::/64", f"2001:db8:{n}::1", f"fe80::d:{n}")
        return self.dars[i]

    def attach(self, i: int, *, valid: int = VALID, preferred: int = PREFERRED) -> PlayedDar:
        """:meth:`advertise`, then the MN's DAD for its new address runs out (what it sends
        meanwhile goes to the backlog), so that the address survives the next move."""
        dar = self.advertise(i, valid=valid, preferred=preferred)
        self.backlog += [(f, decode(f.raw)) for f in self.x.wait(DAD_TIME + SLACK)]
        return dar

    def advertise(self, i: int, *, valid: int = VALID, preferred: int = PREFERRED) -> PlayedDar:
        """The MN solicits (RFC 4861 §6.3.7) and DAR ``i`` advertises its prefix with R=1."""
        dar = self.dar(i)
        self.x.hold(dar.link_local)
        self.x.hold(dar.address)
        frames = self._solicited()
        if not frames or not isinstance(decode(frames[-1].raw), RouterSolicitation):
            raise Inconclusive(f"set-up: the MN sent no Router Solicitation within {RS_WAIT:g} s")
        self._advertised_by(dar, valid, preferred)
        return dar

    def _advertised_by(self, dar: PlayedDar, valid: int, preferred: int) -> None:
        """``dar``'s RA of its prefix, with R=1, to all nodes."""
        ra = RouterAdvertisement(
            dar.link_local, "ff02::1", dar.address, dar.prefix, valid, min(valid, preferred)
        )
        self.x.send(encode_bytes(ra))
        self.ra_at, self.advertised = self.x.now(), dar

    def move(self, i: int) -> PlayedDar:
        """A handover: the MN's link goes down and up, then DAR ``i`` advertises (the case
        then waits for what the MN sends from its new address)."""
        self.x.link_down()
        self.x.link_up()
        self.backlog = []
        return self.advertise(i)

    def moved_bu(self, home: int = 1, to: int = 2, *, valid: int = VALID) -> Sighting:
        """Attach at ``home`` (its PIO valid for ``valid`` s), move to ``to``: the first BU to
        the home DAR (FAIL without one: the case under test is this BU)."""
        self.attach(home, valid=valid)
        self.move(to)
        return self.expect_bu(home, DAD_TIME + self.wait, f"a BU to DAR {home} after the handover")

    def handover(self, home: int = 1, to: int = 2) -> Sighting:
        """Set-up: :meth:`moved_bu`, INCONCLUSIVE without a BU (another case judges that)."""
        try:
            return self.moved_bu(home, to)
        except Fail as exc:
            raise Inconclusive(f"set-up: {exc}") from None

    def register(self, home: int = 1, to: int = 2, lifetime: int = LIFETIME) -> Sighting:
        """Set-up: the handover, and BA 0 with a PHKT to its first BU."""
        seen = self.handover(home, to)
        self.answer(seen.bu, 0, lifetime)
        return seen

    # ---------------------------------------------------------------- what the MN sends

    def _take(self, match: Callable[[Message], bool], seconds: float) -> tuple[Frame, Message] | None:
        """The first message ``match`` accepts (the backlog first, then new ones within
        ``seconds``); unmatched ones stay in the backlog."""
        for item in self.backlog:
            if match(item[1]):
                self.backlog.remove(item)
                return item
        fresh = [(f, decode(f.raw)) for f in self.x.wait(seconds, lambda f: match(decode(f.raw)))]
        hit = fresh.pop() if fresh and match(fresh[-1][1]) else None
        self.backlog += fresh
        return hit

    def expect(
        self,
        match: Callable[[Message], bool],
        what: str,
        seconds: float | None = None,
        *,
        rule: bool = False,
        late: Callable[[Message], bool] | None = None,
    ) -> tuple[Frame, Message]:
        """The first message ``match`` accepts within ``seconds`` (default: the run's wait).
        Unless a ``rule`` sets that time, one that comes in the grace after it makes the
        case INCONCLUSIVE (the MN is slower than the tester waits; ``late``: what a late one
        must be to be taken for the answer, if not every one ``match`` accepts is); one that
        never comes fails it, unless the link is seen to lose packets (INCONCLUSIVE), see the
        module doc."""
        window = self.wait if seconds is None else seconds
        asked = max((f.time for f in self.x.frames if f.direction == TESTER), default=0.0)
        hit = self._take(match, window)
        if hit is not None:
            return hit
        if not rule:
            answer = late or match
            self.late(what, lambda f: f.direction == IUT and answer(decode(f.raw)), window, asked)
        seen = [describe(m, f.time) for f, m in self.backlog if not _noise(m)]
        more = "" if rule else f" (and {self.grace:g} s more for a slow MN)"
        raise self.missing(f"expected {what} within {window:g} s{more}, got {'; '.join(seen) or 'nothing'}")

    def is_bu_to(self, i: int) -> Callable[[Message], bool]:
        address = self.dar(i).address
        return lambda m: isinstance(m, BindingUpdate) and m.dst == address

    def expect_bu(
        self,
        i: int,
        seconds: float | None = None,
        what: str | None = None,
        *,
        rule: bool = False,
        late: Callable[[BindingUpdate], bool] | None = None,
    ) -> Sighting:
        """The next BU to DAR ``i`` (see :meth:`expect`; ``late``: what a late one must be)."""
        is_bu = self.is_bu_to(i)
        answer = None if late is None else (lambda m: isinstance(m, BindingUpdate) and is_bu(m) and late(m))
        frame, bu = self.expect(is_bu, what or f"a BU to DAR {i}", seconds, rule=rule, late=answer)
        assert isinstance(bu, BindingUpdate)
        if bu.cga_params is not None and self.public_key is None:
            self.public_key = CgaParams.decode(bu.cga_params).public_key
        return Sighting(frame.time, bu)

    def expect_no_bu(self, i: int, seconds: float, why: str) -> None:
        """No BU to DAR ``i`` for ``seconds``, nor while the link is then probed (a BU that
        comes then is a BU all the same, unless a liveness check moved the MN before it); a
        silence on a link seen to lose packets proves nothing: INCONCLUSIVE."""
        hit = self._take(self.is_bu_to(i), seconds)
        loss = None
        if hit is None:
            loss = self.link_loss()
            hit = self._take(self.is_bu_to(i), 0.0)
            if hit is not None and self.moved_at is not None and hit[0].time >= self.moved_at:
                hit = None  # sent after the liveness check moved the MN
        if hit is not None:
            raise Fail(f"{why}, yet the MN sent {describe(hit[1], hit[0].time)}")
        if loss is not None:
            raise Inconclusive(f"{why}: no BU to DAR {i} came, but {loss}: the silence proves nothing")

    # ---------------------------------------------------------------- the link probe (patience.py)

    def link_loss(self) -> str | None:
        """As patience.py's, but an MN never seen to use an address of the prefix last
        advertised cannot be probed on a link that may lose packets: its RA may be lost, and
        that is how the link is seen."""
        if not self.x.lossless and self._current_address() is None:
            return (
                "the MN was never seen to use an address of the prefix last advertised, so the link "
                "could not be probed (the RA may be lost)"
            )
        return super().link_loss()

    def _probe_link(self) -> str | None:
        """As patience.py's, but an MN that the liveness check moved and found alive, and that
        answered no probe after the move, cannot be told from a link that lost the RA that gave
        it its address back: the probes never reached it, and their silence shows nothing."""
        loss = super()._probe_link()
        if loss is not None or self.moved_at is None or self._silent is not None:
            return loss
        moved = self.moved_at
        if any(f.time >= moved and f.direction == IUT and nd_target(f.raw, NA) for f in self.x.frames):
            return None
        return (
            "the MN, moved by the liveness check, answered no Neighbour Solicitation for its address "
            "after it, so the link could not be probed (the RA may be lost)"
        )

    def _probe(self) -> Until | None:
        """An NS for the MN's current address, to it (RFC 4861 §7.2.2); its answer, an NA for
        that address. None before the MN is known to use an address of the DAR last advertised."""
        address = self._current_address()
        if address is None:
            return None
        self.x.send(icmpv6.neighbor_solicitation(self.x.link_local, address, address, None))
        return lambda f: f.direction == IUT and nd_target(f.raw, NA) == address

    def doubt(self, fail: Fail) -> Fail | Inconclusive:
        """An MN acts on what the tester sent: a BA lost on the link makes it retransmit, an RA
        lost leaves it where it was, and the BU it then sends looks wrong, not missing (a BU
        after BA 148, a refresh too early). So a FAIL on a link that may lose packets stands only
        where the probes show the link losing nothing (patience.py)."""
        loss = self.link_loss()
        if loss is None:
            return fail
        return Inconclusive(f"{fail}, but {loss}: a packet of the tester's may have been lost")

    def _current_address(self) -> str | None:
        """The newest address of the prefix last advertised that the MN used as a source, or
        probed for with DAD (RFC 4862 §5.4.2)."""
        if self.advertised is None:
            return None
        dar = self.advertised
        for frame in reversed(self.x.frames):
            info = parse(frame.raw) if frame.direction == IUT else None
            if info is None:
                continue
            address = nd_target(frame.raw, NS) if info.src == "::" else info.src
            if dar.owns(address):
                return address
        return None

    def _heard(self, frames: list[Frame]) -> None:
        self.backlog += [(f, decode(f.raw)) for f in frames]

    def data_from(self, src: str, *, tunnel: tuple[int, str] | None = None) -> bytes:
        """Make the MN send a datagram from ``src`` to CN; returns its payload (see the module
        doc). ``tunnel`` = (DAR i, CoA): ``src`` is a kept address anchored at DAR i, so the
        echo request comes through DAR i's tunnel to the CoA (profile §8); None: ``src`` is
        the current address, the request comes natively."""
        payload = b"conformance " + os.urandom(8).hex().encode()
        send = getattr(self.x, "app_send", None)
        if send is not None:
            send(src, CN, payload)
            return payload
        assert self.echo is not None, "applicable() runs no data case without a way to send"
        request: Message = Datagram(CN, src, CN_PORT, self.echo, payload)
        if tunnel is not None:
            dar, coa = tunnel
            request = Tunnelled(self.dar(dar).address, coa, request)
        self.x.send(encode_bytes(request))
        return payload

    # ---------------------------------------------------------------- answers

    def answer(
        self,
        bu: BindingUpdate,
        status: int,
        lifetime: int = LIFETIME,
        *,
        seq: int | None = None,
        refresh: int | None = None,
        forged: bool = False,
    ) -> None:
        """DAR's BA to ``bu`` (profile §6 step 7): a new PHKT when it accepts a CGA-signed BU
        (encrypted to the BU's key), a BAD whenever a PHKT exists (``forged``: with the wrong
        one), none on a 147 (the DAR lost it); an acceptance after a care-of test keys it with
        the care-of token too. ``seq`` as the BU's unless given (135)."""
        dar = next((d for d in self.dars.values() if d.address == bu.dst), None)
        if dar is None:
            raise Inconclusive(f"set-up: {bu.dst} is not a DAR of this case")
        hoa = bu.home_address
        ciphertext = None
        if bu.cga_params is not None and status < 128:
            dar.phkt[hoa] = new_phkt()
            ciphertext = encrypt_phkt(CgaParams.decode(bu.cga_params).public_key, dar.phkt[hoa])
        if status == 147:
            dar.phkt.pop(hoa, None)
        phkt = new_phkt() if forged else dar.phkt.get(hoa)
        care_of = dar.care_of.get(bu.src) if status < 128 else None  # refusals: zero token
        ba = BindingAck(
            dar.address,
            bu.src,
            bu.hoa,
            status,
            bu.seq if seq is None else seq % SEQ_MOD,
            0 if status >= 128 else min(lifetime, bu.lifetime),
            phkt_ciphertext=ciphertext,
            for_deregistration=bu.deregistration,
            refresh_interval=refresh,
            auth_key=None if phkt is None else kbm(phkt, care_of, deregistration=bu.deregistration),
        )
        self.x.send(encode_bytes(ba))

    def answer_coti(self, i: int, coa: str) -> CareOfTest:
        """DAR ``i`` answers the MN's CoTI from ``coa`` with a CoT: a fresh index and care-of
        keygen token (profile §5; the token's derivation is the DAR's business)."""
        _, coti = self.expect(
            lambda m: isinstance(m, CareOfTestInit) and m.dst == self.dar(i).address,
            f"a CoTI to DAR {i}",
        )
        assert isinstance(coti, CareOfTestInit)
        if coti.src != coa:
            raise Fail(f"the CoTI comes from {coti.src}, not from the CoA {coa}")
        token = os.urandom(8)
        self.dar(i).care_of[coa] = token
        cot = CareOfTest(coti.dst, coa, int.from_bytes(os.urandom(2), "big"), coti.cookie, token)
        self.x.send(encode_bytes(cot))
        return cot

    # ---------------------------------------------------------------- checks of a BU

    def signature_problem(self, bu: BindingUpdate) -> str | None:
        """Why a CGA-signed BU does not verify (RFC 3972 §5, RFC 4866 §4.5), or None."""
        if bu.cga_params is None or bu.signature is None:
            return "it carries no CGA Parameters and Signature options"
        if bu.framing:
            return "its options are misplaced: " + "; ".join(bu.framing)
        checked = cga_check(bu.home_address, bu.cga_params)
        if not checked:
            return f"the HoA {bu.home_address} is no CGA of its parameters: {checked.reason}"
        key = CgaParams.decode(bu.cga_params).public_key
        if not verify_mh_signature(key, bu.src, bu.dst, bu.signed_data, bu.signature):
            return "the Signature does not verify with the CGA Parameters' public key"
        return None

    def bad_problem(self, bu: BindingUpdate, i: int, *, phkt: bytes | None = None) -> str | None:
        """Why a BU does not carry a BAD keyed by the PHKT DAR ``i`` issued (or ``phkt``) and
        the care-of token it sent to the BU's CoA, if any (profile §4, §5), or None."""
        dar = self.dar(i)
        home = phkt or dar.phkt.get(bu.home_address)
        if home is None:
            raise Inconclusive(f"set-up: DAR {i} issued no PHKT for {bu.home_address}")
        if bu.bad is None:
            return "it carries no Binding Authorization Data"
        coa = bu.home_address if bu.deregistration else bu.src
        key = kbm(home, dar.care_of.get(bu.src), deregistration=bu.deregistration)
        if not check_authenticator(bu.bad, key, coa, bu.dst, bu.auth_data):
            return "its BAD does not verify with the Kbm of the tokens the DAR gave"
        return None


def nd_target(raw: bytes, icmp_type: int) -> str | None:
    """The target of the valid Neighbour Solicitation or Advertisement (``icmp_type``: NS or
    NA) in ``raw``, if it is one (RFC 4861 §4.3, §4.4)."""
    info = parse(raw)
    msg = None if info is None else icmpv6.read(raw, info)
    return msg.target if msg is not None and msg.type == icmp_type and msg.invalid is None else None


def make_tester(executor: Executor, run: RunConfig) -> MnTester:
    """The MN tester of one run (``run.wait``: the answer wait; ``run.mn_keep``: a real MN's)."""
    return MnTester(
        executor, wait=run.wait, keep=run.mn_keep, patience=run.max_case_time, echo=run.mn_echo_port,
        optimistic=run.mn_optimistic, grace=run.grace,
    )
