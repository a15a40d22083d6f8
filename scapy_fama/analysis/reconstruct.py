"""Reconstruction: signalling records in capture order -> bindings, exchanges, MNs, handovers.

Theory of operation
-------------------
Online, packet by packet (time order), one state machine per binding, keyed by
(home address, DAR); a BU without a Home Address option binds its own source::

    BU (hoa, dar, seq)  --seq newer?--> new Exchange, pending      (else: replay / regression)
       same binding, earlier BU still pending from the same CoA    -> it was retransmitted
    BA (rh2 or dst, src, seq)  --> the pending Exchange with that seq (135: the newest pending;
                                   no RH2: by CoA and seq) -> status, latency, PHKT issued,
                                   binding state (registered / refused / de-registered)
    CoTI / CoT (cookie)        --> a care-of test (FAMA's secure mode, profile §5, or return
                                   routability); the BU whose care-of nonce index is the CoT's
                                   uses its keygen token
    HoTI / HoT (cookie)        --> a home test (return routability, RFC 6275 §5.2.5): a BU to a
                                   correspondent (H=0) with a BAD is keyed by its home keygen
                                   token and the care-of one (§5.2.6): auth "rr", not "phkt"
    PBU / PBA                  --> PMIPv6 (RFC 5213): a binding per mobile node at its LMA, kept
                                   apart from the FAMA MNs (:mod:`scapy_fama.analysis.pmip`)
    RS -> RA (a capture point) --> an attachment to the RA's prefix and DAR: a unicast RA
                                   answers the RS from its destination, a multicast one every RS
                                   still waiting (RFC 4861 §6.2.6: one RA may answer several; a
                                   FAMA MN solicits from ::, profile §2, and gets a multicast RA)

RSs and RAs are link-scoped (hop limit 255, never forwarded: RFC 4861 §6.1.1, §6.1.2), and every
FAMA MN's RS has the same bytes (from ::, no option: RFC 4429 §3.3). So an RS "seen again" at
another capture point within the copy window is the same transmission only if the two points
are on one link, and may be another MN's RS on another link. The rule: every sighting of an RS
is an attachment at its own capture point, and an RA answers those waiting at its capture point
(where it was first seen); when the same RA is seen at another capture point too, that point is
on its link, and the sighting of the RS there is the same transmission: one attachment, timed
from the RS's first sighting. Two identical RSs answered by different RAs are two attachments.
So ``counts["RS"]`` counts RS transmissions, one per attachment, not distinct bytes: two identical
RSs on two links are two, one RS seen from both ends of one link is one (``rs_apart``: those
the copy test took for copies, which the analysis's totals count as signalling, not duplicates).
An RS that no RA answers at its own capture point by the end of the capture takes the first RA
seen elsewhere while it waited, where no RS waited (the RS captured only on the MN's side of
the link, the RA only on the DAR's). A handover takes no attachment whose RA came after its
first signalling: its CoA came from an earlier RA.

Verification runs online because keys come in order: every BU with CGA
Parameters is checked (CGA, signature: no key needed, ``verify_bu``); a BA with
a PHKT is checked and its PHKT decrypted when ``--keys`` holds the key whose
public half is in the MN's CGA Parameters; from then on, every BAD of that
binding (BUs and BAs) is checked with the PHKT (and the CoT's care-of token).
A BU or BA cut by the snap length is not checked (its truncated-packet finding says
why): the bytes its signature or BAD covers are not all in the capture.
A return-routability BU is checked when the capture holds the HoT and CoT whose
nonce indices it names: their keygen tokens make its Kbm.

With ``index=True`` the reconstruction also keeps, per signalling packet, what it became
(:class:`Sighting`: the exchange, address test or attachment it belongs to; a copy seen
at another capture point points at its first sighting; an RS sighting follows the attachment
it became, a copy only once an RA showed one link), for ``fama-analyze --annotate``.

When the capture ends (:meth:`Reconstruction.finish`) addresses are grouped into
MNs: a BU joins its CoA and its HoA, CGA Parameters with the same public key join
their addresses. Per MN, the CoA timeline of its BUs gives the handovers: a new
CoA starts one; the bindings answered with success from that CoA are the kept
addresses, de-registrations the released ones; it lasts from the attachment
(RS) on the new link, or the first signalling, to the last BA that completed it.
Each handover takes the latest attachment to its prefix before it that no later
handover (of any MN) took: an RS from :: names no MN (RFC 4429 §3.3: no SLLAO
either), so of several MNs soliciting at once the first to solicit is taken to
be the first to signal, and no MN gets another's RS.
"""

from __future__ import annotations

import hashlib
from array import array
from collections import Counter
from dataclasses import dataclass, field
from ipaddress import IPv6Address, IPv6Network


