"""MnCore: the mobile node as a sans-I/O state machine (profile §2, §3, §5, §7, §8).

Theory of operation
-------------------
The MN configures a CGA on every link and keeps earlier addresses anchored at
their DARs as the keep policy says. The address of the current link is the CoA
of every kept binding and is used natively::

    MN                         DAR_1 (prefix 1)              DAR_2 (prefix 2)
     |-- RS, <- RA(prefix 1) ----|                              |
     |   HoA_1 = CGA(prefix 1), native                          |
     ~~~ link change ~~~                                        |
     |-- RS, <- RA(prefix 2) ---------------------------------->|
     |   CoA = CGA(prefix 2) (same modifier), optimistic DAD    |
     |-- BU(CoA->DAR_1, HAO=HoA_1, CGA Params, Signature) ->|   |  first BU: sign_with
     |<- BA(0, PHKT encrypted to the MN key, BAD) ----------|   |  PHKT stored
     |== tunnel CoA <-> DAR_1 carries HoA_1 ================|   |
     |-- BU(NI(0,0), BAD) at 80 % of the lifetime --------->|   |  refresh: auth_key = Kbm
     ~~~ back on DAR_1's link ~~~
     |-- BU(src=HoA_1, no HAO, lifetime 0, BAD) ----------->|      de-registration from home

Each kept address has a BUL entry (:mod:`scapy_fama.proto.bul`): BUs are
retransmitted with back-off and new sequence numbers, at most 3 a second per
DAR (held back, not dropped), and the address is reported lost when the back-off
gives up. Released addresses are de-registered if a registration may stand, then
forgotten.

Secure mode (profile §5): before a BU the MN sends a CoTI to the DAR and puts
the CoT's care-of token into Kbm. It does so for every DAR when
``MnConfig.coa_test`` is set, and otherwise for a DAR once that DAR has
answered BA 137 (learnt per DAR, kept for the MN's life): the MN cannot know a
DAR's policy before it speaks, and one wasted round trip per DAR is the price.
One back-off covers the whole exchange (CoTI and BU), so it always ends.

A BA counts only if it matches a BU of the current exchange (135: the newest
one) or, once a BA has accepted a BU, a CGA-signed BU of that exchange sent
after it, and, when a PHKT is involved, carries a valid BAD. A BA 0 to such a
later BU brings the PHKT the DAR holds now (it takes BUs in seq order and each
CGA-signed one replaces the PHKT, RFC 4866 §4.9): the MN takes it even when
bound (:mod:`scapy_fama.proto.bul`, "Late PHKTs"). Two exceptions follow
from the DAR's keys (:mod:`scapy_fama.proto.dar`): refusals are keyed with the
zero care-of token, and a 147 comes without BAD (the DAR has lost the PHKT, so
it cannot authenticate; the cost of a forged one is one CGA-signed BU).

A PHKT the DAR no longer holds (its newer one went to a CoA the MN had left, or
it rebuilt its state) makes the DAR drop every PHKT-authorised BU without a BA
(profile §6 step 4). So when ``PHKT_UNANSWERED`` PHKT-authorised BUs of one
exchange have gone unanswered (the first retransmission's timeout), the MN
doubts its PHKT (:mod:`scapy_fama.proto.bul`, "Doubted PHKTs") and signs the
next BU with its CGA key, a registration or a de-registration alike (the DAR
takes a CGA-signed de-registration and issues a new PHKT with it), in secure
mode with the care-of token as any CGA-signed BU (RFC 4866 §4.4, §4.9)::

    MN                                     DAR (holds PHKT2, the MN PHKT1)
     |-- BU(s, BAD with PHKT1) ------------->|  bad-authenticator: dropped
     |   1 s                                 |
     |-- BU(s+1, BAD with PHKT1) ----------->|  dropped
     |   2 s: doubted                        |
     |-- BU(s+2, CGA) ---------------------->|  PHKT3
     |<- BA(s+2, 0, PHKT3) ------------------|  bound, PHKT3

Attachment is fast by default (profile §2): the RS leaves on link-up
(``rs_delay`` restores RFC 4861's random wait), and the new address is
optimistic (RFC 4429): it is the CoA at once, every BU leaves from it while DAD
runs for ``dad_delay``. With ``optimistic=False`` it stays tentative until DAD
is over (RFC 4862). The driver runs the probe (events ``address-optimistic`` or
``address-tentative``), keeps RFC 4429 §3.3's rules for an optimistic address
(:mod:`scapy_fama.proto.addresses`) and reports a duplicate with
:meth:`MnCore.on_dad_collision`: the address stops (its tunnels go down, the
exchanges from it end), the collision count goes up (at most 2, RFC 3972 §4
step 8) and every binding whose CoA it was is registered again from the new
address. A returning MN runs no DAD on its old address (RFC 6275 §11.5.5).

BUs to different DARs are independent (profile §7): nothing waits for another
DAR's answer. Back home, the de-registration goes first and the BUs for the
other addresses (sent from the HoA) right after it. Their answers come back
through the home DAR, which tunnels the HoA's traffic to the old CoA until it
has taken the de-registration; the de-registration reached it first, so a DAR
that handles its packets in arrival order has removed the binding before any
answer returns and nothing is lost (the SimNet shows it; a kernel-mode DAR hands
the signalling its kernel would tunnel to its automaton for that order,
automata/dataplane.py). A DAR that forwards a packet before it has handled an
earlier de-registration (a fast path beside a slow one) sends such an answer to
the old CoA, and an answer may be lost on the way anyway. So the home BA brings
forward the retransmission of every exchange from the HoA still unanswered: to
``HOME_RTTS`` home round trips after it, instead of
INITIAL_BINDACK_TIMEOUT (1 s) after the message (in the lab, secure mode, the
binding at DAR 2 took 1,004 ms on a return home before, the lost CoT's). A
CGA-signed BU is sent again no sooner than ``HOME_FLOOR`` after it, so that a
slow answer is not asked for twice: a home de-registration may come back in
0.4 ms where another DAR's CGA-signed BU takes 3 ms, and a second CGA-signed BU
costs that DAR a second CGA verification and PHKT, and the MN a second RSA
decryption when the BA bringing the PHKT the DAR then holds comes (see above).
A PHKT-authorised BU and a CoTI have no floor: a second one costs the DAR an
HMAC (the lab's return home, 20 ms links, waited the floor's 250 ms for a lost
answer to a PHKT-authorised BU, and for a lost CoT in secure mode).
Holding the other BUs until the home BA instead costs a home DAR's round trip
on every return, and a home DAR that never answers would hold every other
binding at its old CoA until the back-off gives up (63 s): independence wins.

On the way out (:meth:`MnCore.shutdown`) every binding is de-registered as a
release is, and the BAs are waited for a bounded time (:mod:`scapy_fama.proto.leaving`):
a DAR no longer tunnels to a CoA nobody holds until the lifetime ends.

Data (profile §8): :meth:`MnCore.send` sends natively from the CoA and through
the reverse tunnel from a kept address; what arrives for the MN (natively to
the CoA, or through a kept address's tunnel from its DAR) is a ``Deliver``.
:meth:`MnCore.echo` is the UDP Echo service (RFC 862) a driver may run on a
port: it answers a delivered datagram through :meth:`MnCore.send`, so it is
how a tester on the link makes an MN send data from a given address.
"""

