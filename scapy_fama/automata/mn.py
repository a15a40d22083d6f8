"""MnAutomaton: a mobile node as a Scapy Automaton over an MnCore.

Theory of operation
-------------------
The automaton watches its link, runs DAD and ND for the core's addresses and
carries out its effects (:mod:`scapy_fama.automata.base`); the core decides
addresses, keep policy, BUs and tunnels. The life cycle, derived from the
link and the core after every event::

              link up             RA, new prefix          DAD over
    +----------+ ------> +------------+ ------> +-----------+ ------> +----------+
    | DETACHED |         | SOLICITING |         | TENTATIVE |         | ATTACHED |
    +----------+         +------------+         +-----------+         +----------+
                            | RA of an earlier       | DAD over,           | a kept address
                            | prefix: de-register    | BUs go out          | needs a BU
                            v                        v                     v
                         +------------+   BA 0, tunnel up    +-------+
                         | SIGNALLING | -------------------> | BOUND |
                         +------------+ <------------------- +-------+
                            | de-registered or   refresh, a flow ends, pin
                            | lost: ATTACHED
    BOUND -> ATTACHED when the last binding expires; from any state: link down -> DETACHED,
    a new link (a move) -> SOLICITING; leave() -> LEAVING, which only stop() ends

* LEAVING: the MN is on its way out (:meth:`MnAutomaton.leave`, and ``serve`` at SIGINT or
  SIGTERM unless ``exit_within`` is None): the core de-registers every binding at a DAR
  (:meth:`MnCore.shutdown`), and the automaton carries on (BAs, retransmissions, the link)
  until the core says ``shutdown-done``: the BAs came, or ``exit_within`` seconds passed and
  each binding left at its DAR has its ``deregistration-abandoned`` record. A second signal
  meanwhile ends the wait at once (the core reports what is left then: :meth:`MnCore.hurry`).

* DETACHED: no carrier. SOLICITING: RSs, no address on this link yet.
  TENTATIVE: the new CGA is under DAD. ATTACHED: the CGA is usable, nothing is
  signalled and no binding stands. SIGNALLING: a CoTI/BU exchange (or a
  de-registration) is running for some address. BOUND: no exchange running and
  at least one kept address is tunnelled to its DAR.
* Link changes are polled every tick: ``carrier`` and ``epoch`` of the port (a
  memlink move, or a real interface's ``carrier_up_count``), so a move is seen
  even when the carrier never dropped: a new epoch is ``on_link_up`` again.
* DAD (RFC 4862 §5.4): on ``address-tentative`` or ``address-optimistic`` an NS
  from ``::`` goes out; an NA for the address, or another node's probe, while
  DAD runs is ``on_dad_collision``; the core decides when the address is usable
  (at once when optimistic, RFC 4429).
* Unicast goes to the router that advertised the current prefix (its MAC
  comes with its RA, whose source is link-local); the MN answers NS for its
  usable current address (in kernel mode its kernel does, which holds it), and
  announces it once per attachment, as soon as it is usable and before anything
  leaves from it, with an unsolicited NA to all routers (RFC 9131 §4.1,
  Override clear; see nd.py): the DAR has its MAC
  before the first BA or packet for it arrives. Other IPv6 packets reach the core only when they are
  for one of its addresses or for all nodes.
* With ``udp_echo`` (``fama-mn --udp-echo``) the host runs the UDP Echo
  service (RFC 862) on that port: every datagram the core delivers to it is
  answered through :meth:`MnCore.echo`, from the address it was sent to
  (reverse-tunnelled from a kept address, native from the CoA: profile §8).

* Kernel mode (``kernel=True``): the kernel holds the usable current address
  on the link, as optimistic while DAD runs so that the kernel keeps RFC 4429
  §3.3 too (default route via the router of its RA) and each kept address
  on the TUN, where a rule sends what it sends into the tunnel
  (:class:`~scapy_fama.automata.kernel_path.MnKernel`); sockets bound to a kept
  address live on across the handover.

    mn = MnAutomaton(MnCore(key, rand=os.urandom), link1.port("mn"), name="mn")
    mn.runbg(); mn.wait_for("ATTACHED", 5); mn.open_flow(hoa); link2.attach(mn.access)
"""