from scapy_fama.analysis.answer import Answered
from scapy_fama.analysis.classify import CUT_INNER, DUPLICATE_WINDOW, NativeCount, PacketRef, TunnelCount
from scapy_fama.analysis.findings import Findings
from scapy_fama.analysis.pmip import ProxyExchange, ProxyReconstruction
from scapy_fama.analysis.signalling import Signal
from scapy_fama.codec import decode
from scapy_fama.crypto import CgaParams, KeyPair, PhktError, decrypt_phkt
from scapy_fama.latency import Breakdown
from scapy_fama.layers.mh import BA_STATUS
from scapy_fama.proto.messages import BindingAck, BindingUpdate
from scapy_fama.proto.seqno import seq_newer
from scapy_fama.proto.status import REFUSED
from scapy_fama.verify import Verdict, verify_ba, verify_bu
from scapy_fama.wire.numbers import BAD, CGA_PARAMS, NONCE_INDICES, PHKT

EXCHANGES_KEPT = 64  # per binding; past it, routine refreshes are counted (and timed), not kept
ATTACH_WINDOW = 5.0  # s: an RA this soon after an RS on the same capture point answers it
HANDOVER_WINDOW = 30.0  # s: an attachment this soon before a new CoA's first BU started that handover
MEMO_KEPT = 4096  # signalling packets remembered for copies seen at other capture points
SEQ_REMEMBERED = 64  # per binding: the sequence numbers whose BU bytes are remembered


def _result(verdict: Verdict | None) -> bool | None:
    """True: all checks passed; False: one failed; None: not verified (a key or PHKT missing)."""
    if verdict is None:
        return None
    if any(c.ok is False for c in verdict.checks):
        return False
    return True if verdict else None


@dataclass(slots=True, eq=False)  # exchanges are compared by identity
class Exchange(Answered):
    """One BU and the BA that answered it."""

    bu: PacketRef
    time: float
    coa: str
    hoa: str
    dar: str
    seq: int
    lifetime: int
    ack: bool
    auth: str  # "cga", "phkt" (a BAD in a home registration), "rr" (a BAD in a BU to a CN, H=0), "none"
    deregistration: bool
    retransmissions: int = 0  # earlier BUs of the same attempt that got no answer
    secure: bool = False  # a care-of test came first (Nonce Indices with a care-of index)
    care_of_token: bytes | None = None
    verified: bool | None = None
    verdict: dict[str, object] | None = None
    ba: PacketRef | None = None
    ba_time: float | None = None
    ba_last_seen: float | None = None
    status: int | None = None
    granted: int | None = None
    phkt_issued: bool = False
    ba_verified: bool | None = None
    ba_verdict: dict[str, object] | None = None


@dataclass
class Binding:
    """Everything about one (home address, DAR) pair."""

    hoa: str
    dar: str
    exchanges: list[Exchange] = field(default_factory=list)
    exchange_count: int = 0
    dropped_latencies: array[float] = field(default_factory=lambda: array("d"))  # of exchanges not kept
    pending: list[Exchange] = field(default_factory=list)
    last_seq: int | None = None
    seen_bytes: dict[int, tuple[int, PacketRef]] = field(default_factory=dict)  # seq -> (hash, first BU)
    state: str = "unknown"  # registered, refused, de-registered, pending, unknown
    coa: str | None = None  # of the standing registration
    phkt: bytes | None = None
    phkt_issued: list[tuple[float, PacketRef]] = field(default_factory=list)
    key_id: str | None = None  # SHA-1 of the public key in the CGA Parameters, first 8 bytes
    statuses: Counter[int] = field(default_factory=Counter)
    auth: Counter[str] = field(default_factory=Counter)
    retransmissions: int = 0
    tunnel_down: TunnelCount = field(default_factory=TunnelCount)
    tunnel_up: TunnelCount = field(default_factory=TunnelCount)

    def keep(self, exchange: Exchange) -> None:
        """Append ``exchange``; past EXCHANGES_KEPT, the one before it is dropped when it was a
        routine refresh (answered, accepted, same CoA as its predecessor): it is counted and its
        latency kept, so memory stays flat. New CoAs, refusals, releases and failures stay."""
        self.exchange_count += 1
        if len(self.exchanges) > EXCHANGES_KEPT:
            last, before = self.exchanges[-1], self.exchanges[-2]
            routine = (last.accepted and not last.deregistration and last.verified is not False
                       and last.ba_verified is not False and not last.retransmissions
                       and before.coa == last.coa and before.accepted)
            if routine and last.latency is not None:
                self.exchanges.pop()
                self.dropped_latencies.append(last.latency)
        self.exchanges.append(exchange)


@dataclass
class AddressTest:
    """A test of an address and its answer: a care-of test (CoTI/CoT: FAMA's secure mode,
    profile §5, or return routability) or a home test (HoTI/HoT, RFC 6275 §5.2.5)."""

    home: bool
    init: PacketRef  # the HoTI or CoTI
    time: float
    address: str  # the HoA, or the CoA, it tests
    peer: str  # the DAR or correspondent it tests it with
    cookie: bytes
    reply: PacketRef | None = None  # the HoT or CoT
    reply_time: float | None = None
    index: int | None = None  # nonce index
    token: bytes | None = None  # keygen token