from __future__ import annotations

from collections.abc import Callable

from scapy_fama.crypto import (
    ZERO_TOKEN,
    CgaParams,
    KeyPair,
    PhktError,
    cga_check,
    check_authenticator,
    decrypt_phkt,
    kbm,
    next_collision,
    verify_mh_signature,
)
from scapy_fama.proto.addresses import AddressRecord, CgaSource, kept_lifetime, prefix_problem
from scapy_fama.proto.authorise import key_refusal
from scapy_fama.proto.bul import BulEntry, BulEvent, BulState, CareOfToken, Due, SentBu
from scapy_fama.proto.config import MnConfig
from scapy_fama.proto.effects import Deliver, Drop, Effects, Notify, Send, TunnelDown, TunnelUp
from scapy_fama.proto.keep import KeepRules
from scapy_fama.proto.leaving import Leaving
from scapy_fama.proto.messages import (
    BindingAck,
    BindingError,
    BindingUpdate,
    CareOfTest,
    CareOfTestInit,
    Datagram,
    Message,
    RouterAdvertisement,
    RouterSolicitation,
    Tunnelled,
    Undecodable,
    wire_lifetime,
)
from scapy_fama.proto.retransmit import RateWindow, random_delay
from scapy_fama.proto.seqno import HALF, seq_distance
from scapy_fama.proto.status import REFUSED, BaStatus, BeStatus
from scapy_fama.wire.numbers import LIFETIME_UNIT

COOKIE_LEN = 8  # RFC 6275 §6.1.4
HOME_RTTS = 2  # home round trips an exchange from the HoA gets after the home BA before it is sent again
HOME_FLOOR = 0.25  # seconds after a CGA-signed BU before it is sent again, at the earliest (a quarter of INITIAL_BINDACK_TIMEOUT)
# PHKT-authorised BUs of one exchange left unanswered before the next BU is CGA-signed (RFC 4866
# §4.4). Two: the next BU goes when the first retransmission's timeout passes, 1 s + 2 s after the
# first BU (profile §7), where the back-off alone gives up after 63 s. One would make every lost BU
# or BA (the loss RFC 6275 §11.8 retransmits for: the retransmission costs the DAR one HMAC) cost
# an RSA verification from the DAR's CGA budget (profile §6 DoS guard, proto.dosguard), shared
# with every MN's first BUs; two in a row are lost about (2p)^2 of the time on a link losing p of
# the packets each way, against 2p for one.
PHKT_UNANSWERED = 2
_IN_USE = (BulState.TESTING, BulState.REGISTERING, BulState.BOUND)


