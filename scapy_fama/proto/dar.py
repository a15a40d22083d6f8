"""DarCore: the Distributed Anchor Router as a sans-I/O state machine (profile §1, §2, §5, §6, §8).

Theory of operation
-------------------
A DAR advertises one /64 (RA with a PIO, R=1) and is the home agent of every
address configured from it. The MN registers a kept address from wherever it
is now; the DAR then tunnels that address's traffic to the CoA::

    MN (CoA, HoA_i)                                        DAR_i
      |-- RS ------------------------------------------------>|  (while on DAR_i's link)
      |<- RA(prefix_i, R=1, DAR_i) ---------------------------|
      ... moves to another DAR, keeps HoA_i ...
      |-- BU(seq, HAO=HoA_i, CGA Params, Signature) --------->|  §6 steps 1-7
      |<- BA(0, RH2=HoA_i, PHKT enc. to the MN key, BAD) -----|  binding + tunnel up
      |-- BU(seq+1, HAO=HoA_i, NI(0, CNI), BAD) ------------->|  PHKT-authorised refresh
      |<=== IPv6-in-IPv6: DAR_i -> CoA, inner for HoA_i ======|  §8
      |==== IPv6-in-IPv6: CoA -> DAR_i, inner from HoA_i ====>|  decapsulated only if CoA matches
      |-- BU(lifetime 0) ------------------------------------>|  binding + tunnel gone, record kept

Secure mode (``require_coa_test``) puts a CoTI/CoT exchange before the BU
(:mod:`scapy_fama.proto.nonces`).

RAs (profile §2 step 1): an RS from a unicast source gets a unicast RA at once,
one from ``::`` a multicast RA, at most one per ``min_delay_between_ras``; the
RFC's random delays are options (:mod:`scapy_fama.proto.adverts`).

Routing. A message for this DAR (its global or link-local address, or the
all-routers / all-nodes groups for ND; a Mobility Header to a group is dropped
unanswered, RFC 6275 §6.1.7) is processed here. Anything else is
routed, as a router does: to the CoA inside a tunnel when its destination is a
bound HoA (RFC 6275 §10.4.1; a packet already four tunnels deep is dropped,
RFC 2473 §4.1), otherwise as ``Forward`` (onto the access link
when the destination is in the prefix and on-link, else upstream; the driver
picks the interface). Data and tunnelled packets lose one hop on the way.

Keys of the BAs (both sides must agree without a byte more on the wire):
BAs that accept a BU use the same Kbm as the BU (PHKT and the validated
care-of token, or SHA1(PHKT) for a de-registration, profile §4); BAs that
refuse one (status >= REFUSED) use the zero care-of token, since the DAR may not
hold a valid care-of token when it refuses. A BA carries a BAD whenever the
DAR holds a PHKT for the HoA (profile §6 step 7).

Step 4 (:mod:`scapy_fama.proto.authorise`) stores nothing: what it proved (a
new PHKT for a CGA BU) is stored only when the BU is accepted, so a BU refused
at step 6 (130) or with 139 (H=0 for a home registration, RFC 6275 §9.5.1,
checked after step 4 so that only an authorised sender learns of a binding)
leaves no state behind (profile §6). Bounded state: the binding cache
(``cache_capacity``), the security records (``record_capacity``, the oldest
idle one replaced, :mod:`scapy_fama.proto.cache`), the CGA and Binding Error
budgets (global and per source /64, :mod:`scapy_fama.proto.dosguard`), the RA
schedule (:mod:`scapy_fama.proto.adverts`) and the care-of nonces (nine at most,
:mod:`scapy_fama.proto.nonces`).

Departures from the letter of profile §6, on purpose:
* step 4 tests the care-of token (137) before any CGA work, and a CGA BU's own
  BAD before spending the CGA budget, so that neither costs an RSA check;
* the DAR signs a BA for a CGA Parameters Request only when that BA issues a
  PHKT (so after a budgeted CGA verification): signing is the expensive RSA
  direction and must not be available to unauthenticated senders.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from ipaddress import IPv6Address, IPv6Network
from typing import NamedTuple

from scapy_fama.crypto import (
    CgaParams,
    KeyPair,
    addr_bytes,
    addr_text,
    cga_check,
    check_authenticator,
    encrypt_phkt,
    prefix64,
)
from scapy_fama.proto.adverts import ALL_NODES, RaSchedule
from scapy_fama.proto.authorise import BAD_WRONG, Authorised, Authoriser, Dropped, Refused
from scapy_fama.proto.cache import Binding, BindingCache, SecurityRecord, grant_lifetime
from scapy_fama.proto.config import DarConfig
from scapy_fama.proto.dosguard import SourceLimiter
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
    UnknownMobility,
    kind,
)
from scapy_fama.proto.nonces import CareOfNonces
from scapy_fama.proto.seqno import seq_newer
from scapy_fama.proto.status import REFUSED, BaStatus, BeStatus

ALL_ROUTERS = "ff02::2"
LINK_LOCAL_PREFIX = bytes.fromhex("fe80000000000000")
# RFC 2473 §4.1: nested encapsulation is limited (4 levels by default). Two DARs whose
# bindings point at each other's addresses (a home DAR that missed a de-registration) would
# otherwise nest a packet one level deeper on every pass, for ever (§4.1.3 "routing loop").
TUNNEL_ENCAPSULATION_LIMIT = 4
# the groups a DAR listens to (for ND), and the Mobility Headers it answers, none of them to a group
GROUPS = (ALL_NODES, ALL_ROUTERS)
_SIGNALLING = (BindingUpdate, CareOfTestInit, UnknownMobility)


def nesting(msg: Message) -> int:
    """How many IPv6-in-IPv6 encapsulations ``msg`` is already in."""
    depth = 0
    while isinstance(msg, Tunnelled):
        depth, msg = depth + 1, msg.inner
    return depth


_UNSPECIFIED, _LOOPBACK = bytes(16), bytes(15) + b"\x01"


def routable(address: str) -> bool:
    """Unicast and routable beyond the link (RFC 6275 §9.5.1: HoA and CoA must be): not
    multicast (ff00::/8), link-local (fe80::/10), unspecified or loopback (RFC 4291 §2.4)."""
    a = addr_bytes(address)
    return not (a[0] == 0xFF or (a[0] == 0xFE and a[1] & 0xC0 == 0x80) or a in (_UNSPECIFIED, _LOOPBACK))


def foreseeable(bu: BindingUpdate) -> bool:
    """Whether the next BU like ``bu`` may go to :meth:`DarCore.refresh` once ``bu`` is accepted:
    a PHKT-authorised registration (BAD, no CGA option, care-of nonce index 0: profile §4, §6)
    with H=1, framed right. What makes it so is in its bytes, all but seq and BAD; H=1 keeps
    step 4's sequel (139 for H=0 once the binding exists) from turning on the state."""
    index = bu.nonce_indices[1] if bu.nonce_indices else 0
    return (
        bu.bad is not None
        and bu.cga_params is None
        and bu.signature is None
        and not bu.cga_request
        and not bu.framing
        and bu.home
        and bu.hoa is not None
        and not bu.deregistration
        and index == 0
    )