@dataclass
class Attachment:
    """An RS and the RA that answered it on the same capture point: the MN joined a DAR's link."""

    rs: PacketRef
    time: float
    vantage: int
    source: str  # the RS's source: :: (a FAMA MN's, profile §2) or a link-local address
    copy_of: Attachment | None = None  # a sighting of the same bytes at another capture point
    elsewhere: tuple[PacketRef, float, str | None, str] | None = None  # the first RA at another capture point
    ra: PacketRef | None = None
    ra_time: float | None = None
    prefix: str | None = None
    dar: str | None = None


@dataclass
class Handover:
    """A new CoA (or the return home) of one MN and what became of its addresses."""

    time: float  # first signalling from the new CoA
    first: PacketRef  # its packet
    coa: str
    previous: str | None
    home: bool  # back on the link of the address itself (de-registration from home)
    start: float  # the attachment (RS) when seen, else ``time``
    end: float | None = None  # the last BA that completed it
    kept: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # BUs refused or never answered
    attachment: Attachment | None = None
    breakdown: Breakdown | None = None  # step by step (analysis.latency), once the tunnels are counted

    @property
    def duration(self) -> float | None:
        return None if self.end is None else self.end - self.start

    @property
    def signalling(self) -> float | None:
        return None if self.end is None else self.end - self.time


@dataclass
class MobileNode:
    """One MN: addresses, bindings, handovers, address tests, attachments, releases."""

    id: str
    addresses: list[str]
    key_id: str | None
    bindings: list[Binding]
    handovers: list[Handover]
    tests: list[AddressTest]
    attachments: list[Attachment]
    deregistrations: list[Exchange]


@dataclass(slots=True)
class Sighting:
    """What one signalling packet became (kept by a reconstruction made with ``index=True``)."""

    signal: Signal
    record: Exchange | AddressTest | ProxyExchange | Attachment | None  # None: a packet of no exchange
    first: PacketRef | None = None  # a copy: the packet's first sighting, at another capture point