class MnCore:
    """One mobile node: addresses, keep policy, BUL, data. No I/O, no clock."""

    def __init__(
        self, keypair: KeyPair, *, config: MnConfig = MnConfig(), rand: Callable[[int], bytes]
    ) -> None:
        self.keypair = keypair
        self.config = config
        self._rand = rand
        self._cgas = CgaSource(keypair, config.sec, config.fresh_modifier, rand)
        self._keep = KeepRules(config.keep)
        self._rate = RateWindow()
        self._records: dict[str, AddressRecord] = {}
        self._current: str | None = None  # the address of the current link (maybe tentative)
        self._attached = False  # an RA has been taken since the last link change
        self._rs_left = 0
        self._rs_at: float | None = None
        self._secure_dars: set[str] = set()
        self._leaving: Leaving | None = None  # the shutdown under way (proto.leaving)

    # ---------------------------------------------------------------- views

    @property
    def current_address(self) -> str | None:
        return self._current

    def addresses(self) -> list[str]:
        return list(self._records)

    def record(self, address: str) -> AddressRecord | None:
        return self._records.get(address)

    def _coa(self) -> str | None:
        """The current address once usable (optimistic or preferred): the CoA of every binding."""
        rec = self._records.get(self._current) if self._current else None
        return rec.address if rec is not None and rec.usable else None

    # ---------------------------------------------------------------- timers

    def next_deadline(self) -> float | None:
        times = [self._rs_at, self._leaving.next_deadline() if self._leaving else None]
        for rec in self._records.values():
            times += [
                rec.dad_until,
                rec.bul.timer,
                rec.bul.bound_until if rec.bul.tunnel else None,
            ]
        return min((t for t in times if t is not None), default=None)

    def on_timer(self, now: float) -> Effects:
        effects = self._left(now)  # a shutdown's deadline first: nothing is sent again at it
        if self._rs_at is not None and now >= self._rs_at:
            effects += self._solicit(now)
        for rec in list(self._records.values()):
            if rec.address not in self._records:  # dropped by an earlier effect of this tick
                continue
            if rec.dad_until is not None and now >= rec.dad_until:
                effects += self._dad_done(rec, now)
            e = rec.bul
            if e.tunnel and e.bound_until is not None and now >= e.bound_until:
                effects += self._tunnel_down(rec) + [Notify("binding-expired", self._about(rec))]
            if e.timer is not None and now >= e.timer:
                effects += self._fire(rec, now)
        return effects + self._left(now)

    def _fire(self, rec: AddressRecord, now: float) -> Effects:
        e = rec.bul
        due = e.due
        e.set_timer(None, None)
        if due is Due.REFRESH:  # profile §7: 80 % of the granted lifetime
            assert e.coa is not None
            e.fire(BulEvent.REGISTER, e.coa)
        elif due is Due.TIMEOUT:
            assert e.backoff is not None
            if not e.backoff.expired():  # profile §7: give up after the 32 s step
                return self._give_up(rec, "no answer after the 32 s back-off step")
            if e.phkt is not None and e.unanswered >= PHKT_UNANSWERED:
                # RFC 4866 §4.4 (repeated failures with a PHKT: renew it with a CGA BU) and §4.9
                # (renew at any time): a DAR whose PHKT differs drops PHKT-authorised BUs
                # silently (profile §6 step 4), so silence is all the MN can go by
                unanswered = e.unanswered
                e.fire(BulEvent.PHKT_DOUBTED)
                doubted = Notify("phkt-doubted", {**self._about(rec), "unanswered": unanswered})
                return [doubted] + self._signal(rec, now)
        return self._signal(rec, now)

    # ---------------------------------------------------------------- attachment (profile §2)

    def on_link_up(self, now: float) -> Effects:
        """Profile §2 step 1: the RS goes at once (RFC 4861 §6.3.7's random delay is rs_delay)."""
        effects = self._detach()
        self._rs_left = self.config.rs_count
        delay = random_delay(self._rand, self.config.rs_delay)
        if delay > 0:
            self._rs_at = now + delay
            return effects
        return effects + self._solicit(now)

    def on_link_down(self, now: float) -> Effects:
        return self._detach()

    def _solicit(self, now: float) -> Effects:
        self._rs_left -= 1
        self._rs_at = now + self.config.rs_interval if self._rs_left > 0 else None
        return [Send(RouterSolicitation("::"))]  # RFC 4861 §6.3.7; RFC 4429 §3.3: never optimistic

    def _detach(self) -> Effects:
        """The link is gone: exchanges stop, tunnels from the old CoA go down. A tentative
        address was never used and is dropped; an optimistic one was, and stays as an earlier
        address (its DAD probe had its round trip on the link; the keep policy decides)."""
        effects: Effects = []
        self._attached = False
        self._current = None
        self._rs_at = None
        for rec in list(self._records.values()):
            if not rec.usable:
                del self._records[rec.address]
                continue
            rec.dad_until = None
            effects += self._suspend(rec)
        return effects

    def _suspend(self, rec: AddressRecord) -> Effects:
        """The CoA of ``rec``'s exchange or binding is gone: stop it, take its tunnel down."""
        effects = self._tunnel_down(rec)
        rec.bul.fire(BulEvent.SUSPEND)
        rec.bul.bound_until = None
        return effects

    def _on_ra(self, ra: RouterAdvertisement, now: float) -> Effects:
        held = next((r for r in self._records.values() if r.prefix == ra.prefix), None)
        problem = prefix_problem(ra, new=held is None)  # RFC 4862 §5.5.3 (proto.addresses)
        if problem is not None:
            return [Drop(ra, f"ra-ignored: {problem}")]
        if ra.router_lifetime == 0:
            return self._not_a_router(ra)
        if self._attached:
            rec = self._records.get(self._current) if self._current else None
            if rec is not None and rec.prefix == ra.prefix:
                rec.valid_lifetime = kept_lifetime(rec.valid_lifetime, ra.valid_lifetime)
                return []
            return [
                Drop(
                    ra,
                    f"ra-other-prefix: {ra.prefix}, attached to {rec.prefix if rec else 'nothing'}",
                )
            ]
        self._attached = True
        self._rs_at = None
        rec = held
        if rec is not None:  # back on an earlier DAR's link: the address is native again
            rec.valid_lifetime = kept_lifetime(rec.valid_lifetime, ra.valid_lifetime)
            rec.released = False
            self._current = rec.address
            return self._home(rec, now) + self._apply_keep(now)
        cga = self._cgas.for_prefix(ra.prefix)
        seq = int.from_bytes(self._rand(2), "big")  # RFC 6275 §9.5.1: start at a random value
        bul = BulEntry(cga.address, ra.dar_address, seq)
        return self._new_address(
            AddressRecord(cga, ra.prefix, ra.dar_address, ra.valid_lifetime, bul), now
        )

    def _not_a_router(self, ra: RouterAdvertisement) -> Effects:
        """An RA with Router Lifetime 0: its sender is not a default router (RFC 4861 §6.3.4:
        one in the Default Router List is timed out at once). The profile is silent on it: its
        DAR is the first-hop router of the link (§1), through which the CoA's new flows and
        every BU and tunnel from it go (§1, §7, §8), and §9 lists no deviation here, so the
        RFC's rule holds. Such a DAR is not one to attach to: the MN goes on soliciting (§6.3.7:
        only an RA with a non-zero Router Lifetime ends the RSs). From the DAR it is attached
        to, it ends the attachment as a link change does (the CoA's exchanges stop, its
        tunnels go down; the address stays an earlier one for the keep policy) after the PIO
        is taken, which the Router Lifetime does not cover (§6.3.4); the next RA with a
        non-zero Router Lifetime attaches the MN again, to that DAR or another of the link."""
        rec = self._records.get(self._current) if self._attached and self._current else None
        if rec is None or rec.prefix != ra.prefix:
            return [Drop(ra, f"ra-not-a-router: {ra.src} advertises Router Lifetime 0")]
        rec.valid_lifetime = kept_lifetime(rec.valid_lifetime, ra.valid_lifetime)
        return [Notify("router-lost", {**self._about(rec), "router": ra.src})] + self._detach()

    def _new_address(self, rec: AddressRecord, now: float) -> Effects:
        """Profile §2 step 3: DAD starts; an optimistic address is usable at once (RFC 4429)."""
        self._records[rec.address] = rec
        self._current = rec.address
        if self.config.dad_delay <= 0:
            return [Notify("address-tentative", self._about(rec))] + self._configured(rec, now)
        rec.dad_until = now + self.config.dad_delay
        rec.optimistic = self.config.optimistic
        if not rec.optimistic:  # RFC 4862 §5.4: unusable until DAD is over
            return [Notify("address-tentative", self._about(rec))]
        return [Notify("address-optimistic", self._about(rec))] + self._configured(rec, now)

    def _configured(self, rec: AddressRecord, now: float) -> Effects:
        """``rec`` is usable: it is the CoA now, and every kept address is registered from it."""
        self._keep.configured(rec.address)
        return [Notify("address-configured", self._about(rec))] + self._apply_keep(now)

    def _dad_done(self, rec: AddressRecord, now: float) -> Effects:
        rec.dad_until = None
        if rec.optimistic:  # RFC 4429 §3.1: optimistic -> preferred; it was in use already
            return [Notify("address-preferred", self._about(rec))]
        return self._configured(rec, now)

    def on_dad_collision(self, address: str, now: float) -> Effects:
        """The driver saw ``address`` in use while its DAD ran (profile §2 step 3): the address
        stops, the next collision count makes a new one (RFC 3972 §4 step 8), and every binding
        whose CoA it was is registered again from the new address once that is usable."""
        rec = self._records.get(address)
        if rec is None or rec.dad_until is None:
            return [Notify("dad-collision-ignored", {"address": address})]
        del self._records[address]
        self._keep.withdraw(address)
        effects: Effects = [
            Notify("address-duplicate", {**self._about(rec), "optimistic": rec.optimistic})
        ]
        for other in self._records.values():
            if other.bul.coa == address and other.bul.state is not BulState.IDLE:
                effects += self._suspend(other)
        try:
            cga = next_collision(rec.cga)
        except ValueError as exc:
            self._current = None
            return effects + [
                Notify("dad-failed", {"address": address, "prefix": rec.prefix, "why": str(exc)})
            ]
        bul = BulEntry(cga.address, rec.dar, rec.bul.seq)
        return effects + self._new_address(
            AddressRecord(cga, rec.prefix, rec.dar, rec.valid_lifetime, bul), now
        )

    def _home(self, rec: AddressRecord, now: float) -> Effects:
        """Profile §4: de-register from home (src = HoA, no HAO) if a registration may stand.
        It goes first; the BUs for the other addresses follow at once (profile §7), see the
        module's docstring for why nothing waits for its BA."""
        if not rec.bul.registered:
            return []
        rec.bul.fire(BulEvent.DEREGISTER, rec.address)
        return self._signal(rec, now)

    # ---------------------------------------------------------------- keep policy (profile §3)

    def open_flow(self, address: str) -> None:
        self._known(address)
        self._keep.open_flow(address)

    def close_flow(self, address: str, now: float) -> Effects:
        """The last flow of a non-current address ends: under ``flows`` it is released now."""
        self._keep.close_flow(address)
        return self._apply_keep(now)

    def pin(self, address: str, now: float) -> Effects:
        self._known(address)
        self._keep.pin(address, True)
        return self._apply_keep(now)

    def unpin(self, address: str, now: float) -> Effects:
        self._known(address)
        self._keep.pin(address, False)
        return self._apply_keep(now)

    def _known(self, address: str) -> None:
        if address not in self._records:
            raise ValueError(f"{address} is not an address of this MN")

    def _apply_keep(self, now: float) -> Effects:
        """Register every kept address from the CoA, release the others (profile §3).

        Idempotent; runs at each handover and when flows or pins change. A
        release is final. Without a usable CoA it waits for the next attachment.
        """
        coa = self._coa()
        if coa is None:
            return []
        effects: Effects = []
        for rec in list(self._records.values()):
            if rec.address == coa:
                continue
            if rec.released or not self._keep.keep(rec.address):
                effects += self._release(rec, coa, now)
            elif not (rec.bul.coa == coa and rec.bul.state in _IN_USE):
                rec.bul.fire(BulEvent.REGISTER, coa)
                effects += self._signal(rec, now)
        return effects

    def _release(self, rec: AddressRecord, coa: str, now: float) -> Effects:
        rec.released = True
        e = rec.bul
        if e.state is BulState.DEREGISTERING and e.coa == coa:
            return []
        if not e.registered:
            return self._forget(rec, "address-released", deregistered=False)
        e.fire(BulEvent.DEREGISTER, coa)
        return self._tunnel_down(rec) + self._signal(rec, now)

    def _forget(self, rec: AddressRecord, event: str, **data: object) -> Effects:
        effects = self._tunnel_down(rec)
        del self._records[rec.address]
        self._keep.forget(rec.address)
        return effects + [Notify(event, {**self._about(rec), **data})]

    def _give_up(self, rec: AddressRecord, why: str) -> Effects:
        rec.bul.fire(BulEvent.GIVE_UP)
        if self._leaving is not None:  # reported here, with its reason
            self._leaving.settled(rec.address, deregistered=False)
        if rec.address == self._current:  # a de-registration from home went unanswered
            return [Notify("deregistration-failed", {**self._about(rec), "why": why})]
        if rec.released:
            return self._forget(rec, "address-released", deregistered=False, why=why)
        return self._forget(rec, "address-lost", why=why)  # profile §7

    # ------------------------------------------------------------ signalling (profile §4, §5, §7)

    def _signal(self, rec: AddressRecord, now: float) -> Effects:
        """Send the exchange's next message (CoTI or BU), or hold it for the rate limit."""
        e = rec.bul
        assert e.coa is not None and e.backoff is not None
        coti = e.state is not BulState.DEREGISTERING and self._needs_coa_test(e, now)
        key = (e.dar, "coti" if coti else "bu")
        allowed = self._rate.allowed_at(key, now)  # RFC 6275 §13 MAX_UPDATE_RATE
        if allowed > now:
            e.set_timer(allowed, Due.SEND)
            return []
        self._rate.note(key, now)
        msg = self._coti(e) if coti else self._bu(rec, now)
        e.set_timer(now + e.backoff.wait, Due.TIMEOUT)
        return [Send(msg)]

    def _needs_coa_test(self, e: BulEntry, now: float) -> bool:
        secure = self.config.coa_test or e.dar in self._secure_dars
        return secure and not (
            e.care_of is not None and e.coa is not None and e.care_of.usable(e.coa, now)
        )

    def _coti(self, e: BulEntry) -> CareOfTestInit:
        assert e.coa is not None
        e.fire(BulEvent.COA_TEST)
        e.cookie = self._rand(COOKIE_LEN)  # a fresh cookie every time (RFC 6275 §11.8)
        return CareOfTestInit(e.coa, e.dar, e.cookie)

    def _bu(self, rec: AddressRecord, now: float) -> BindingUpdate:
        e = rec.bul
        coa = e.coa
        assert coa is not None
        dereg = e.state is BulState.DEREGISTERING
        seq = e.next_seq()
        care_of = (
            e.care_of
            if not dereg and e.care_of is not None and e.care_of.usable(coa, now)
            else None
        )
        token = care_of.token if care_of else None
        # RFC 4866 §4.9: renew the PHKT (a CGA-signed BU) well before the seq space wraps under it
        signed = e.phkt is None or seq_distance(seq, e.phkt_seq) >= HALF
        hoa = None if coa == rec.address else rec.address  # from home: no HAO (profile §4)
        # a registration asks for one lifetime unit at least: 0 would de-register (RFC 6275 §6.1.7)
        asked = max(min(self.config.binding_lifetime, rec.valid_lifetime), LIFETIME_UNIT)
        lifetime = 0 if dereg else wire_lifetime(asked)
        if not dereg:
            e.registered = True
        auth_coa = rec.address if dereg else coa
        # a doubted PHKT still keys the refusals to a CGA-signed BU (proto.bul "Doubted PHKTs")
        e.note(SentBu(seq, coa, auth_coa, now, dereg, e.phkt or e.doubted, token, cga=signed))
        if signed:  # profile §4 first BU; §5 adds NI + BAD with the care-of token
            return BindingUpdate(
                coa,
                e.dar,
                hoa,
                seq,
                lifetime,
                cga_params=rec.cga.params,
                cga_request=self.config.request_dar_signature,
                nonce_indices=(0, care_of.index) if care_of else None,
                sign_with=self.keypair,
                auth_key=kbm(ZERO_TOKEN, token, deregistration=dereg) if care_of else None,
            )
        assert e.phkt is not None
        return BindingUpdate(  # profile §4 later BUs: NI(HNI=0, CNI) + BAD
            coa,
            e.dar,
            hoa,
            seq,
            lifetime,
            nonce_indices=(0, care_of.index if care_of else 0),
            auth_key=kbm(e.phkt, token, deregistration=dereg),
        )

    def _on_cot(self, cot: CareOfTest, now: float) -> Effects:
        rec = next(
            (
                r
                for r in self._records.values()
                if r.bul.state is BulState.TESTING
                and r.bul.dar == cot.src
                and r.bul.cookie == cot.cookie
            ),
            None,
        )
        if rec is None or cot.dst != rec.bul.coa:
            return [Drop(cot, "unexpected-cot: no CoTI with this cookie from this CoA to this DAR")]
        e = rec.bul
        e.care_of = CareOfToken(cot.dst, cot.index, cot.token, now)
        e.fire(BulEvent.COT)
        e.cookie = None
        return self._signal(rec, now)

    def _on_ba(self, ba: BindingAck, now: float) -> Effects:
        rec = self._records.get(ba.hoa or ba.dst)
        if rec is None or rec.dar != ba.src:
            return [
                Drop(ba, f"unknown-binding: no address {ba.hoa or ba.dst} anchored at {ba.src}")
            ]
        if ba.framing:  # RFC 4866 §4.4 / RFC 6275 §11.7.3: misplaced options, silent discard
            return [Drop(ba, "framing: " + "; ".join(ba.framing))]
        e = rec.bul
        sent = e.latest() if ba.status == BaStatus.SEQ_OUT_OF_WINDOW else e.sent.get(ba.seq)
        renewal = sent is None and ba.status != BaStatus.SEQ_OUT_OF_WINDOW
        if renewal:  # RFC 6275 §11.7.3 an outstanding BU: CGA-signed, after the one accepted
            # (RFC 4866 §4.9, profile §6 step 3: proto.bul "Late PHKTs")
            sent = e.renewals.get(ba.seq)
        if sent is None or sent.src != ba.dst:  # RFC 6275 §11.7.3
            return [Drop(ba, f"no-outstanding-bu: seq {ba.seq}")]
        problem, phkt = self._check_ba(ba, sent)
        if problem is not None:
            return [Drop(ba, problem)]
        if renewal:
            return self._renewed(rec, sent, ba, phkt)
        e.heard()  # the DAR hears the MN with the keys it holds: nothing to doubt (_fire)
        effects: Effects = []
        if phkt is not None:  # RFC 4866 §4.8: a new PHKT replaces the old one
            e.store(phkt, sent.seq)
            effects.append(Notify("phkt-stored", self._about(rec)))
        return effects + self._on_status(rec, sent, ba, now)

    def _renewed(
        self, rec: AddressRecord, sent: SentBu, ba: BindingAck, phkt: bytes | None
    ) -> Effects:
        """A verified BA to a CGA-signed BU newer than the last one a BA accepted. The DAR took
        the BUs in seq order (profile §6 step 3) and each CGA-signed one it accepted issued a
        PHKT that replaced the one before (RFC 4866 §4.9): if this BA accepts, its PHKT is the
        one the DAR holds now, and it replaces the MN's whatever the state (profile §7 "store a
        new PHKT"); an older one coming after it no longer counts (proto.bul). A refusal
        changed nothing at the DAR."""
        e = rec.bul
        if ba.status >= REFUSED:
            return [Drop(ba, f"late-refusal: status {ba.status} to seq {ba.seq} changed nothing")]
        assert phkt is not None  # _check_ba: a BA accepting a CGA-signed BU issues one (profile §4)
        e.fire(BulEvent.PHKT_RENEWED, seq=sent.seq)
        e.store(phkt, sent.seq)
        return [Notify("phkt-stored", {**self._about(rec), "late": True})]

    def _check_ba(self, ba: BindingAck, sent: SentBu) -> tuple[str | None, bytes | None]:
        """Profile §7: decrypt a PHKT, check the DAR's signature if asked for, then the BAD."""
        phkt = None
        if ba.phkt_ciphertext is not None and (not sent.cga or ba.status >= REFUSED):
            # a DAR issues a PHKT only accepting a CGA-signed BU (profile §4, §6 step 4): any
            # other is forged, and dropped before the RSA decryption (profile §6 cost before trust)
            return "phkt-unasked: a PHKT in a BA that does not accept a CGA-signed BU", None
        if ba.phkt_ciphertext is not None:
            try:
                phkt = decrypt_phkt(self.keypair, ba.phkt_ciphertext)
            except PhktError as exc:
                return f"phkt: {exc}", None
            if self.config.request_dar_signature and not self._dar_signature_ok(ba, sent):
                return (
                    "dar-signature: missing, or not valid for the DAR's CGA (RFC 4866 §4.4)",
                    None,
                )
        if ba.status < REFUSED and sent.cga and phkt is None:
            return "phkt-missing: a BA accepting a CGA-signed BU issues a PHKT (profile §4)", None
        home = phkt or sent.phkt
        if home is None:
            return None, None  # no PHKT on either side yet: nothing keys a BAD
        if ba.bad is None:
            if ba.status == BaStatus.PHKT_UNAVAILABLE and phkt is None:
                return None, None  # the DAR has no PHKT left to authenticate with
            return "bad-missing: a PHKT exists, so the BA must carry a BAD", None
        care_of = sent.care_of if ba.status < REFUSED else None
        key = kbm(home, care_of, deregistration=sent.deregistration)
        if not check_authenticator(ba.bad, key, sent.auth_coa, ba.src, ba.auth_data):
            return "bad-authenticator: the BA's BAD does not verify", None
        return None, phkt

    def _dar_signature_ok(self, ba: BindingAck, sent: SentBu) -> bool:
        if ba.cga_params is None or ba.signature is None:
            return False
        if not cga_check(ba.src, ba.cga_params):  # the DAR's address is a CGA of its parameters
            return False
        public_key = CgaParams.decode(ba.cga_params).public_key
        if key_refusal(public_key) is not None:  # bounded before any RSA work (proto.authorise)
            return False
        return verify_mh_signature(public_key, sent.auth_coa, ba.src, ba.signed_data, ba.signature)

    def _on_status(self, rec: AddressRecord, sent: SentBu, ba: BindingAck, now: float) -> Effects:
        e = rec.bul
        if ba.status < REFUSED:
            return self._accepted(rec, sent, ba, now)
        if ba.status == BaStatus.SEQ_OUT_OF_WINDOW:  # resync and resend (RFC 6275 §11.7.3)
            e.seq = ba.seq
            return self._signal(rec, now)
        if (
            ba.status == BaStatus.PHKT_UNAVAILABLE
        ):  # the DAR lost the PHKT: CGA-sign again (RFC 4866 §4.3); nothing keys its answers
            e.phkt = e.doubted = None
            return self._signal(rec, now)
        if ba.status == BaStatus.EXPIRED_CARE_OF_NONCE and not sent.deregistration:  # profile §5
            self._secure_dars.add(e.dar)
            e.care_of = None
            return [Notify("coa-test-required", self._about(rec))] + self._signal(rec, now)
        refused = Notify("bu-refused", {**self._about(rec), "status": ba.status})
        if ba.status == BaStatus.INSUFFICIENT_RESOURCES:
            # the retransmission timer tries again, at a random point of 0.5-1.5x the wait: MNs
            # refused together (a DAR's CGA budget, profile §6 DoS guard) must not retry together
            assert e.backoff is not None
            jitter = 0.5 + random_delay(self._rand, 1.0)
            e.set_timer(now + e.backoff.wait * jitter, Due.TIMEOUT)
            return [refused]
        return [refused] + self._give_up(
            rec, f"BA status {ba.status}"
        )  # 148 and others: no retry loop

    def _accepted(self, rec: AddressRecord, sent: SentBu, ba: BindingAck, now: float) -> Effects:
        e = rec.bul
        if sent.deregistration:
            e.registered = False
            e.fire(BulEvent.DEREGISTERED, seq=sent.seq)
            e.bound_until = None
            if self._leaving is not None:
                self._leaving.settled(rec.address, deregistered=True)
            if sent.src == rec.address:  # from home (profile §4): see the module's docstring
                self._home_taken(rec.address, now - sent.at, now)
            effects: Effects = [Notify("binding-deregistered", self._about(rec))]
            if rec.released:
                effects += self._forget(rec, "address-released", deregistered=True)
            return effects
        e.ever_bound = True
        e.fire(BulEvent.ACCEPTED, seq=sent.seq)
        # RFC 6275 §11.7.3: the lifetime runs from when the BU was sent
        e.bound_until = sent.at + ba.lifetime
        refresh = sent.at + self.config.refresh_fraction * ba.lifetime
        if ba.refresh_interval is not None:  # Binding Refresh Advice
            refresh = min(refresh, sent.at + ba.refresh_interval)
        e.set_timer(refresh, Due.REFRESH)
        effects = []
        if e.tunnel != e.coa:
            assert e.coa is not None
            effects = self._tunnel_down(rec) + [TunnelUp(e.coa, e.dar, rec.address)]
            e.tunnel = e.coa
        return effects + [
            Notify(
                "binding-registered", {**self._about(rec), "coa": e.coa, "lifetime": ba.lifetime}
            )
        ]

    def _home_taken(self, home: str, rtt: float, now: float) -> None:
        """The home DAR has taken the de-registration of ``home``, ``rtt`` after it was sent: an
        exchange from ``home`` whose answer it may have tunnelled to the old CoA meanwhile is
        retransmitted HOME_RTTS round trips from now if still unanswered then; a CGA-signed BU
        no sooner than HOME_FLOOR after it was sent."""
        for rec in self._records.values():
            e = rec.bul
            if e.due is not Due.TIMEOUT or e.timer is None or rec.address == home or e.coa != home:
                continue
            soon = now + HOME_RTTS * rtt
            last = e.sent.get(e.seq) if e.state is not BulState.TESTING else None
            if last is not None and last.cga:
                soon = max(soon, last.at + HOME_FLOOR)
            if e.timer > soon:
                e.set_timer(soon, Due.TIMEOUT)

    def _tunnel_down(self, rec: AddressRecord) -> Effects:
        e = rec.bul
        if e.tunnel is None:
            return []
        down = TunnelDown(e.tunnel, e.dar, rec.address)
        e.tunnel = None
        return [down]

    def _on_be(self, be: BindingError, now: float) -> Effects:
        rec = self._records.get(be.hoa)
        if rec is None or rec.dar != be.src:  # RFC 6275 §11.3.6: no BUL entry, ignore
            return [Drop(be, f"unknown-binding: Binding Error for {be.hoa} from {be.src}")]
        effects: Effects = [Notify("binding-error", {**self._about(rec), "status": be.status})]
        coa = self._coa()
        if (
            be.status == BeStatus.UNKNOWN_BINDING
            and rec.bul.state is BulState.BOUND
            and coa is not None
        ):
            rec.bul.fire(BulEvent.REGISTER, coa)  # the DAR lost the binding: register again
            effects += self._signal(rec, now)
        return effects

    # ---------------------------------------------------------------- exit (profile §3, §4)

    @property
    def leaving(self) -> bool:
        """:meth:`shutdown` was called: the MN is on its way out (for good)."""
        return self._leaving is not None

    def shutdown(self, now: float, within: float) -> Effects:
        """The MN stops: every binding that may stand at a DAR is de-registered, and the BAs are
        waited for until ``now + within`` (:mod:`scapy_fama.proto.leaving`). Every address but the
        CoA is released (profile §3: a de-registration from the CoA, profile §4); the CoA's own
        registration, which stands only after a return home whose de-registration is still
        running or gave up, is de-registered from home (RFC 6275 §11.5.5). ``shutdown-done``
        ends it, at once when there is nothing to wait for. Called again: nothing more."""
        if self._leaving is not None:
            return []
        if not within >= 0:
            raise ValueError(f"the shutdown needs a time of 0 s or more, not {within}")
        coa = self._coa()
        effects: Effects = []
        for rec in list(self._records.values()) if coa is not None else []:
            if rec.address != coa:
                effects += self._release(rec, coa, now)
            elif rec.bul.registered and rec.bul.state is not BulState.DEREGISTERING:
                effects += self._home(rec, now)
        awaited = {r.address: r.dar for r in self._records.values() if r.bul.registered}
        self._leaving = Leaving(now, now + within, awaited)
        return effects + self._left(now)

    def hurry(self, now: float) -> Effects:
        """The shutdown's time is up now (its user will not wait): what it still waits for is
        given up and reported, as at its deadline."""
        if self._leaving is None:
            return []
        self._leaving.hurry(now)
        return self._left(now)

    def _left(self, now: float) -> Effects:
        """The shutdown's reports, once nothing it waits for runs or its time is up."""
        return [] if self._leaving is None else self._leaving.finish(self._records, now)

    # ---------------------------------------------------------------- data (profile §8)

    def send(
        self, src: str, dst: str, sport: int, dport: int, payload: bytes, now: float
    ) -> Effects:
        """Data from ``src``: native from the CoA, reverse-tunnelled from a kept address."""
        datagram = Datagram(src, dst, sport, dport, payload)
        coa = self._coa()
        if coa is None:
            return [Drop(datagram, "no-address: not attached, or DAD still running")]
        if src == coa:
            return [Send(datagram)]
        rec = self._records.get(src)
        if rec is None or rec.bul.tunnel != coa:
            return [Drop(datagram, f"not-anchored: {src} has no binding from {coa}")]
        return [Send(Tunnelled(coa, rec.dar, datagram))]  # RFC 6275 §11.3.1 reverse tunnel

    def echo(self, datagram: Datagram, port: int, now: float) -> Effects:
        """The UDP Echo service (RFC 862) on ``port``, for a datagram the core delivered.

        A datagram to ``port`` goes back to its source with the same payload, from the
        address and port it was sent to: :meth:`send` takes the way, so an answer from a
        kept address is reverse-tunnelled and one from the CoA goes natively (profile §8).
        Other ports: no effect. Not answered: source port 0 (RFC 768: no port to answer
        to) and the echo port itself (two echo services would bounce it for ever).
        """
        if datagram.dport != port:
            return []
        if datagram.sport in (0, port):
            return [Drop(datagram, f"echo-refused: source port {datagram.sport}")]
        return self.send(datagram.dst, datagram.src, port, datagram.sport, datagram.payload, now)

    def on_message(self, msg: Message, now: float) -> Effects:
        if isinstance(msg, RouterAdvertisement):
            return self._on_ra(msg, now)
        if isinstance(msg, BindingAck):
            return self._on_ba(msg, now) + self._left(now)
        if isinstance(msg, CareOfTest):
            return self._on_cot(msg, now)
        if isinstance(msg, BindingError):
            return self._on_be(msg, now)
        if isinstance(msg, Tunnelled):
            return self._on_tunnelled(msg)
        if isinstance(msg, Datagram):
            if msg.dst == self._coa():
                return [Deliver(msg)]
            return [Drop(msg, f"not-for-me: {msg.dst} is not the current address")]
        if isinstance(msg, Undecodable):  # what the codec refused: silently, but saying why
            return [Drop(msg, f"undecodable: {msg.reason}")]
        return [Drop(msg, f"unexpected: an MN does not handle {type(msg).__name__}")]

    def _on_tunnelled(self, tunnelled: Tunnelled) -> Effects:
        inner = tunnelled.inner
        coa = self._coa()
        rec = self._records.get(inner.dst)
        if (
            not isinstance(inner, Datagram)
            or tunnelled.dst != coa
            or rec is None
            or rec.address == coa
        ):
            return [Drop(tunnelled, f"unexpected-tunnel: to {tunnelled.dst} for {inner.dst}")]
        if rec.dar != tunnelled.src:  # RFC 6275 §10.4.5: the outer source must be the HoA's DAR
            return [
                Drop(tunnelled, f"spoofed-tunnel: {tunnelled.src} is not the DAR of {inner.dst}")
            ]
        return [Deliver(inner)]

    @staticmethod
    def _about(rec: AddressRecord) -> dict[str, object]:
        return {"address": rec.address, "dar": rec.dar}