from __future__ import annotations

from scapy.automaton import ATMT

from scapy_fama.automata.base import COMMAND_TIMEOUT, FamaAutomaton
from scapy_fama.automata.kernel_path import MnKernel, MnState
from scapy_fama.automata.log import LogSink
from scapy_fama.automata.nd import ALL_NODES, ALL_ROUTERS, announcement, solicitation
from scapy_fama.automata.ports import AccessPort, Frame
from scapy_fama.crypto import addr_text
from scapy_fama.interrupt import Latch
from scapy_fama.net.linkemu import LinkEmulation
from scapy_fama.proto import MnCore
from scapy_fama.proto.addresses import AddressRecord
from scapy_fama.proto.bul import BulState
from scapy_fama.proto.effects import Deliver, Drop, Effects, Notify
from scapy_fama.proto.messages import Message, RouterAdvertisement
from scapy_fama.wire import WireInfo
from scapy_fama.wire.link import solicited_node

_EXCHANGES = (BulState.TESTING, BulState.REGISTERING, BulState.DEREGISTERING)
EXIT_WITHIN = 1.0  # seconds the MN waits for the BAs of its de-registrations on its way out


class MnAutomaton(FamaAutomaton):
    """A mobile node on a memlink port (``link``, moved between links) or a real interface."""

    ROLE = "MN"
    core: MnCore

    def __init__(
        self,
        core: MnCore,
        link: AccessPort | None = None,
        *,
        iface: str | None = None,
        name: str = "mn",
        log: LogSink | None = None,
        debug: int = 0,
        udp_echo: int | None = None,
        kernel: bool = False,
        emulation: LinkEmulation | None = None,
        exit_within: float | None = EXIT_WITHIN,
    ) -> None:
        if kernel and (iface is None or udp_echo is not None):
            raise ValueError("kernel mode needs a real interface (iface=) and no UDP echo of its own")
        self.udp_echo = udp_echo  # the UDP port of the echo service (RFC 862), or None
        self._routers: dict[str, str] = {}  # prefix -> link-local address of its router
        self._announced: str | None = None  # the address announced on this attachment (RFC 9131)
        self.exit_within = exit_within  # serve(): de-register for this long at exit (None: do not)
        self._gone: Latch | None = None  # set at the core's shutdown-done (leave())
        path = MnKernel(iface) if kernel and iface is not None else None
        super().__init__(
            core, link, iface, name=name, log=log, debug=debug, kernel=path, emulation=emulation
        )

    # ---------------------------------------------------------------- life cycle

    @ATMT.state(initial=1)
    def DETACHED(self) -> None:
        """No link."""
        self._enter(self.SOLICITING, self.LEAVING)

    @ATMT.state()
    def SOLICITING(self) -> None:
        """On a link, soliciting an RA."""
        self._enter(self.DETACHED, self.TENTATIVE, self.ATTACHED, self.SIGNALLING, self.LEAVING)

    @ATMT.state()
    def TENTATIVE(self) -> None:
        """The CGA of this link is under DAD."""
        self._enter(self.DETACHED, self.SOLICITING, self.ATTACHED, self.SIGNALLING, self.LEAVING)

    @ATMT.state()
    def ATTACHED(self) -> None:
        """The CGA of this link is usable; no binding, nothing signalled."""
        self._enter(self.DETACHED, self.SOLICITING, self.SIGNALLING, self.LEAVING)

    @ATMT.state()
    def SIGNALLING(self) -> None:
        """A CoTI/BU exchange or a de-registration is running."""
        self._enter(self.DETACHED, self.SOLICITING, self.ATTACHED, self.BOUND, self.LEAVING)

    @ATMT.state()
    def BOUND(self) -> None:
        """Kept addresses are tunnelled to their DARs; nothing signalled."""
        self._enter(self.DETACHED, self.SOLICITING, self.ATTACHED, self.SIGNALLING, self.LEAVING)

    @ATMT.state()
    def LEAVING(self) -> None:
        """On the way out: de-registrations sent, their BAs waited for (leave())."""
        self._enter()

    def _records(self) -> list[AddressRecord]:
        return [r for a in self.core.addresses() if (r := self.core.record(a)) is not None]

    def _current(self) -> AddressRecord | None:
        current = self.core.current_address
        return None if current is None else self.core.record(current)

    def _phase(self) -> str:
        current = self._current()
        if self.core.leaving:
            return "LEAVING"
        if not self._carrier:
            return "DETACHED"
        if current is None:
            return "SOLICITING"
        if not current.usable:
            return "TENTATIVE"
        if any(r.bul.state in _EXCHANGES for r in self._records()):
            return "SIGNALLING"
        if any(r.bul.tunnel is not None for r in self._records()):
            return "BOUND"
        return "ATTACHED"

    # ---------------------------------------------------------------- link, DAD, routers

    def _link_changed(self, now: float) -> None:
        self._routers.clear()
        self._announced = None
        if self._carrier:
            self._apply(self.core.on_link_up(now), now)
        else:
            self._apply(self.core.on_link_down(now), now)

    def _on_message(self, msg: Message, now: float) -> Effects:
        if self._epoch is None:  # before the first tick: take the link now, or its link-up
            self._watch_link(now)  # would follow this message and throw away what it configured;
            return [Drop(msg, "before-link: arrived before the link state was read")]  # RS next
        effects = self.core.on_message(msg, now)
        # kept for the prefixes the core took, from RAs it did not drop (RFC 4861 §6.1.2, §6.3.4)
        if isinstance(msg, RouterAdvertisement) and not any(isinstance(e, Drop) for e in effects):
            self._routers[msg.prefix] = msg.src
            prefixes = {r.prefix for r in self._records()}
            self._routers = {p: r for p, r in self._routers.items() if p in prefixes}
            self._announce()  # an optimistic new address, or ours again on an earlier link: before its BUs
        if self.udp_echo is None:
            return effects
        port = self.udp_echo
        return effects + [
            answer
            for effect in effects
            if isinstance(effect, Deliver)
            for answer in self.core.echo(effect.datagram, port, now)
        ]

    def _notified(self, notify: Notify, now: float) -> None:
        if notify.event in ("address-tentative", "address-optimistic"):  # RFC 4862 §5.4.2
            target = str(notify.data["address"])
            self.log.write(self.name, "out", "NS", src="::", dst=solicited_node(target), target=target)
            self.send(Frame(solicitation("::", target, self.mac)))
        elif notify.event == "address-configured":  # DAD over (not optimistic): before its BUs
            self._announce()
        elif notify.event == "shutdown-done" and self._gone is not None:
            self._gone.set()

    def _announce(self) -> None:
        """RFC 9131 §4.1: the current address, usable, is announced to the routers of the link
        once per attachment (an unsolicited NA, Override clear; see nd.py)."""
        current = self._current()
        if current is None or not current.usable or current.address == self._announced:
            return
        self._announced = address = current.address
        self.log.write(self.name, "out", "NA", src=address, dst=ALL_ROUTERS, target=address)
        self.send(Frame(announcement(address, self.mac)))

    def _sync_kernel(self) -> None:
        assert isinstance(self.kernel, MnKernel)
        current = self._current()
        usable = current if current is not None and current.usable else None
        native = None if usable is None else usable.address
        gateway = None if usable is None else self._routers.get(usable.prefix)
        kept = frozenset(
            r.address
            for r in self._records()
            if r.address != native and r is not current and not r.released
        )
        optimistic = usable is not None and usable.in_optimistic_state
        self.kernel.follow(MnState(native, gateway, kept, dict(self.tunnels), optimistic))

    def _in_use(self, address: str, now: float) -> None:
        record = self.core.record(address)
        if record is not None and record.dad_until is not None:
            self._apply(self.core.on_dad_collision(address, now), now)

    def _own_addresses(self) -> list[str]:
        return self.core.addresses()

    def _accepts(self, dst_mac: bytes, info: WireInfo) -> bool:
        if info.rh2 is not None and (info.rh2_segments_left != 1 or info.rh2 not in self.core.addresses()):
            # RFC 6275 §6.4: a type 2 Routing header has Segments Left 1 and names one of the
            # node's own addresses, or the packet is discarded (the codec reads the rest past it)
            self.log.write(self.name, "drop", "RH2", src=info.src, dst=info.dst,
                           why=f"rh2-not-mine: {info.rh2} with Segments Left {info.rh2_segments_left}")  # fmt: skip
            return False
        return self._mine(info.dst)

    def _mine(self, dst: str) -> bool:
        return dst == ALL_NODES or dst in self.core.addresses()

    def _error_source(self, offending: WireInfo) -> str | None:
        """The address the packet came to (RFC 4443 §2.2), or for all nodes the current one."""
        return offending.dst if offending.dst in self.core.addresses() else self.core.current_address

    def _answers(self, target: str) -> bool:
        current = self._current()
        return current is not None and current.usable and target == current.address

    def _core_status(self) -> dict[str, int]:
        return {"addresses": len(self.core.addresses()), "routers": len(self._routers)}

    def _optimistic(self, address: str) -> bool:
        record = self.core.record(address)
        return record is not None and record.in_optimistic_state

    def _nd_source(self) -> str:
        return self.core.current_address or "::"

    def _next_hop(self, dst: bytes) -> str | None:
        current = self._current()
        router = self._routers.get(current.prefix) if current is not None else None
        return router or addr_text(dst)

    # ---------------------------------------------------------------- leaving (any thread)

    def leave(self, within: float = EXIT_WITHIN, hurry: Latch | None = None) -> None:
        """De-register every binding the MN holds at a DAR (:meth:`MnCore.shutdown`) and return
        once their BAs came or ``within`` seconds passed, or at once when ``hurry`` is set
        meanwhile (what is left is then reported as at the deadline). The MN is LEAVING for good
        afterwards: stop() it. Called again: nothing more."""
        if self.core.leaving:
            return
        gone = self._gone = hurry or Latch()
        self._core_call(lambda now: self.core.shutdown(now, within))
        gone.wait(within + COMMAND_TIMEOUT)  # the core's deadline ends it; the margin: a stuck thread
        self._core_call(lambda now: self.core.hurry(now))

    def _leave(self, hurry: Latch) -> None:
        if self.exit_within is not None:
            self.leave(self.exit_within, hurry)

    # ---------------------------------------------------------------- applications (any thread)

    def open_flow(self, address: str) -> None:
        """A flow starts on ``address``: under the ``flows`` policy it is kept while flows run."""
        self._call(lambda now: self.core.open_flow(address))

    def close_flow(self, address: str) -> None:
        self._core_call(lambda now: self.core.close_flow(address, now))

    def pin(self, address: str) -> None:
        """Keep ``address`` whatever the policy says (profile §3)."""
        self._core_call(lambda now: self.core.pin(address, now))

    def unpin(self, address: str) -> None:
        self._core_call(lambda now: self.core.unpin(address, now))

    def send_data(self, src: str, dst: str, payload: bytes, sport: int = 7000, dport: int = 7000) -> None:
        """UDP from ``src``: native from the CoA, reverse-tunnelled from a kept address."""
        self._core_call(lambda now: self.core.send(src, dst, sport, dport, payload, now))
