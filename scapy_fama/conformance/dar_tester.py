"""The tester's side of a DAR case: mobile nodes it plays, the packets they send, what it expects.

Theory of operation
-------------------
The tester plays any number of mobile nodes towards the DAR under test. Each
:class:`PlayedMn` has a HoA that is a fresh CGA of the IUT's prefix (the run's
RSA key, a random modifier: Sec 0 by default, so a case costs no search) and a
CoA in the tester's own prefix, which the IUT's network must route back to the
tester. A case builds packets with the :mod:`scapy_fama.craft` helpers through
the played MN (which keeps its sequence numbers and the PHKT the IUT issued),
sends them, and states what must come back::

    mn = t.new_mn()
    t.register(mn)                       # set-up: first BU -> BA 0 with a PHKT (else INCONCLUSIVE)
    t.send(mn.phkt_bu(seq=mn.last_seq))  # the step under test
    ba = t.expect_ba(mn, 135)            # FAIL with what came instead

Set-up steps that the IUT refuses make the case inconclusive (another case
checks that step itself); an expectation that is not met fails it, saying what
arrived instead. After each case the runner asks :meth:`DarTester.alive`
whether the DAR still answers: an RA to a Router Solicitation from the
tester's link-local address (profile §2 step 1), or else any BA to a valid
first BU. Neither a slow IUT nor a lossy link decides a case
(:mod:`scapy_fama.conformance.patience`, shared with the MN tester): an
expected answer is awaited the grace (LATE seconds, or --grace) past the wait (if it comes then, the
case is inconclusive), and before a missing answer fails a case or a silence
passes one, Router Solicitations from the tester's link-local address probe the
link (some answered and some not, the case is inconclusive). A first probe
unanswered runs the liveness check: a DAR that answers nothing at all is probed
no further (the runner then fails the case), and the check's finding stands
for the runner's own check after the case while the DAR stays silent. Messages are read with
:func:`scapy_fama.codec.decode`, so a case compares fields, not bytes;
:func:`scapy_fama.wire.parse` gives the header layout where a case checks
addressing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from ipaddress import IPv6Network

from scapy.layers.inet import UDP
from scapy.layers.inet6 import HAO, IPv6, IPv6ExtHdrDestOpt
from scapy.packet import Packet, Raw

from scapy_fama.codec import decode, encode_bytes
from scapy_fama.conformance.case import Case, Fail, Inconclusive
from scapy_fama.conformance.executor import IUT, TESTER, Executor, Setup
from scapy_fama.conformance.patience import LATE, Patience, Until
from scapy_fama.craft import coti, first_bu, phkt_bu
from scapy_fama.crypto import (
    ZERO_TOKEN,
    Cga,
    KeyPair,
    PhktError,
    addr_text,
    cga_generate,
    check_authenticator,
    decrypt_phkt,
    kbm,
)
from scapy_fama.proto import DarConfig
from scapy_fama.proto.messages import (
    BindingAck,
    BindingError,
    CareOfTest,
    Message,
    RouterAdvertisement,
    RouterSolicitation,
    Tunnelled,
    describe,
    is_deregistration,
    kind,
    lifetime_seconds,
    lifetime_units,
    signing_endpoints,
)
from scapy_fama.proto.seqno import seq_add
from scapy_fama.wire import finish_bytes, parse
from scapy_fama.wire.numbers import BAD, BU, BU_A, BU_H
from scapy_fama.wire.write import bu_fixed, finish, fragments, mobility

LIFETIME = 600  # seconds a case asks for unless it tests lifetimes
DATA_PORT = 5001
# A DAR's DoS guard budgets CGA checks per source /64 (profile §6), and all the tester's CoAs
# share one: on a real link the tester sends CGA-signed BUs at most 4 a second, so that a case
# meets the rule it tests and not the guard (DAR-DOS-001 floods on purpose, unpaced).
CGA_PACE = 0.25
IPV6_IN_IPV6 = 41
BE_RETRY = 6.0  # seconds for a Binding Error rate limiter to refill (ours: 0.2 per second per /64)
ALIVE_TRIES = 6  # rounds of (RS, first BU) before the IUT is taken for dead


@dataclass
class PlayedMn:
    """A mobile node the tester plays: its HoA at the IUT, its CoA, sequence numbers, PHKT."""

    tester: DarTester
    hoa: Cga
    coa: str
    seq: int
    phkt: bytes | None = None
    care_of: bytes | None = None  # the care-of token of the last CoT (secure mode)
    coni: int = 0
    accepted: list[int] = field(default_factory=list)

    @property
    def address(self) -> str:
        return self.hoa.address

    @property
    def last_seq(self) -> int:
        """The last sequence number the IUT accepted (the set-up's)."""
        if not self.accepted:
            raise Inconclusive("set-up: no BU of this MN was accepted yet")
        return self.accepted[-1]

    def next_seq(self) -> int:
        self.seq = seq_add(self.seq)
        return self.seq

    def first_bu(
        self,
        *,
        seq: int | None = None,
        lifetime: int = LIFETIME,
        coa: str | None = None,
        params: bytes | None = None,
        key: KeyPair | None = None,
        cga_request: bool = False,
    ) -> Packet:
        t = self.tester
        return first_bu(
            coa or self.coa,
            self.address,
            t.iut,
            self.next_seq() if seq is None else seq,
            lifetime,
            key or t.key,
            self.hoa.params if params is None else params,
            cga_request=cga_request,
            care_of_token=self.care_of,
            coni=self.coni,
        )

    def phkt_bu(
        self,
        *,
        seq: int | None = None,
        lifetime: int = LIFETIME,
        coa: str | None = None,
        phkt: bytes | None = None,
    ) -> Packet:
        token = phkt or self.phkt
        if token is None:
            raise Inconclusive("set-up: this MN holds no PHKT")
        src = coa or self.coa
        care_of = None if src == self.address else self.care_of
        return phkt_bu(
            src,
            self.address,
            self.tester.iut,
            self.next_seq() if seq is None else seq,
            lifetime,
            token,
            care_of,
            coni=self.coni if care_of else 0,
        )

    def rewrite(self, pkt: Packet, edit: Callable[[bytearray, int], None], *, sign: bool) -> bytes:
        """``pkt`` with ``edit(raw, mh_offset)`` applied, then made consistent again: re-signed
        with the run's key (``sign``: a CGA BU) and the BAD recomputed (a PHKT BU, by the PHKT),
        and the checksum always, so that the edit is the only fault of the packet."""
        raw = bytearray(bytes(pkt))
        info = parse(bytes(raw))
        assert info is not None and info.mh is not None
        edit(raw, info.mh.offset)
        units = info.mh.lifetime_units or 0
        dereg = is_deregistration(info.src, info.hoa, lifetime_seconds(units))
        coa, _ = signing_endpoints(info.src, info.dst, info.hoa or self.address, dereg, from_mn=True)
        auth_key = None
        if info.mh.options and info.mh.options[-1][0] == BAD:  # a CGA BU's: secure mode
            home = ZERO_TOKEN if sign or self.phkt is None else self.phkt
            auth_key = kbm(home, self.care_of, deregistration=dereg)  # profile §4
        return finish_bytes(
            bytes(raw),
            coa=coa,
            correspondent=self.tester.iut,
            keypair=self.tester.key if sign else None,
            auth_key=auth_key,
        )

    def laid_out_phkt_bu(self, options: Sequence[tuple[int, bytes]]) -> bytes:
        """A PHKT BU from the CoA with ``options`` laid out as given (each aligned, the whole
        padded to 8n; the Nonce Indices and BAD only where the list puts them), its first BAD
        keyed by the PHKT (and care-of token) and checksummed: a layout made wrong on purpose
        is the BU's only fault."""
        if self.phkt is None:
            raise Inconclusive("set-up: this MN holds no PHKT")
        fixed = bu_fixed(self.next_seq(), BU_A | BU_H, lifetime_units(LIFETIME))
        frame = mobility(self.coa, self.tester.iut, BU, fixed, options, hoa=self.address)
        return finish(frame, coa=self.coa, correspondent=self.tester.iut, auth_key=kbm(self.phkt, self.care_of))

    def nonce_indices(self) -> bytes:
        """The Nonce Indices option's data of a PHKT BU: home index 0, the care-of index."""
        return bytes(2) + (self.coni if self.care_of else 0).to_bytes(2, "big")

    def ba_key(self, deregistration: bool = False) -> bytes:
        assert self.phkt is not None
        return kbm(self.phkt, self.care_of, deregistration=deregistration)


class DarTester(Patience):
    """Plays mobile nodes and correspondents towards a DAR under test (see the module doc)."""

    PROBE = "Router Solicitations from the tester's link-local address"

    def __init__(
        self,
        executor: Executor,
        key: KeyPair,
        iut: str,
        prefix: str,
        *,
        coa_prefix: str = "2001:db8:ca::/64",
        cn: str = "2001:db8:cc::1",
        wait: float = 1.0,
        grace: float = LATE,
        secure: bool = False,
        sec: int = 0,
    ) -> None:
        self.x, self.key, self.iut, self.prefix = executor, key, addr_text(iut), prefix
        self.coa_net = IPv6Network(coa_prefix)
        self.cn, self.wait, self.grace, self.secure, self.sec = addr_text(cn), wait, grace, secure, sec
        self._other: KeyPair | None = None
        self._cga_sent = 0.0

    # ---------------------------------------------------------------- set-up

    def applicable(self, case: Case) -> str | None:
        """Why ``case`` cannot run against this IUT (None: it can). In-process the DAR is built
        as the case needs, but a core has no link layer; a real one is as it was started: secure
        or not (``--secure`` says), otherwise with a configuration the tester cannot know."""
        if self.x.kind == "inproc":
            if case.setup.link:
                return "reads the DAR's neighbour cache, which a core has not: run it with --target iface"
            return None
        if case.setup.secure and not self.secure:
            return "needs a DAR in secure mode (require_coa_test): run again with --secure"
        ours = DarConfig()
        differs = [
            f"{f.name}={getattr(case.setup.dar, f.name)}"
            for f in fields(DarConfig)
            if getattr(case.setup.dar, f.name) != getattr(ours, f.name)
        ]
        if differs:
            return (
                f"needs a DAR with {', '.join(differs)}, which the tester cannot know of a DAR on "
                "an interface: the case runs in-process"
            )
        return None

    def begin(self, setup: Setup) -> None:
        if self.x.kind == "inproc":
            self.secure = setup.secure
        self._forget()
        self.x.begin(setup)

    def _check_alive(self) -> str | None:
        """None while the DAR answers: an RA to a Router Solicitation, else any BA to a valid
        first BU, in one of ALIVE_TRIES tries (a lossy link is not a dead IUT: the first waits
        the grace more for a slow one, the others the wait); otherwise what went unanswered."""
        for tried in range(ALIVE_TRIES):
            seconds = self.wait + (0.0 if tried else self.grace)
            self.x.send(encode_bytes(RouterSolicitation(self.x.link_local)))
            if self._answered(lambda m: isinstance(m, RouterAdvertisement), seconds):
                return None
            mn = self.new_mn(care_of_test=False)
            self.send(mn.first_bu())
            if self._answered(_ba_to(mn.coa), seconds):
                return None
        return (
            f"no RA to a Router Solicitation from {self.x.link_local} and no BA to a valid "
            f"CGA-signed BU, {ALIVE_TRIES} times (within {self._window(self.wait + self.grace)} the first)"
        )

    def _probe(self) -> Until:
        """A Router Solicitation from the tester's link-local address; its answer, an RA to it."""
        me = self.x.link_local
        self.x.send(encode_bytes(RouterSolicitation(me)))
        return _from_iut(lambda m: isinstance(m, RouterAdvertisement) and m.dst == me)

    def new_coa(self) -> str:
        iid = int.from_bytes(os.urandom(8), "big") | 1
        return addr_text(str(self.coa_net.network_address + iid))

    def new_mn(self, *, extensions: bytes = b"", care_of_test: bool = True) -> PlayedMn:
        """A fresh MN: a new CGA HoA in the IUT's prefix (same key, new modifier), a new CoA;
        in secure mode it has passed the care-of test unless told not to."""
        hoa = cga_generate(
            self.prefix, self.key, self.sec, modifier=os.urandom(16), extensions=extensions, workers=1
        )
        seq = int.from_bytes(os.urandom(2), "big") % 30000  # far from the wrap unless asked
        mn = PlayedMn(self, hoa, self.new_coa(), seq)
        if self.secure and care_of_test:
            self.care_of_test(mn)
        return mn

    def other_key(self) -> KeyPair:
        """A second RSA key of the run, for cases about a key that is not the MN's."""
        if self._other is None:
            self._other = KeyPair.generate(self.key.bits)
        return self._other

    def care_of_test(self, mn: PlayedMn, coa: str | None = None) -> CareOfTest:
        """CoTI from the MN's CoA; the CoT's index and token are kept for the next BUs."""
        self.send(coti(coa or mn.coa, self.iut))
        cot = self.expect(lambda m: isinstance(m, CareOfTest) and m.dst == (coa or mn.coa), "a CoT")
        assert isinstance(cot, CareOfTest)
        mn.care_of, mn.coni = cot.token, cot.index
        return cot

    def register(self, mn: PlayedMn, **first: object) -> BindingAck:
        """Set-up: the MN's first BU is accepted (BA 0 with a PHKT); else the case is
        inconclusive."""
        try:
            self.send(mn.first_bu(**first))  # type: ignore[arg-type]
            ba = self.expect_ba(mn, 0)
            self.take_phkt(mn, ba)
        except Fail as exc:
            raise Inconclusive(f"set-up: a valid CGA-signed BU was not accepted ({exc})") from None
        return ba

    def take_phkt(self, mn: PlayedMn, ba: BindingAck) -> bytes:
        """The PHKT of an accepting BA, decrypted with the run's key (8 bytes, RFC 4866 §4.8)."""
        if ba.phkt_ciphertext is None:
            raise Fail("the BA accepting a CGA-signed BU carries no PHKT option (profile §6 step 4)")
        try:
            mn.phkt = decrypt_phkt(self.key, ba.phkt_ciphertext)
        except PhktError as exc:
            raise Fail(f"the PHKT does not decrypt to a token: {exc}") from None
        mn.accepted.append(ba.seq)
        return mn.phkt

    # ---------------------------------------------------------------- traffic

    def send(self, pkt: Packet | bytes) -> None:
        """Send a packet; on an interface, CGA-signed BUs are paced (see CGA_PACE)."""
        raw = bytes(pkt)
        self._pace(raw)
        self.x.send(raw)

    def send_in_fragments(self, pkt: Packet | bytes) -> int:
        """Send a packet in two fragments of about half its fragmentable part each (what
        follows its IPv6 header and Destination Options, RFC 6275 §6.3), paced as the whole
        packet would be; how many bytes the first carries."""
        raw = bytes(pkt)
        info = parse(raw)
        assert info is not None and info.upper is not None
        cut = (len(raw) - info.upper) // 16 * 8
        self._pace(raw)
        for piece in fragments(raw, info.upper, [cut], int.from_bytes(os.urandom(4), "big")):
            self.x.send(piece)
        return cut

    def _pace(self, raw: bytes) -> None:
        if self.x.kind == "iface" and _carries_cga(raw):
            time.sleep(max(0.0, self._cga_sent + CGA_PACE - time.monotonic()))
            self._cga_sent = time.monotonic()

    def watch(self, seconds: float | None = None, until: Callable[[Message], bool] | None = None) -> list[Message]:
        """The IUT's messages within ``seconds`` (default: the run's wait), up to ``until``."""
        frames = self.x.wait(
            self.wait if seconds is None else seconds,
            None if until is None else _from_iut(until),
        )
        return [decode(f.raw) for f in frames]

    def seen_since(self, mark: int, match: Callable[[Message], bool]) -> list[tuple[float, Message]]:
        """The IUT's messages ``match`` accepts among this case's frames logged after the first
        ``mark`` (``len(x.frames)`` before a send: an answer logged later answers it, whatever
        its time), with the times they arrived."""
        frames = [f for f in self.x.frames[mark:] if f.direction == IUT]
        return [(f.time, m) for f in frames if match(m := decode(f.raw))]

    def _answered(self, match: Callable[[Message], bool], seconds: float) -> bool:
        return any(match(m) for m in self.watch(seconds, match))

    def expect(self, match: Callable[[Message], bool], what: str, seconds: float | None = None) -> Message:
        """The first IUT message ``match`` accepts within ``seconds`` (a rule's deadline) or the
        run's wait; FAIL naming what came. Within the run's wait, which no rule sets, an answer
        that comes only in the grace after it makes the case INCONCLUSIVE: the IUT is
        slower than the tester waits, and the silences the case relies on prove nothing."""
        mark, asked = len(self.x.frames), self._last_sent()
        seen = self.watch(seconds, match)
        if seen and match(seen[-1]):
            return seen[-1]
        if seconds is None:
            self.late(what, _from_iut(match), self.wait, asked)
            seen = [m for _, m in self.seen_since(mark, lambda m: True)]
        others = [describe(m, route=True) for m in seen if not _noise(m)]
        instead = "; ".join(others) if others else "nothing"
        more = "" if seconds is not None else f" (and {self.grace:g} s more for a slow IUT)"
        why = f"expected {what} within {self._window(seconds)}{more}, got {instead}"
        raise Fail(why) if others else self.missing(why)

    def _after_last_sent(self) -> int:
        """The frame log's position after the tester's last packet (a mark for seen_since)."""
        sent = [i for i, f in enumerate(self.x.frames) if f.direction == TESTER]
        return sent[-1] + 1 if sent else 0

    def _last_sent(self) -> float:
        """When (case time) the tester last sent a packet: the one an expected answer answers."""
        return max((f.time for f in self.x.frames if f.direction == TESTER), default=0.0)

    def expect_be(self, raw: bytes, to: str) -> BindingError:
        """Send ``raw``, which earns a Binding Error to ``to``; the Binding Error. A DAR may
        rate-limit them as ICMPv6 errors are (RFC 6275 §9.3.3, RFC 4443 §2.4 (f); profile §6:
        per source prefix too, and the tester's CoAs share one): one that does not come is
        asked for once more, after BE_RETRY seconds for the limiter to refill."""
        is_be = lambda m: isinstance(m, BindingError) and m.dst == to
        self.send(raw)
        seen = self.watch(None, is_be)
        if not (seen and is_be(seen[-1])):
            seen = self.watch(BE_RETRY, is_be)  # a late one is judged as it is
        if not (seen and is_be(seen[-1])):
            self.send(raw)
            what = f"a Binding Error to {to} (asked twice, {BE_RETRY:g} s apart, for a rate limit)"
            seen = [self.expect(is_be, what)]
        be = seen[-1]
        assert isinstance(be, BindingError)
        return be

    def expect_ba(self, mn: PlayedMn, status: int | None, *, to: str | None = None) -> BindingAck:
        """A BA to the MN's CoA (or ``to``): with ``status`` (any with None)."""
        dst = to or mn.coa
        ba = self.expect(
            lambda m: isinstance(m, BindingAck) and m.dst == dst,
            f"a BA{'' if status is None else f' {status}'} to {dst}",
        )
        assert isinstance(ba, BindingAck)
        return self.check_status(mn, ba, status)

    def check_status(self, mn: PlayedMn, ba: BindingAck, status: int | None) -> BindingAck:
        """``ba`` has ``status`` (any with None); an accepting one's seq is the MN's last accepted.
        A registration accepted with 0 may be accepted with 1 instead (RFC 6275 §6.1.8, §10.3.1:
        the prefix will be deprecated before the binding ends, prefix discovery is necessary)."""
        if status == 0 and ba.status == 1 and ba.lifetime > 0:
            status = 1
        if status is not None and ba.status != status:
            raise Fail(f"expected BA {status}, got BA {ba.status} (seq {ba.seq})")
        if status is not None and status < 128:
            mn.accepted.append(ba.seq)
        return ba

    def expect_135(self, mn: PlayedMn) -> None:
        """BA 135 carrying the last accepted sequence number (RFC 6275 §9.5.1, profile §6 step 3)."""
        last = mn.last_seq
        ba = self.expect_ba(mn, 135)
        if ba.seq != last:
            raise Fail(f"BA 135 carries seq {ba.seq}, not the last accepted {last}")

    def expect_dropped(self, mn: PlayedMn, raw: bytes, why: str, valid: Packet) -> None:
        """``raw`` (a BU of ``mn`` with one fault) is dropped silently: no answer within the wait,
        and the ``valid`` BU of ``mn`` sent next gets BA 0, so that silence from a dead or deaf
        IUT never passes. The first BA after them must answer ``valid``: one carrying the
        dropped BU's sequence number is a slow IUT's late answer to it (RFC 6275 §6.1.8: a BA
        echoes the BU's sequence number), not a silent drop."""
        dropped, since, mark = _bu_seq(raw), self.x.now(), len(self.x.frames)
        self.send(raw)
        self.expect_no_answer(mn, why)
        self.send(valid)
        ba = self.expect_ba(mn, None)
        if ba.seq == dropped != _bu_seq(bytes(valid)):
            at = min(at for at, m in self.seen_since(mark, lambda m: m == ba))
            raise Fail(
                f"{why} must be dropped silently, got {describe(ba, route=True)} (seq {ba.seq}, "
                f"the dropped BU's) {at - since:.1f} s after it, past the wait of {self._window(None)}"
            )
        self.check_status(mn, ba, 0)

    def expect_no_answer(self, mn: PlayedMn, why: str, *, to: str | None = None) -> None:
        """Silence towards the MN: no BA and no BE (a silent drop), see :meth:`silence`."""
        dst = {to or mn.coa, mn.address}
        answer = lambda m: isinstance(m, (BindingAck, BindingError)) and m.dst in dst
        got = self.silence(answer, f"{why} got no answer")
        if got is not None:
            raise Fail(f"{why} must be dropped silently, got {describe(got[1], route=True)}{got[0]}")

    def silence(self, match: Callable[[Message], bool], quiet: str) -> tuple[str, Message] | None:
        """The first IUT message ``match`` accepts after the tester's last packet, within the
        wait or while the link is then probed (:meth:`link_loss`: an answer that comes then is
        an answer all the same), with how late it came (" 1.5 s after it", or "" within the
        wait); None for silence. Silence on a link seen to lose packets proves nothing:
        INCONCLUSIVE, ``quiet`` saying what was not seen."""
        mark, sent = self._after_last_sent(), self._last_sent()
        self.watch(None, match)
        loss = None if self.seen_since(mark, match) else self.link_loss()
        seen = self.seen_since(mark, match)
        if seen:
            at, first = seen[0]
            return (f" {at - sent:.1f} s after it" if at - sent > self.wait else ""), first
        if loss is not None:
            raise Inconclusive(f"{quiet}, but {loss}: the silence proves nothing")
        return None

    def check_ba_bad(self, mn: PlayedMn, ba: BindingAck, deregistration: bool = False) -> None:
        """The BA's BAD verifies with the MN's Kbm (profile §6 step 7: BAD whenever a PHKT exists)."""
        if ba.bad is None:
            raise Fail("the BA carries no Binding Authorization Data though a PHKT exists")
        coa, _ = signing_endpoints(ba.src, ba.dst, mn.address, deregistration, from_mn=False)
        if not check_authenticator(ba.bad, mn.ba_key(deregistration), coa, self.iut, ba.auth_data):
            key = "the de-registration key Kbm = SHA1(PHKT)" if deregistration else (
                "Kbm = SHA1(PHKT | care-of token)"
            )
            raise Fail(f"the BA's authenticator does not verify with {key} over {coa} (profile §4)")

    # ---------------------------------------------------------------- data plane (profile §8)

    def datagram(self, src: str, dst: str, *, hoa: str | None = None, payload: bytes = b"") -> bytes:
        """A UDP packet ``src`` -> ``dst`` (with a Home Address option: ``hoa``)."""
        body = UDP(sport=DATA_PORT, dport=DATA_PORT) / Raw(payload or os.urandom(16))
        if hoa is None:
            return bytes(IPv6(src=src, dst=dst) / body)
        return bytes(IPv6(src=src, dst=dst) / IPv6ExtHdrDestOpt(options=[HAO(hoa=hoa)]) / body)

    def tunnel(self, outer_src: str, inner: bytes) -> bytes:
        """IPv6-in-IPv6 (RFC 2473) from ``outer_src`` to the IUT around ``inner``."""
        return bytes(IPv6(src=outer_src, dst=self.iut, nh=IPV6_IN_IPV6) / IPv6(inner))

    def expect_tunnelled(self, hoa: str, coa: str) -> Tunnelled:
        """Traffic for ``hoa`` arrives at ``coa`` inside IPv6-in-IPv6 from the IUT (profile §8)."""
        got = self.expect(
            lambda m: isinstance(m, Tunnelled) and _inner_dst(m) == hoa,
            f"a packet for {hoa} tunnelled to {coa}",
        )
        assert isinstance(got, Tunnelled)
        if (got.src, got.dst) != (self.iut, coa):
            raise Fail(f"the tunnel runs {got.src} -> {got.dst}, not {self.iut} -> {coa}")
        return got

    def expect_not_tunnelled(self, hoa: str, coa: str, when: str) -> None:
        tunnelled = lambda m: isinstance(m, Tunnelled) and _inner_dst(m) == hoa
        if self.silence(tunnelled, f"no traffic for {hoa} was tunnelled {when}") is not None:
            raise Fail(f"traffic for {hoa} is still tunnelled to {coa} {when}")

    def _window(self, seconds: float | None) -> str:
        return f"{self.wait if seconds is None else seconds:g} s"


def mh_offset(raw: bytes | bytearray) -> int:
    """Where the Mobility Header of an IPv6 packet starts."""
    info = parse(bytes(raw))
    if info is None or info.mh is None:
        raise ValueError("not an IPv6 packet with a Mobility Header")
    return info.mh.offset


def _bu_seq(raw: bytes) -> int | None:
    """The Sequence Number of the BU in ``raw`` (RFC 6275 §6.1.7), None if it holds none."""
    info = parse(raw)
    if info is None or info.mh is None or len(raw) < info.mh.offset + 8:
        return None
    return int.from_bytes(raw[info.mh.offset + 6 : info.mh.offset + 8], "big")


def _carries_cga(raw: bytes) -> bool:
    info = parse(raw)
    return info is not None and info.mh is not None and any(t == 12 for t, _, _ in info.mh.options)


def _from_iut(match: Callable[[Message], bool]) -> Until:
    """``match`` for the IUT's frames."""
    return lambda f: f.direction == IUT and match(decode(f.raw))


def _ba_to(coa: str) -> Callable[[Message], bool]:
    return lambda m: isinstance(m, BindingAck) and m.dst == coa


def _inner_dst(msg: Tunnelled) -> str:
    return msg.inner.dst


def _noise(msg: Message) -> bool:
    """What a DAR sends unasked (RAs) or a kernel's chatter: not an answer to anything."""
    return kind(msg) in ("RA", "RS", "??")