UPDATED = "binding-updated"  # the event of a binding renewed or moved (proto.effects)
CREATED = "binding-created"  # the event of a HoA's first binding
ISSUED = "phkt-issued"  # the event of a PHKT sent in a BA


def _updated(hoa: str, coa: str, lifetime: int) -> Notify:
    return Notify(UPDATED, {"hoa": hoa, "coa": coa, "lifetime": lifetime})


class Refreshed(NamedTuple):
    """A foreseen refresh :meth:`DarCore.refresh` accepted: the binding of ``hoa`` renewed from
    the CoA it had (profile §6 steps 5-6) and the BA it is owed (step 7), as the values they
    differ in. A driver that writes the BA's bytes from a shape needs no more; :meth:`effects`
    makes the objects :meth:`DarCore.on_message` returns for the BU, for one that shows or
    holds them (a log that is read, an interception: DESIGN.md "bytes first")."""

    dar: str
    coa: str
    hoa: str
    seq: int
    lifetime: int
    key: bytes  # the Kbm of the BA's BAD: the BU's own (profile §4)

    def effects(self) -> Effects:
        """The event and the BA, in the order on_message returns them."""
        ba = BindingAck(self.dar, self.coa, self.hoa, BaStatus.ACCEPTED, self.seq, self.lifetime, auth_key=self.key)
        return [_updated(self.hoa, self.coa, self.lifetime), Send(ba)]


