"""DarAutomaton: a Distributed Anchor Router as a Scapy Automaton over a DarCore.

Theory of operation
-------------------
The DAR advertises its prefix on its access link, answers RSs, BUs and CoTIs,
tunnels the traffic of bound HoAs and routes the rest; the core decides all
of it, the automaton moves the packets (:mod:`scapy_fama.automata.base`).
Its life cycle, derived from the core's binding cache after every event::

                 first binding created
    +-------------+ ------------------> +---------+
    | ADVERTISING |                     | SERVING |   (STOPPED: after stop())
    +-------------+ <------------------ +---------+
       RAs, RS/RA,  last binding deleted   tunnels to CoAs, proxy ND for the HoAs
       CGA BUs      or expired

Where packets go: to multicast groups, link-local addresses and its own
prefix on the access link (resolved with ND, nd.py); anything else upstream
(a :class:`~scapy_fama.net.memlink.RouterPort`, or on a real interface the
kernel's routing table, :class:`~scapy_fama.net.iface.KernelRoute`), or, with
no upstream at all, onto the access link too. The DAR
answers Neighbour Solicitations for its global and link-local addresses (in
kernel mode its kernel does, which holds them) and, while they are bound, for
the HoAs it is the home agent of (RFC 6275 §10.4.1), so that a router on the
home link delivers their traffic to it. It takes from the access link what is
sent to its MAC (it is the link's router) and the all-nodes and all-routers groups.

    dar = DarAutomaton(DarCore("2001:db8:1::1", "2001:db8:1::/64", rand=os.urandom),
                       link1.port("dar1"), upstream=core.port("2001:db8:1::/64"), name="dar1")
    dar = DarAutomaton(core, iface="eth1")      # real interface, upstream = the kernel
    dar = DarAutomaton(core, iface="eth1", kernel=True)   # kernel mode (kernel_path.py)

Kernel mode: the kernel owns the DAR's address and forwards; the automaton
takes from the access link only what is for itself (its addresses, all-nodes,
all-routers) and reads what reaches its address from upstream with a
:class:`~scapy_fama.net.iface.KernelUpstream`; each tunnel is a kernel route
into the TUN (:class:`~scapy_fama.automata.kernel_path.DarKernel`).
    dar.runbg(); ...; dar.stop()
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from scapy.automaton import ATMT

from scapy_fama.automata.base import FamaAutomaton
from scapy_fama.automata.kernel_path import DarKernel
from scapy_fama.automata.log import LogSink
from scapy_fama.automata.nd import ALL_NODES, ALL_ROUTERS
from scapy_fama.automata.ports import AccessPort, Frame
from scapy_fama.automata.refreshes import Refreshes
from scapy_fama.crypto import addr_bytes, addr_text, prefix64
from scapy_fama.net.iface import KernelRoute, KernelUpstream
from scapy_fama.net.kernel import TUN_NAME
from scapy_fama.net.linkemu import LinkEmulation
from scapy_fama.proto import DarCore
from scapy_fama.codec import issuing_ack, read_signed_bu
from scapy_fama.proto.dar import CREATED, ISSUED, UPDATED, Registered, foreseeable
from scapy_fama.proto.effects import Drop, Effects, Send, TunnelUp
from scapy_fama.proto.messages import KINDS, BindingAck, BindingUpdate, Datagram, Message
from scapy_fama.proto.status import BaStatus
from scapy_fama.wire import WireInfo
from scapy_fama.wire.link import ipv6_in


_BA = KINDS[BindingAck]
# the records of a foreseen refresh answered (Refreshed.effects: the event, then the BA), by
# (direction, kind) as the general path counts them
_FORESEEN_RECORDS = (("in", KINDS[BindingUpdate]), ("event", UPDATED), ("out", _BA))
# those of a plain registration (Registered.plain) issuing a PHKT, as the general path counts its
# effects: TunnelUp, the binding created, the BA, the PHKT issued
_REGISTERED_RECORDS = (("in", KINDS[BindingUpdate]), ("event", "tunnel-up"), ("event", CREATED), ("out", _BA),
                       ("event", ISSUED))  # fmt: skip


def issuing_ba(registered: Registered) -> bytes:
    """The BA's bytes for a plain registration (``Registered.plain``) that issued a PHKT, from
    a care-of address: what a DAR automaton sends for a signed BU it read from its bytes."""
    bu, ciphertext = registered.bu, registered.phkt_ciphertext
    assert ciphertext is not None and bu.hoa is not None
    return issuing_ack(registered.dar, bu.src, bu.hoa, bu.seq, registered.lifetime, ciphertext, registered.key)


def _link_local(a: bytes) -> bool:
    return a[0] == 0xFE and a[1] & 0xC0 == 0x80  # fe80::/10


class DarAutomaton(FamaAutomaton):
    """A DAR on a memlink port (``link``) or a real interface (``iface``)."""

    ROUTER = True
    ROLE = "DAR"
    core: DarCore

    def __init__(
        self,
        core: DarCore,
        link: AccessPort | None = None,
        *,
        iface: str | None = None,
        upstream: Any = None,
        name: str = "dar",
        log: LogSink | None = None,
        debug: int = 0,
        kernel: bool = False,
        emulation: LinkEmulation | None = None,
        kernel_tunnel: bool = True,
        untracked_na: bool = False,
    ) -> None:
        path = None
        if kernel:
            if iface is None:
                raise ValueError("kernel mode needs a real interface (iface=)")
            path = DarKernel(iface, core.address, core.prefix, kernel_tunnel, untracked_na, core.link_local)
            upstream = KernelUpstream(core.address, skip={iface, TUN_NAME})
        elif iface is not None and upstream is None:
            upstream = KernelRoute()
        self._prefix = prefix64(core.prefix)
        # RFC 9131 §4.2, opt-in: an unsolicited NA for an address of the prefix makes its entry (nd.py)
        self.untracked_na = untracked_na
        self.refreshes = Refreshes(core.config.cache_capacity)  # foreseen PHKT refreshes (refreshes.py)
        self.foreseen = 0  # BUs answered as foreseen refreshes
        # a foreseeable BU the general path is answering, with the packet it came in (FamaAutomaton._rx)
        self._asked: tuple[BindingUpdate, tuple[bytes, WireInfo]] | None = None
        super().__init__(
            core, link, iface, upstream, name=name, log=log, debug=debug, kernel=path, emulation=emulation
        )

    @ATMT.state(initial=1)
    def ADVERTISING(self) -> None:
        """No binding: RAs, RS answers, CGA-authorised first BUs."""
        self._enter(self.SERVING)

    @ATMT.state()
    def SERVING(self) -> None:
        """At least one binding: its HoA's traffic is tunnelled to the CoA."""
        self._enter(self.ADVERTISING)

    # ---------------------------------------------------------------- foreseen refreshes

    def _foreseen(self, now: float, frame: Frame) -> bool:
        """A BU the DAR reads from its bytes alone (DESIGN.md "bytes first"): a refresh like its
        binding's last (refreshes.py) or a CGA-signed BU as this toolkit's MN writes it
        (``codec.read_signed_bu``); True once handled, False: the general path reads the frame.
        A core whose class redefines ``on_message`` (a planted defect, a researcher's variant)
        is driven through it alone: the shortcuts' entry points would pass it by."""
        if type(self.core).on_message is not DarCore.on_message:  # a core that redefines what it answers
            return False
        data = frame.data
        ip = data if frame.upstream else ipv6_in(data) if data[:6] == self._mac else None
        if ip is None:
            return False
        return self._foreseen_refresh(ip, frame, now) or self._signed_bu(ip, frame, now)

    def _foreseen_refresh(self, ip: bytes, frame: Frame, now: float) -> bool:
        """A refresh like its binding's last one (refreshes.py), decided by the core: answered
        when it accepts it, dropped when its BAD is wrong; False: the general path reads it.
        Answered, its BA's bytes come from the shape; the BU, its event and its BA are made as
        objects only for someone who looks (a log that is read, a BA interception), and else
        their records are counted: the records, held BAs and bytes are the general path's."""
        found = self.refreshes.find(ip) if self.refreshes else None
        if found is None:
            return False
        shape, bu, seq, bad, covered = found
        result = self.core.refresh(bu, seq, bad, covered, now)
        if result is None:
            return False
        read = replace(bu, seq=seq, bad=bad, auth_data=covered) if self.log.reading else bu  # formatted if read
        if isinstance(result, Drop):  # its BAD wrong (profile §6 step 4): one HMAC spent, nothing read again
            self._log_in(read, frame)
            self._apply([result], now)
            return True
        packet = shape.answer(seq, result.key)
        self.foreseen += 1
        if _BA not in self._intercepts and self.log.counted(*_FORESEEN_RECORDS):
            self._route(packet, now)  # nobody looks: the records counted, the bytes routed
            return True
        self._log_in(read, frame)
        for effect in result.effects():  # the BA goes as the shape wrote it
            if isinstance(effect, Send):
                self._emit(effect.msg, packet, "out", now)
            else:
                self._apply([effect], now)
        return True

    def _signed_bu(self, ip: bytes, frame: Frame, now: float) -> bool:
        """A CGA-signed BU to this DAR, read by ``codec.read_signed_bu`` (the message the general
        path would read) and decided by ``DarCore.on_bu``. Accepted as a plain registration
        (``Registered.plain``) with nobody looking, the tunnel goes up, the BA's bytes are
        written from the values and the records counted; else the effects go as the general
        path's. False (the general path reads it): another packet, a source that is this DAR's
        own (ingress filtering drops it there, with its line), or not for this DAR itself."""
        bu = read_signed_bu(ip)
        core = self.core
        if bu is None or bu.dst not in (core.address, core.link_local) or bu.src in self._own_addresses():
            return False
        looked_at = _BA in self._intercepts or self.log.reading
        if looked_at:
            self._log_in(bu, frame)  # before the effects' records, as the general path
        outcome = core.on_bu(bu, now)
        if not isinstance(outcome, Registered):
            effects = outcome
        elif looked_at or not outcome.plain or outcome.phkt_ciphertext is None:
            effects = core.registered_effects(outcome)
        else:  # from a CoA (the HAO read_signed_bu reads), so the BA has an RH2 (issuing_ack)
            self.log.counted(*_REGISTERED_RECORDS)
            hoa = bu.home_address
            self._tunnel(hoa, TunnelUp(core.address, bu.src, hoa))
            self._route(issuing_ba(outcome), now)
            return True
        if not looked_at:
            self._log_in(bu, frame)
        self._apply(effects, now)
        return True

    def _on_message(self, msg: Message, now: float) -> Effects:
        effects = super()._on_message(msg, now)
        rx = self._rx
        self._asked = (msg, rx) if rx is not None and isinstance(msg, BindingUpdate) and foreseeable(msg) else None
        return effects

    def _emit(self, msg: Message, packet: bytes, direction: str, now: float) -> None:
        super()._emit(msg, packet, direction, now)
        if self._asked is None or not isinstance(msg, BindingAck):
            return
        (bu, rx), self._asked = self._asked, None
        if rx is self._rx and msg.status == BaStatus.ACCEPTED and msg.seq == bu.seq and msg.dst == bu.src:
            self.refreshes.remember(bu, *rx, msg, packet)

    def _phase(self) -> str:
        return "SERVING" if self.core.sizes()[0] else "ADVERTISING"

    def _core_status(self) -> dict[str, int]:
        bindings, records = self.core.sizes()
        return {"bindings": bindings, "records": records, "refresh_shapes": len(self.refreshes), "foreseen": self.foreseen}

    def _deliver(self, datagram: Datagram) -> None:
        """A DAR runs no applications: nothing for it that it does not handle is kept (profile §6)."""
        self.log.write(self.name, "drop", "DATA", src=datagram.src, dst=datagram.dst,
                       why=f"no-application: UDP port {datagram.dport} of the DAR")  # fmt: skip

    def _own_addresses(self) -> tuple[str, str]:
        return self.core.address, self.core.link_local

    def _accepts(self, dst_mac: bytes, info: WireInfo) -> bool:
        if self.kernel is not None:  # the kernel forwards: only what is for the DAR itself
            return self._mine(info.dst)
        return dst_mac == self._mac or info.dst in (ALL_NODES, ALL_ROUTERS)

    def _mine(self, dst: str) -> bool:
        return dst in self._destinations()

    def _destinations(self) -> tuple[str, ...]:
        return (ALL_NODES, ALL_ROUTERS, self.core.address, self.core.link_local)

    def _error_source(self, offending: WireInfo) -> str | None:
        # RFC 4443 §2.2: of the scope of the source it goes to
        return self.core.link_local if _link_local(addr_bytes(offending.src)) else self.core.address

    def _sync_kernel(self) -> None:
        assert isinstance(self.kernel, DarKernel)
        self.kernel.sync(self.tunnels)

    def _answers(self, target: str) -> bool:
        return target in (self.core.address, self.core.link_local) or target in self.tunnels

    def _router_flag(self, target: str) -> bool:
        """R clear for a bound HoA: the NA speaks for the MN, a host (RFC 6275 §10.4.1)."""
        return target not in self.tunnels

    def _untracked(self, target: str) -> bool:
        """Opted in, for another node's address of the prefix; a bound HoA too: its tunnel, not
        the entry, carries its traffic until the MN comes home and de-registers, and the BA
        for that then leaves at once."""
        return self.untracked_na and addr_bytes(target)[:8] == self._prefix and target != self.core.address

    def _nd_source(self) -> str:
        return self.core.link_local

    def _next_hop(self, dst: bytes) -> str | None:
        on_link = _link_local(dst) or dst[:8] == self._prefix
        return addr_text(dst) if on_link or self.upstream is None else None