class _Groups:
    """Union-find over addresses (and key ids): who belongs to one MN."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def join(self, a: str, b: str) -> None:
        self.parent[self.find(a)] = self.find(b)


class Reconstruction:
    """Feed :class:`Signal` records in capture order with :meth:`add`, then :meth:`finish`."""

    def __init__(self, findings: Findings, keys: list[KeyPair] | None = None, *, index: bool = False) -> None:
        self.findings = findings
        self.packets: dict[PacketRef, Sighting] | None = {} if index else None
        self._refs: dict[bytes, PacketRef] = {}  # dedupe key -> first sighting, when indexing
        self.keys = {k.public_der: k for k in keys or []}
        self.bindings: dict[tuple[str, str], Binding] = {}
        self.tests: list[AddressTest] = []
        self.proxy = ProxyReconstruction(findings)
        self.attachments: list[Attachment] = []
        self.dars: dict[str, str] = {}  # prefix -> DAR address, from RAs with the R bit
        # distinct packets per kind, but RS: RS transmissions, one per attachment (module docstring):
        # an identical RS at another capture point counts until the same RA there shows one link
        self.counts: Counter[str] = Counter()
        self.rs_apart = 0  # RS sightings the copy test took for copies that count as RSs of their own
        self.sightings: Counter[str] = Counter()  # every capture point's copy counted
        self._kinds: dict[bytes, str] = {}  # dedupe key -> kind, for sightings
        self._answers: dict[bytes, Exchange | ProxyExchange] = {}  # a BA's dedupe key -> the exchange it answered
        self._solicits: dict[bytes, Attachment] = {}  # an RS's dedupe key -> its first sighting
        self._adverts: dict[bytes, list[Attachment]] = {}  # an RA's dedupe key -> the attachments it answered
        self._key_of: dict[str, KeyPair] = {}  # key id -> the MN's key pair from --keys
        self._outer: dict[tuple[str, str | None], list[Binding]] | None = None  # (DAR, CoA) -> bindings, at the end

    # ---------------------------------------------------------------- input

    def sighting(self, key: bytes, now: float, ref: PacketRef | None = None, vantage: int | None = None) -> None:
        """The same packet seen again at another capture point (``vantage``, as ``ref``)."""
        first = self._refs.get(key)
        if self.packets is not None and ref is not None and first in self.packets:
            seen = self.packets[first]
            self.packets[ref] = Sighting(seen.signal, seen.record, first)
        kind = self._kinds.get(key)
        if kind is not None:
            self.sightings[kind] += 1
        answered = self._answers.get(key)
        if answered is not None:  # a BA seen again: its last sighting is the requester's view (answer.py)
            answered.ba_last_seen = now
        if vantage is not None:
            self._link_scoped(key, now, ref, vantage)

    def _link_scoped(self, key: bytes, now: float, ref: PacketRef | None, vantage: int) -> None:
        """An RS or RA seen again at capture point ``vantage`` (module docstring): the RS is an
        attachment there too, until an RA shows that both points are on one link."""
        solicited = self._solicits.get(key)
        if solicited is not None:
            self.attachments.append(Attachment(ref or solicited.rs, now, vantage, solicited.source, copy_of=solicited))
            self._count_rs(1)
            self._point({ref}, self.attachments[-1])
        for a in self._adverts.get(key, []):
            first = a.copy_of or a
            same = [c for c in self._recent(now, ATTACH_WINDOW + 2 * DUPLICATE_WINDOW)
                    if c.ra is None and c.vantage == vantage and (c is first or c.copy_of is first)]  # fmt: skip
            for c in same:  # the RS at this capture point was the one this RA answered: one attachment
                self.attachments.remove(c)
                self._count_rs(-1)
            if same:
                sightings = {a.rs, *(c.rs for c in same)}
                a.rs, a.time = first.rs, first.time
                self._point(sightings, a)

    def _count_rs(self, more: int) -> None:
        """An RS sighting at another capture point is an RS of its own (``more`` 1), or no
        longer (-1: it and another sighting are one transmission, one attachment)."""
        self.counts["RS"] += more
        self.rs_apart += more

    def _point(self, refs: set[PacketRef | None], a: Attachment) -> None:
        """With ``index``: the RS sightings ``refs`` became attachment ``a``; all but its RS's
        first sighting (``a.rs``) are copies of that one."""
        if self.packets is None:
            return
        for ref in refs:
            if ref is not None and (seen := self.packets.get(ref)) is not None:
                self.packets[ref] = Sighting(seen.signal, a, None if ref == a.rs else a.rs)

    def add(self, sig: Signal, ref: PacketRef, now: float, vantage: int, ip: bytes, key: bytes) -> None:
        self.counts[sig.kind] += 1
        self.sightings[sig.kind] += 1
        self._kinds[key] = sig.kind
        self._trim()
        node = sig.proxy.mn_id if sig.proxy is not None else None  # a PMIPv6 node: by its identifier
        address = node or sig.hoa or (sig.dst if sig.kind in ("BA", "HoT", "CoT", "PBA") else sig.src)
        for problem in sig.problems:
            self.findings.add(problem.kind, problem.detail, ref, address)
        handler = {
            "BU": self._bu, "BA": self._ba, "HoTI": self._test, "CoTI": self._test, "HoT": self._reply,
            "CoT": self._reply, "PBU": self._pbu, "PBA": self._pba, "RS": self._rs, "RA": self._ra, "BE": self._be,
        }.get(sig.kind)  # fmt: skip
        record = handler(sig, ref, now, vantage, ip, key) if handler is not None else None
        if self.packets is not None:
            self.packets[ref] = Sighting(sig, record)
            self._refs[key] = ref

    def binding(self, hoa: str, dar: str) -> Binding:
        found = self.bindings.get((hoa, dar))
        if found is None:
            found = self.bindings[(hoa, dar)] = Binding(hoa, dar)
        return found

    # ---------------------------------------------------------------- BU

    def _bu(self, sig: Signal, ref: PacketRef, now: float, vantage: int, ip: bytes, key: bytes) -> Exchange | None:
        if sig.seq is None:
            return None
        hoa = sig.hoa or sig.src
        b = self.binding(hoa, sig.dst)
        digest = hash(key)
        if b.last_seq is not None and not seq_newer(sig.seq, b.last_seq):  # RFC 6275 §9.5.1
            earlier = b.seen_bytes.get(sig.seq)
            if earlier is not None and earlier[0] == digest:
                self.findings.add("replay", f"BU seq {sig.seq} for {hoa} at {sig.dst} repeats the bytes of "
                                            f"frame {earlier[1][1]}", ref, hoa)
            else:
                self.findings.add("sequence-regression", f"BU seq {sig.seq} for {hoa} at {sig.dst} is not newer "
                                                         f"than {b.last_seq}", ref, hoa)
        else:
            b.last_seq = sig.seq
        b.seen_bytes[sig.seq] = (digest, ref)
        if len(b.seen_bytes) > SEQ_REMEMBERED:
            b.seen_bytes.pop(next(iter(b.seen_bytes)))
        # a BAD in a home registration is FAMA's PHKT (profile §4); in a BU to a correspondent it
        # comes from return routability (RFC 6275 §5.2.6, §9.5.1)
        auth = "cga" if CGA_PARAMS in sig.options else ("phkt" if sig.home else "rr") if BAD in sig.options else "none"
        ex = Exchange(ref, now, sig.src, hoa, sig.dst, sig.seq, sig.lifetime or 0, sig.ack, auth,
                      sig.deregistration)
        earlier_pending = [p for p in b.pending if p.coa == sig.src and p.deregistration == ex.deregistration]
        if earlier_pending:
            ex.retransmissions = earlier_pending[-1].retransmissions + 1
            b.retransmissions += 1
        b.pending = [p for p in b.pending if p not in earlier_pending] + earlier_pending[-4:] + [ex]
        b.auth[auth] += 1
        b.keep(ex)
        if ex.deregistration and not ex.ack:  # no BA will come: the binding is gone when it arrives
            b.state, b.coa = "de-registered", None
        elif b.state in ("unknown", "refused"):
            b.state = "pending"
        self._verify_bu(b, ex, sig, ip, ref)
        return ex

    def _verify_bu(self, b: Binding, ex: Exchange, sig: Signal, ip: bytes, ref: PacketRef) -> None:
        if sig.cut or ex.auth == "none" or (ex.auth == "phkt" and b.phkt is None):
            return
        msg = decode(ip) if (NONCE_INDICES in sig.options or ex.auth == "cga") else None
        home_token = b.phkt
        if isinstance(msg, BindingUpdate):
            if msg.nonce_indices and msg.nonce_indices[1]:
                ex.secure = ex.auth != "rr"
                ex.care_of_token = self._token(False, ex.coa, ex.dar, msg.nonce_indices[1])
            if ex.auth == "rr" and msg.nonce_indices:  # Kbm from the home and care-of keygen tokens
                home_token = self._token(True, ex.hoa, ex.dar, msg.nonce_indices[0])
                if home_token is None or (ex.care_of_token is None and not ex.deregistration):
                    return  # the capture lacks the HoT or the CoT: not checked
            if msg.cga_params:
                self._learn_key(b, msg.cga_params)
        elif ex.auth == "rr":
            return
        phkt = home_token if ex.auth in ("phkt", "rr") or BAD in sig.options else None
        verdict = verify_bu(ip, phkt=phkt, care_of_token=ex.care_of_token)
        ex.verified, ex.verdict = _result(verdict), verdict.as_dict()
        self._report(verdict, ref, ex.hoa, "BU", sig)

    def _learn_key(self, b: Binding, params: bytes) -> None:
        try:
            public = CgaParams.decode(params).public_key
        except ValueError:
            return
        b.key_id = hashlib.sha1(public).hexdigest()[:16]
        if public in self.keys:
            self._key_of[b.key_id] = self.keys[public]

    def _report(self, verdict: Verdict, ref: PacketRef, address: str, what: str, sig: Signal) -> None:
        """A verification-failed finding for the checks that failed, but for the placement sentences
        the packet's option-placement findings already give (signalling.py): counted once."""
        placed = {p.detail for p in sig.problems if p.kind == "option-placement"}
        failed = []
        for c in verdict.checks:
            detail = "; ".join(s for s in c.detail.split("; ") if s not in placed) if c.name == "framing" else c.detail
            if c.ok is False and detail:
                failed.append(f"{c.name} ({detail})")
        if failed:
            names = ", ".join(failed)
            self.findings.add("verification-failed", f"{what} from {address}: {names}", ref, address)

    def _token(self, home: bool, address: str, peer: str, index: int) -> bytes | None:
        """The keygen token of the latest home (or care-of) test of ``address`` with ``peer`` whose
        answer carried nonce index ``index``."""
        for s in reversed(self.tests):
            if s.home == home and s.address == address and s.peer == peer and s.index == index:
                return s.token
        return None

    # ---------------------------------------------------------------- BA

    def _match(self, sig: Signal) -> tuple[Binding, Exchange] | None:
        """The pending exchange a BA answers: by (HoA, DAR, seq); 135 the newest; else by CoA."""
        b = self.bindings.get((sig.hoa or sig.dst, sig.src))
        if b is not None:
            found = next((p for p in reversed(b.pending) if p.seq == sig.seq), None)
            if found is not None:
                return b, found
            if sig.status == 135 and b.pending:
                return b, b.pending[-1]
        for other in self.bindings.values():  # a BA without RH2 (ns-3 put it after the MH): by CoA
            if other.dar == sig.src and other is not b:
                found = next((p for p in reversed(other.pending) if p.seq == sig.seq and p.coa == sig.dst), None)
                if found is not None:
                    return other, found
        return None

    def _ba(self, sig: Signal, ref: PacketRef, now: float, vantage: int, ip: bytes, key: bytes) -> Exchange | None:
        if sig.status is None:
            return None
        self._error_status(sig, ref, "BA")
        found = self._match(sig)
        if found is None and (proxied := self.proxy.pba(sig, ref, now)) is not None:
            self._answers[key] = proxied  # a Proxy BA without the P flag or proxy options
            return None
        if found is None:
            self.findings.add("ba-without-bu", f"BA seq {sig.seq} status {sig.status} from {sig.src} to "
                                               f"{sig.dst} answers no BU seen", ref, sig.hoa or sig.dst)
            return None
        b, ex = found
        b.pending = [p for p in b.pending if p is not ex and p.time > ex.time]
        ex.ba, ex.ba_time, ex.ba_last_seen = ref, now, now
        ex.status, ex.granted = sig.status, sig.lifetime
        ex.phkt_issued = PHKT in sig.options and sig.status < REFUSED
        b.statuses[sig.status] += 1
        if ex.phkt_issued:
            b.phkt_issued.append((now, ref))
        if sig.status < REFUSED:
            b.state = "de-registered" if ex.deregistration else "registered"
            b.coa = None if ex.deregistration else ex.coa
        elif b.state == "pending":
            b.state = "refused"
        self._answers[key] = ex
        self._verify_ba(b, ex, sig, ip, ref)
        return ex

    def _error_status(self, sig: Signal, ref: PacketRef, what: str) -> None:
        if (sig.status or 0) >= REFUSED:
            name = BA_STATUS.get(sig.status or 0, "unassigned")
            self.findings.add("error-status", f"{what} status {sig.status} ({name}) from {sig.src}", ref,
                              sig.hoa or sig.dst)

    def _verify_ba(self, b: Binding, ex: Exchange, sig: Signal, ip: bytes, ref: PacketRef) -> None:
        keypair = self._key_of.get(b.key_id or "")
        token = ex.care_of_token if ex.accepted else None
        if sig.cut:  # a truncated-packet finding already; the PHKT's ciphertext is not all there
            return
        if PHKT in sig.options and keypair is not None:
            verdict = verify_ba(ip, care_of_token=token, mn_keypair=keypair)
            ba = decode(ip, lenient=True)
            if isinstance(ba, BindingAck) and ba.phkt_ciphertext is not None and ex.accepted:
                try:
                    b.phkt = decrypt_phkt(keypair, ba.phkt_ciphertext)
                except PhktError:
                    pass
        elif BAD in sig.options and b.phkt is not None:
            verdict = verify_ba(ip, phkt=b.phkt, care_of_token=token)
        else:
            return
        ex.ba_verified, ex.ba_verdict = _result(verdict), verdict.as_dict()
        self._report(verdict, ref, ex.hoa, "BA", sig)

    # ---------------------------------------------------------------- the rest

    def _test(self, sig: Signal, ref: PacketRef, now: float, vantage: int, ip: bytes, key: bytes) -> AddressTest:
        self.tests.append(AddressTest(sig.kind == "HoTI", ref, now, sig.src, sig.dst, sig.cookie or b""))
        return self.tests[-1]

    def _reply(self, sig: Signal, ref: PacketRef, now: float, vantage: int, ip: bytes, key: bytes) -> AddressTest | None:
        """A HoT or CoT answers the test with its cookie, sent to the address tested (RFC 6275 §6.1.5-6)."""
        home = sig.kind == "HoT"
        for s in reversed(self.tests):
            if (s.reply is None and s.home == home and s.address == sig.dst and s.peer == sig.src
                    and s.cookie == sig.cookie):
                s.reply, s.reply_time, s.index, s.token = ref, now, sig.index, sig.token
                return s
        return None

    def _pbu(self, sig: Signal, ref: PacketRef, now: float, vantage: int, ip: bytes, key: bytes) -> ProxyExchange | None:
        return self.proxy.pbu(sig, ref, now)

    def _pba(self, sig: Signal, ref: PacketRef, now: float, vantage: int, ip: bytes, key: bytes) -> ProxyExchange | None:
        self._error_status(sig, ref, "Proxy BA")
        ex = self.proxy.pba(sig, ref, now)
        if ex is None:
            self.findings.add("ba-without-bu", f"Proxy BA seq {sig.seq} status {sig.status} from {sig.src} to "
                                               f"{sig.dst} answers no Proxy BU seen", ref, sig.dst)
            return None
        self._answers[key] = ex
        return ex

    def _be(self, sig: Signal, ref: PacketRef, now: float, vantage: int, ip: bytes, key: bytes) -> None:
        self.findings.add("error-status", f"Binding Error status {sig.status} from {sig.src}", ref, sig.dst)

    def _rs(self, sig: Signal, ref: PacketRef, now: float, vantage: int, ip: bytes, key: bytes) -> Attachment:
        self.attachments.append(Attachment(ref, now, vantage, sig.src))
        self._solicits[key] = self.attachments[-1]
        return self.attachments[-1]

    def _ra(self, sig: Signal, ref: PacketRef, now: float, vantage: int, ip: bytes, key: bytes) -> Attachment | None:
        if sig.prefix is not None and sig.dar is not None:
            self.dars[str(IPv6Network(sig.prefix, strict=False))] = sig.dar
        unanswered = [a for a in self._recent(now, ATTACH_WINDOW) if a.ra is None]
        waiting = [a for a in unanswered if a.vantage == vantage]
        multicast = IPv6Address(sig.dst).is_multicast
        if not multicast:  # a solicited unicast RA: to the RS's source
            waiting = [a for a in waiting if a.source == sig.dst][-1:] or waiting[-1:]
        answer = (ref, now, sig.prefix, sig.dar or sig.src)
        for a in waiting:
            a.ra, a.ra_time, a.prefix, a.dar = answer
        if not waiting:  # none here: the first RA elsewhere, should no RA come at the RS's own point
            for a in unanswered:
                if a.elsewhere is None and (multicast or a.source == sig.dst):
                    a.elsewhere = answer
        self._adverts[key] = waiting
        return waiting[-1] if waiting else None

    def _recent(self, now: float, window: float) -> list[Attachment]:
        """The attachments whose RS came at most ``window`` seconds before ``now``, in time order."""
        recent: list[Attachment] = []
        for a in reversed(self.attachments):
            if now - a.time > window:
                break
            recent.append(a)
        return recent[::-1]

    def _trim(self) -> None:
        """Forget the oldest half of the remembered packets (a copy arrives within a second)."""
        for memo in (self._kinds, self._answers, self._refs, self._solicits, self._adverts):
            if len(memo) > MEMO_KEPT:
                for old in list(memo)[: MEMO_KEPT // 2]:
                    del memo[old]

    # ---------------------------------------------------------------- end of capture

    def finish(
        self, tunnels: dict[tuple[str, str, str, str], TunnelCount], native: dict[str, NativeCount]
    ) -> list[MobileNode]:
        """Unanswered BUs become findings; addresses are grouped into MNs; tunnels join bindings."""
        for a in self.attachments:  # no RA at its own capture point: the one seen elsewhere (module docstring)
            if a.ra is None and a.elsewhere is not None:
                a.ra, a.ra_time, a.prefix, a.dar = a.elsewhere
        for b in self.bindings.values():
            for p in b.pending:
                if p.ack and p.ba is None and p is b.pending[-1]:
                    self.findings.add("bu-unanswered", f"BU seq {p.seq} for {p.hoa} to {p.dar} from {p.coa} "
                                                       f"never answered", p.bu, p.hoa)
        self._join_tunnels(tunnels)
        first_use: dict[str, float] = {a: c.first for a, c in native.items()}
        for b in self.bindings.values():
            for ex in b.exchanges:
                for address in (ex.coa, ex.hoa):
                    first_use[address] = min(first_use.get(address, ex.time), ex.time)
        return self._group(first_use)

    def _join_tunnels(self, tunnels: dict[tuple[str, str, str, str], TunnelCount]) -> None:
        for key, count in tunnels.items():
            target = self._tunnel_of(key)
            if target is not None:
                target.add(count)

    def _tunnel_of(self, key: tuple[str, str, str, str]) -> TunnelCount | None:
        """The binding tunnel a stream belongs to: down (DAR -> CoA) by its inner destination, up by
        its inner source; with the inner header cut (CUT_INNER), the one binding between the outer
        addresses, a DAR and a CoA it registered (none when several share them)."""
        osrc, odst, isrc, idst = key
        if isrc == idst == CUT_INNER:
            if self._outer is None:
                self._outer = {}
                for b in self.bindings.values():
                    for coa in {ex.coa for ex in b.exchanges} | {b.coa}:  # those its BUs registered or tried
                        self._outer.setdefault((b.dar, coa), []).append(b)
            down, up = self._outer.get((osrc, odst), []), self._outer.get((odst, osrc), [])
            if len(down) + len(up) != 1:
                return None
            return down[0].tunnel_down if down else up[0].tunnel_up
        by_inner_dst, by_inner_src = self.bindings.get((idst, osrc)), self.bindings.get((isrc, odst))
        if by_inner_dst is not None:
            return by_inner_dst.tunnel_down
        return by_inner_src.tunnel_up if by_inner_src is not None else None

    def unmatched_tunnels(self, tunnels: dict[tuple[str, str, str, str], TunnelCount]) -> list[tuple[tuple[str, str, str, str], TunnelCount]]:
        return [(k, c) for k, c in tunnels.items() if self._tunnel_of(k) is None]

    def _group(self, first_use: dict[str, float]) -> list[MobileNode]:
        """MNs: a BU joins its CoA and HoA unless it failed verification (a forged BU must not
        join the attacker's address to the victim's); one CGA key joins its HoAs."""
        groups = _Groups()
        for b in self.bindings.values():
            groups.find(b.hoa)
            if b.key_id:
                groups.join("key:" + b.key_id, b.hoa)
            for ex in b.exchanges:
                if ex.verified is not False and ex.ba_verified is not False:
                    groups.join(ex.coa, b.hoa)
        members: dict[str, list[Binding]] = {}
        for b in self.bindings.values():
            members.setdefault(groups.find(b.hoa), []).append(b)
        nodes = []
        for root, bindings in sorted(members.items(), key=lambda kv: min(_first_time(b) for b in kv[1])):
            addresses = sorted((a for a in groups.parent if groups.find(a) == root and not a.startswith("key:")),
                               key=lambda a: first_use.get(a, float("inf")))
            key_id = next((b.key_id for b in bindings if b.key_id), None)
            tests = [s for s in self.tests if s.address in addresses]
            nodes.append(MobileNode(f"mn{len(nodes) + 1}", addresses, key_id, bindings,
                                    self._handovers(bindings, addresses), tests, [], []))
        self._attach(nodes, first_use)
        for node in nodes:
            node.deregistrations = [ex for b in node.bindings for ex in b.exchanges if ex.deregistration]
            for f in self.findings:
                if f.address in node.addresses:
                    f.mn = node.id
        return nodes

    def _handovers(self, bindings: list[Binding], addresses: list[str]) -> list[Handover]:
        """A new CoA starts a handover; per HoA, its first attempt from that CoA (the BUs up to the
        first acceptance: retransmissions, and retries after 135, 137 or 147) says kept (accepted
        registration), released (de-registration) or failed (refused, or never answered)."""
        timeline = sorted((ex for b in bindings for ex in b.exchanges if ex.coa in addresses), key=lambda ex: ex.time)
        out: list[Handover] = []
        attempts: dict[str, list[Exchange]] = {}
        for ex in timeline:
            if not out or ex.coa != out[-1].coa:
                home = ex.coa == ex.hoa and ex.deregistration  # back on the address's own link
                previous = out[-1].coa if out else (None if ex.hoa == ex.coa else ex.hoa)
                out.append(Handover(ex.time, ex.bu, ex.coa, previous, home, ex.time))
                attempts = {}
            tries = attempts.setdefault(ex.hoa, [])
            if tries and tries[-1].accepted:
                continue  # the first attempt is over: a refresh or a later release, not this handover
            tries.append(ex)
            h = out[-1]
            answered = ex.ba_last_seen is not None
            for lst in (h.kept, h.released, h.failed):
                if ex.hoa in lst:
                    lst.remove(ex.hoa)
            target = h.failed if not ex.accepted else h.released if ex.deregistration else h.kept
            target.append(ex.hoa)
            if answered and ex.accepted:
                h.end = max(h.end or 0.0, ex.ba_last_seen or 0.0)
        for h in out:
            for s in self.tests:
                if not s.home and s.address == h.coa and 0 <= h.time - s.time < ATTACH_WINDOW:
                    h.time = h.start = min(h.time, s.time)
        return out

    def _attach(self, nodes: list[MobileNode], first_use: dict[str, float]) -> None:
        """Each handover, latest first, takes the latest attachment to its new CoA's prefix before
        it that no later handover took (module docstring): first within ATTACH_WINDOW (an MN
        signals as soon as its RA came, profile §2), then within HANDOVER_WINDOW, so that a
        handover whose RS the capture lacks takes no other MN's. An attachment no handover took
        goes to the MN that next uses an address of its prefix (a first use: native traffic, a BU).
        An RS before the MN's previous handover is none of this one's: the MN moved after it."""
        answered = [(a, IPv6Network(a.prefix, strict=False)) for a in self.attachments if a.prefix is not None]
        taken: set[int] = set()
        owner: dict[int, MobileNode] = {}
        moves = sorted(((h, node, node.handovers[k - 1].time if k else float("-inf"))
                        for node in nodes for k, h in enumerate(node.handovers)),
                       key=lambda m: (m[0].time, m[0].first))  # fmt: skip
        for window in (ATTACH_WINDOW, HANDOVER_WINDOW):
            for h, node, moved in reversed(moves):
                coa = IPv6Address(h.coa)
                mine = [a for a, net in answered if h.attachment is None and id(a) not in taken and coa in net
                        and 0 <= h.time - a.time <= window and a.time > moved
                        and a.ra_time is not None and a.ra_time <= h.time]  # fmt: skip
                if mine:
                    h.attachment = max(mine, key=lambda a: a.time)
                    h.start = h.attachment.time
                    taken.add(id(h.attachment))
                    owner[id(h.attachment)] = node
        for a, net in answered:
            if id(a) not in taken:
                used = [(t, node) for node in nodes for x in node.addresses
                        if IPv6Address(x) in net and (t := first_use.get(x, -1)) >= a.time]  # fmt: skip
                if used:
                    owner[id(a)] = min(used, key=lambda u: u[0])[1]
            if id(a) in owner:
                owner[id(a)].attachments.append(a)


def _first_time(b: Binding) -> float:
    return b.exchanges[0].time if b.exchanges else 0.0