class Registered(NamedTuple):
    """A BU profile §6 accepted, steps 4-6 done and stored (profile §6: only now), as the values
    step 7's BA and the events differ in. :meth:`DarCore.on_message` returns
    :meth:`DarCore.registered_effects` of it; a driver that writes the BA's bytes from the values
    needs no more (DESIGN.md "bytes first"), and makes the objects only for someone who looks."""

    dar: str
    bu: BindingUpdate
    lifetime: int  # granted; 0 for a de-registration
    old: Binding | None  # the binding this one replaced, or the one a de-registration removed
    phkt_ciphertext: bytes | None  # a new PHKT, encrypted to the MN key (RFC 4866 §4.7)
    key: bytes  # the Kbm of the BA's BAD: the BU's own (profile §4)
    evicted: str | None  # the HoA whose record the new one displaced (profile §6 "Bounded state")
    signs: bool  # the BA answers a CGA Parameters Request: the DAR's CGA and Signature go in

    @property
    def plain(self) -> bool:
        """A first binding of its HoA, made without displacing a record or signing the BA:
        effects TunnelUp, binding-created, the BA, phkt-issued when one is (in that order)."""
        return self.old is None and self.evicted is None and not self.signs and not self.bu.deregistration


class DarCore:
    """One DAR: RAs, BU processing, CoT, Binding Errors, tunnelling. No I/O, no clock.

    ``on_message`` and ``on_timer`` are the entry points. ``on_bu`` and ``refresh`` decide a BU
    as ``on_message`` does, for a driver that works from bytes (automata/dar.py); it takes
    them only while ``on_message`` is this class's own, so a subclass that redefines
    ``on_message`` sees every message."""

    def __init__(
        self,
        address: str,
        prefix: str,
        *,
        config: DarConfig = DarConfig(),
        rand: Callable[[int], bytes],
        keypair: KeyPair | None = None,
        cga_params: bytes | None = None,
    ) -> None:
        self.address = addr_text(address)
        network = IPv6Network(prefix)
        self.prefix = str(network)
        if network.prefixlen != 64:  # it said "ADDRESS must lie in P/48", of an address that did
            raise ValueError(f"the DAR's prefix is a /64 (profile §1), not {self.prefix}")
        if IPv6Address(self.address) not in network:
            raise ValueError(f"{self.address} must lie in {self.prefix}, the DAR's prefix (profile §1)")
        if (keypair is None) != (cga_params is None):
            raise ValueError("keypair and cga_params come together (the DAR's own CGA)")
        if cga_params is not None and keypair is not None:
            if not cga_check(self.address, cga_params):
                raise ValueError(f"{self.address} is not a CGA of the given parameters")
            if CgaParams.decode(cga_params).public_key != keypair.public_der:
                raise ValueError("cga_params hold another public key than keypair")
        self.link_local = addr_text(LINK_LOCAL_PREFIX + addr_bytes(self.address)[8:])  # same IID
        # a tuple, not a set: its pickle (the fuzzer compares a core's state as one) never depends
        # on the order a set was rebuilt in; four strings are looked through as fast
        self._mine = (self.address, self.link_local, *GROUPS)
        self.config = config
        self._rand = rand
        self._keypair = keypair
        self._cga_params = cga_params
        self._prefix = prefix64(self.prefix)
        self._cache = BindingCache(
            config.cache_capacity, config.valid_lifetime, config.max_records
        )
        guard = SourceLimiter(
            config.cga_checks_per_second,
            config.cga_burst,
            config.cga_checks_per_prefix_per_second,
            config.cga_prefix_burst,
        )
        self._errors = SourceLimiter(  # RFC 6275 §9.3.3, profile §6: per source as well
            config.binding_errors_per_second,
            config.binding_error_burst,
            config.binding_errors_per_prefix_per_second,
            config.binding_error_prefix_burst,
        )
        self._nonces = CareOfNonces(rand)
        self._authoriser = Authoriser(
            self.address, self._nonces, guard, rand, secure=config.require_coa_test
        )
        self._ras = RaSchedule(
            config.ra_interval, config.min_delay_between_ras, config.ra_delay, rand
        )

    # ---------------------------------------------------------------- views

    def binding(self, hoa: str) -> Binding | None:
        return self._cache.binding(hoa)

    def bindings(self) -> list[Binding]:
        return self._cache.bindings()

    def record(self, hoa: str) -> SecurityRecord | None:
        return self._cache.record(hoa)

    def records(self) -> list[SecurityRecord]:
        return self._cache.records()

    def sizes(self) -> tuple[int, int]:
        """(bindings, security records) held: what a driver asks after every event."""
        return self._cache.sizes()

    # ---------------------------------------------------------------- entry points

    def next_deadline(self) -> float | None:
        expiry = self._cache.next_expiry()
        ra = self._ras.next_deadline()
        return ra if expiry is None else min(ra, expiry)

    def on_timer(self, now: float) -> Effects:
        return self._expire(now) + [Send(self._ra(dst)) for dst in self._ras.due(now)]

    def on_message(self, msg: Message, now: float) -> Effects:
        return self._expire(now) + self._dispatch(msg, now)

    def on_bu(self, bu: BindingUpdate, now: float) -> Registered | Effects:
        """:meth:`on_message` for a BU, with an accepted one as :class:`Registered` (whose
        :meth:`registered_effects` on_message returns), for a driver that writes its BA from
        the values (DESIGN.md "bytes first")."""
        if self._cache.due(now) or bu.dst not in (self.address, self.link_local):  # expiry first; a group, or routed on
            return self.on_message(bu, now)
        return self._on_bu(bu, now)

    # ---------------------------------------------------------------- dispatch

    def _for_me(self, dst: str) -> bool:
        return dst in self._mine

    def _own(self, address: str) -> bool:
        return addr_bytes(address)[:8] == self._prefix  # its leftmost 64 bits (RFC 3972 §3, profile §1)

    def _dispatch(self, msg: Message, now: float) -> Effects:
        if not self._for_me(msg.dst):
            return self._route(msg)
        if msg.dst in GROUPS and isinstance(msg, _SIGNALLING):
            # RFC 6275 §6.1.7: a registration goes to "a router sharing the same subnet prefix as
            # the home address", a unicast address (profile §4: to DAR_i), and a CoTI to the
            # node that will take the BU (§6.1.3, §9.4.2). No answer to a group either: one packet
            # would draw one from every DAR and node of the link (RFC 4443 §2.4 (e) for ICMPv6's
            # errors; RFC 6275 §9.3.3 rates Binding Errors as ICMPv6 errors). Silent, no state.
            return [Drop(msg, f"multicast-destination: {kind(msg)} to the group {msg.dst}")]
        if isinstance(msg, RouterSolicitation):  # profile §2 step 1; RFC 4861 §6.2.6
            return [Send(self._ra(dst)) for dst in self._ras.solicited(msg.src, now)]
        if isinstance(msg, BindingUpdate):
            outcome = self._on_bu(msg, now)
            return self.registered_effects(outcome) if isinstance(outcome, Registered) else outcome
        if isinstance(msg, CareOfTestInit):
            return self._on_coti(msg, now)
        if isinstance(msg, Tunnelled):
            return self._decapsulate(msg, now)
        if isinstance(msg, Datagram):
            return self._local_datagram(msg, now)
        if isinstance(msg, UnknownMobility):  # profile §6 step 1; RFC 6275 §9.2, §9.3.3
            return self._binding_error(
                msg, BeStatus.UNKNOWN_MH_TYPE, msg.hoa or "::", now, f"unknown-mh-type: {msg.mhtype}"
            )
        if isinstance(msg, Undecodable):  # profile §6 step 1: silent drop
            return [Drop(msg, f"undecodable: {msg.reason}")]
        return [Drop(msg, f"unexpected: a DAR does not handle {type(msg).__name__}")]

    def _ra(self, dst: str) -> RouterAdvertisement:
        c = self.config
        return RouterAdvertisement(
            self.link_local,
            dst,
            self.address,
            self.prefix,
            c.valid_lifetime,
            min(c.preferred_lifetime, c.valid_lifetime),  # RFC 4862 §5.5.3 c: hosts ignore more
            c.router_lifetime,
        )

    def _expire(self, now: float) -> Effects:
        if not self._cache.due(now):  # the common case, on every message
            return []
        bindings, records = self._cache.expire(now)
        effects: Effects = []
        for b in bindings:
            effects += [
                TunnelDown(self.address, b.coa, b.hoa),
                Notify("binding-expired", {"hoa": b.hoa, "coa": b.coa}),
            ]
        effects += [Notify("record-expired", {"hoa": r.hoa}) for r in records]
        return effects

    # ---------------------------------------------------------------- data plane (profile §8)

    def _route(self, msg: Message) -> Effects:
        """Route a message that is not for this DAR: into a HoA's tunnel, or natively."""
        if not (routable(msg.src) and routable(msg.dst)):
            # RFC 4291 §2.5.6: a router forwards no link-local source or destination to another
            # link; nor an unspecified or loopback source (§2.5.2, §2.5.3), nor multicast (§2.7)
            return [Drop(msg, f"not-routable: {msg.src} -> {msg.dst} may not leave the link")]
        if isinstance(msg, (Datagram, Tunnelled)):
            if msg.hlim <= 1:  # RFC 8200 §3 (the ICMPv6 Time Exceeded is not modelled)
                return [Drop(msg, "hop-limit: exceeded in transit")]
            msg = replace(msg, hlim=msg.hlim - 1)
        binding = self._cache.binding(msg.dst)
        if binding is None:
            return [Forward(msg)]
        if nesting(msg) >= TUNNEL_ENCAPSULATION_LIMIT:  # RFC 2473 §4.1
            return [Drop(msg, f"tunnel-nesting: {TUNNEL_ENCAPSULATION_LIMIT} encapsulations deep")]
        return [Send(Tunnelled(self.address, binding.coa, msg))]  # RFC 6275 §10.4.1; RFC 2473

    def _decapsulate(self, tunnelled: Tunnelled, now: float) -> Effects:
        inner = tunnelled.inner
        if not isinstance(inner, Datagram):
            return [
                Drop(
                    tunnelled,
                    f"tunnel-inner: only data is reverse-tunnelled, not {type(inner).__name__}",
                )
            ]
        binding = self._cache.binding(inner.src)
        if binding is None or binding.coa != tunnelled.src:  # profile §8; RFC 6275 §10.4.5
            return [
                Drop(
                    tunnelled,
                    f"spoofed-tunnel: {tunnelled.src} is not the registered CoA of {inner.src}",
                )
            ]
        return self._dispatch(inner, now)

    def _local_datagram(self, datagram: Datagram, now: float) -> Effects:
        if datagram.hoa is None:
            return [Deliver(datagram)]
        binding = self._cache.binding(datagram.hoa)
        if binding is None or binding.coa != datagram.src:  # RFC 6275 §9.3.1
            return self._binding_error(
                datagram,
                BeStatus.UNKNOWN_BINDING,
                datagram.hoa,
                now,
                f"hao-without-binding: no binding of {datagram.hoa} to {datagram.src}",
            )
        return [Deliver(replace(datagram, src=datagram.hoa, hoa=None))]  # the HoA stands in for src

    def _binding_error(
        self, msg: Message, status: int, hoa: str, now: float, reason: str
    ) -> Effects:
        """Drop ``msg``; a Binding Error goes back if the rate limit allows (RFC 6275 §9.3.3)."""
        if not routable(msg.src):
            return [Drop(msg, f"{reason} (no Binding Error to a non-unicast source)")]
        spent = self._errors.admit(msg.src, now)
        if spent is not None:
            return [Drop(msg, f"{reason} (Binding Error rate-limited: {spent} budget spent)")]
        return [Send(BindingError(self.address, msg.src, status, hoa)), Drop(msg, reason)]

    # ---------------------------------------------------------------- secure mode (profile §5)

    def _on_coti(self, coti: CareOfTestInit, now: float) -> Effects:
        if not routable(coti.src):
            return [Drop(coti, f"not-unicast: CoTI from {coti.src}")]
        index, token = self._nonces.issue(coti.src, now)  # RFC 6275 §9.4.2
        return [Send(CareOfTest(self.address, coti.src, index, coti.cookie, token))]

    # ---------------------------------------------------------------- BU processing (profile §6)

    def _on_bu(self, bu: BindingUpdate, now: float) -> Registered | Effects:
        has_cga = bu.cga_params is not None or bu.signature is not None
        # step 1: what the codec left to the core (option placement, RFC 6275 §6.2.7)
        if bu.framing and not has_cga:
            return [Drop(bu, "framing: " + "; ".join(bu.framing))]
        if not (routable(bu.src) and routable(bu.home_address)):  # RFC 6275 §9.5.1
            return [Drop(bu, f"not-unicast: BU from {bu.src} for {bu.home_address}")]
        if bu.src in self._mine:  # profile §6 strictness, RFC 3704 §2: however it came, not from here
            return [Drop(bu, f"own-address: {bu.src} is this DAR's")]
        # step 2
        hoa = bu.home_address
        if bu.hoa is None and not self._own(bu.src):
            return [Drop(bu, f"no-hao: {bu.src} is not an address of {self.prefix}")]
        if not self._own(hoa):
            return self._reply(bu, BaStatus.NOT_HOME_SUBNET)
        record = self._cache.record(hoa)
        # step 3 (RFC 6275 §9.5.1)
        if (
            record is not None
            and record.last_seq is not None
            and not seq_newer(bu.seq, record.last_seq)
        ):
            return self._reply(bu, BaStatus.SEQ_OUT_OF_WINDOW, record=record, seq=record.last_seq)
        # step 4 (proto.authorise): nothing is stored yet
        verdict = self._authoriser.check(bu, record, now)
        if isinstance(verdict, Dropped):
            return [Drop(bu, verdict.reason)]
        if isinstance(verdict, Refused):
            return self._reply(bu, verdict.status, record=record, why=verdict.why)
        if not bu.home and self._cache.binding(hoa) is not None:  # RFC 6275 §9.5.1
            return self._reply(
                bu,
                BaStatus.REG_TYPE_CHANGE_DISALLOWED,
                record=record,
                why="H=0 for the home registration of this address",
            )
        # step 5
        if bu.deregistration:
            return self._accept(bu, verdict, 0, self._cache.unbind(hoa), now)
        c = self.config
        granted = grant_lifetime(bu.lifetime, c.valid_lifetime, c.max_binding_lifetime)
        # step 6, before anything of step 4 is stored (profile §6)
        if self._cache.full_for(hoa):
            return self._reply(bu, BaStatus.INSUFFICIENT_RESOURCES, record=record)
        old = self._cache.bind(hoa, bu.src, granted, now)
        return self._accept(bu, verdict, granted, old, now)

    def _accept(self, bu: BindingUpdate, auth: Authorised, lifetime: int, old: Binding | None, now: float) -> Registered:
        """The BU is accepted: store what step 4 proved (a new PHKT, the seq); the BA's values."""
        record, evicted, ciphertext = auth.record, None, None
        if auth.new_phkt is not None:
            assert auth.mn_key is not None
            record, evicted = self._cache.new_phkt(bu.home_address, auth.new_phkt, auth.mn_key, now)
            ciphertext = encrypt_phkt(auth.mn_key, record.phkt)  # RFC 4866 §4.7
        assert record is not None
        self._cache.accepted(record, bu.seq, now)
        key = auth.kbm or record.kbm(auth.care_of, bu.deregistration)  # the BU's own Kbm is the BA's
        signs = ciphertext is not None and bu.cga_request and self._keypair is not None
        return Registered(self.address, bu, lifetime, old, ciphertext, key, evicted and evicted.hoa, signs)

    def registered_effects(self, registered: Registered) -> Effects:
        """What :meth:`on_message` returns for the BU ``registered`` stands for: the binding's
        and tunnel's change, the BA (step 7), the PHKT issued, the record displaced."""
        bu, old = registered.bu, registered.old
        if bu.deregistration:
            effects = [] if old is None else self._unbound(old, "binding-deleted")
        else:
            effects = self._tunnel_change(old, bu.home_address, bu.src, registered.lifetime)
        effects += self._reply(bu, BaStatus.ACCEPTED, lifetime=registered.lifetime, key=registered.key,
                               phkt_ciphertext=registered.phkt_ciphertext, signs=registered.signs)  # fmt: skip
        if registered.evicted is not None:
            effects.append(Notify("record-evicted", {"hoa": registered.evicted}))
        return effects

    # ---------------------------------------------------------------- a foreseen refresh

    def refresh(self, bu: BindingUpdate, seq: int, bad: bytes, auth_data: bytes, now: float) -> Refreshed | Drop | None:
        """Profile §6 for a BU a driver foresaw (:mod:`scapy_fama.wire.refresh`): byte for byte,
        but for ``seq``, ``bad`` (covering ``auth_data``) and the checksum, ``bu``, which this core
        accepted and :func:`foreseeable` allows. What its bytes decide stands as it was (steps 1
        and 2, the options step 4 reads, the H flag, step 5's kind); what the state decides is
        decided again here. Accepted: :class:`Refreshed`, whose ``effects()`` are those
        :meth:`on_message` returns for it; its BAD wrong: the Drop on_message returns; None for
        anything else (a state that changed: no binding there from that CoA, an old seq, expiry
        due, a care-of test required), which :meth:`on_message` then decides from the start."""
        hoa, coa = bu.home_address, bu.src
        if self.config.require_coa_test or self._cache.due(now):  # §5's care-of token; expiry first
            return None
        record, binding = self._cache.record(hoa), self._cache.binding(hoa)
        if record is None or binding is None or binding.coa != coa:
            return None
        if record.last_seq is not None and not seq_newer(seq, record.last_seq):  # step 3
            return None
        key = record.early_kbm  # step 4: the PHKT alone (no care-of token), as Authoriser.check
        if not check_authenticator(bad, key, coa, self.address, auth_data):
            forged = replace(bu, seq=seq, bad=bad, auth_data=auth_data)
            return Drop(forged, BAD_WRONG)  # cost before trust: one HMAC, nothing read again
        c = self.config
        granted = grant_lifetime(bu.lifetime, c.valid_lifetime, c.max_binding_lifetime)  # step 5
        # step 6: the binding is there, from this CoA (checked above): renewed, no tunnel changes
        self._cache.bind(hoa, coa, granted, now)
        self._cache.accepted(record, seq, now)
        return Refreshed(self.address, coa, hoa, seq, granted, key)  # step 7: the BA, every BU reaching it

    def _unbound(self, binding: Binding, event: str) -> Effects:
        return [
            TunnelDown(self.address, binding.coa, binding.hoa),
            Notify(event, {"hoa": binding.hoa, "coa": binding.coa}),
        ]

    def _tunnel_change(self, old: Binding | None, hoa: str, coa: str, lifetime: int) -> Effects:
        data = {"hoa": hoa, "coa": coa, "lifetime": lifetime}
        if old is None:
            return [TunnelUp(self.address, coa, hoa), Notify(CREATED, data)]
        if old.coa == coa:
            return [_updated(hoa, coa, lifetime)]
        return [
            TunnelDown(self.address, old.coa, hoa),
            TunnelUp(self.address, coa, hoa),
            _updated(hoa, coa, lifetime),
        ]

    def _reply(
        self,
        bu: BindingUpdate,
        status: int,
        *,
        record: SecurityRecord | None = None,
        seq: int | None = None,
        lifetime: int = 0,
        why: str = "",
        key: bytes | None = None,
        phkt_ciphertext: bytes | None = None,
        signs: bool = False,
    ) -> Effects:
        """Profile §6 step 7: every BU that reaches this step gets a BA, whatever its A bit: the
        DAR is the BU's home agent, and RFC 6275 §10.3.1 / §10.3.2 make a home agent answer every
        registration and de-registration. ``key`` is the Kbm of the BA's BAD (an accepted BU's
        own); else ``record`` keys it with the zero care-of token (a refusal). ``phkt_ciphertext``
        is a new PHKT, issued; ``signs``: the DAR's CGA and Signature answer a CGA Parameters
        Request (only when issuing a PHKT, see the module docstring)."""
        effects: Effects = []
        if status >= REFUSED:
            effects.append(
                Notify(
                    "bu-refused",
                    {"hoa": bu.home_address, "status": status} | ({"why": why} if why else {}),
                )
            )
        if phkt_ciphertext is not None:
            effects.append(Notify(ISSUED, {"hoa": bu.home_address}))
        if key is None and record is not None:
            key = record.kbm(None, bu.deregistration)
        ba = BindingAck(
            src=self.address,
            dst=bu.src,
            hoa=bu.hoa,  # RFC 6275 §9.5.4: RH2 = HoA when the BU had a HAO
            status=status,
            seq=bu.seq if seq is None else seq,
            lifetime=lifetime,
            phkt_ciphertext=phkt_ciphertext,
            cga_params=self._cga_params if signs else None,
            for_deregistration=bu.deregistration,
            sign_with=self._keypair if signs else None,
            auth_key=key,
        )
        return [Send(ba)] + effects
