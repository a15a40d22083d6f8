"""What the mutants go to: our dissector and verifier, our cores, or (``iface``) any implementation.

Theory of operation
-------------------
A target takes the bytes of one case and answers with an *outcome*, a short
label of what it did ("BA 148", "drop:framing", "rejected:signature"); the
campaign counts (mutator, outcome) pairs as the coverage reached. ::

    dissect   bytes -> IPv6(raw) (our layers) -> rebuild == raw -> verify_bu / verify_ba,
              and codec.decode of the bytes (wire.py fast path) == of the layers' packet
    decode    bytes -> codec.decode; a BindingUpdate (the fast path's answer) must equal
              what the layers decode from the same bytes
    inproc    bytes -> codec.decode -> DarCore / MnCore (a copy of the world's template)
              -> every message it sends through codec.encode_bytes; the DAR's
              messages also go to one long-lived "soak" DAR (bounds oracle)
    dar, mn   inproc with the seeds of one role: every input goes to that core
    analyze   bytes as one captured frame -> the analyser's fast path, signalling
              reader and reconstruction (analysis.analyze_frames)
    iface     bytes -> the wire -> whatever answers (scapy_fama.fuzz.iface)

``alive`` is the liveness oracle: a probe, a first BU from a fresh MN (a Sec 0
CGA from a modifier the case's RNG picks, re-signed), must get BA 0 with the
right sequence number, RH2 and a PHKT whose BAD verifies. ``reset`` gives each
case a fresh copy of the templates, so that any case replays alone.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, replace
from collections.abc import Hashable
from typing import TypeVar

from scapy.layers.inet6 import IPv6

from scapy_fama.analysis.analyze import analyze_frames
from scapy_fama.codec import decode, encode_bytes
from scapy_fama.layers.headers import find_mh
from scapy_fama.crypto import PhktError, cga_generate, check_authenticator, decrypt_phkt, kbm
from scapy_fama.fuzz.oracles import peak_memory
from scapy_fama.fuzz.seeds import DAR1, DAR_ROLE, LIFETIME, MN_ROLE, PREFIX1, Seed, Snapshot, World
from scapy_fama.proto import DarCore, MnCore
from scapy_fama.proto.effects import Drop, Effects, Notify, Send
from scapy_fama.proto.messages import BindingAck, BindingUpdate, Datagram, Message, Tunnelled, Undecodable
from scapy_fama.verify import verify_ba, verify_bu
from scapy_fama.wire import parse
from scapy_fama.wire.numbers import BA, IPV6_HEADER

PROBE_POOL = 16  # fresh MNs an in-process probe picks from
SOAK_STEP = 0.05  # virtual seconds between two messages to the soak DAR
PROBES_REMEMBERED = 4096  # probe verdicts an in-process target keeps (then forgets them all at once)
CASES_REMEMBERED = 16384  # cases, decoded bytes, encoded messages an in-process target keeps (likewise)
K, V = TypeVar("K", bound=Hashable), TypeVar("V")
CASE_START = 3.0  # virtual seconds: one second after the templates' last message
MEMORY_LIMIT = 1 << 30  # bytes of peak RSS growth that count as unbounded memory


@dataclass(frozen=True)
class Probe:
    """A legitimate first BU from a fresh MN, and what its BA must say."""

    raw: bytes
    coa: str
    hoa: str
    dar: str
    seq: int


def make_probe(world: World, rng: random.Random, *, coa: str, dar: str, prefix: str) -> Probe:
    """A fresh MN's first BU (profile §4) from ``coa`` to ``dar`` for a new CGA in ``prefix``."""
    cga = cga_generate(prefix, world.key, sec=0, modifier=rng.randbytes(16))
    seq = rng.randrange(0x10000)
    bu = BindingUpdate(coa, dar, cga.address, seq, LIFETIME, cga_params=cga.params, sign_with=world.key)
    return Probe(encode_bytes(bu), coa, cga.address, dar, seq)


def probe_problem(answers: list[bytes], probe: Probe, world: World) -> str | None:
    """Why none of ``answers`` is the correct BA to ``probe`` (profile §4, §6 step 7), or None.

    Read with the codec's byte reader (leniently, so that a defect is named rather than the
    answer dropped), so that a probe costs no Scapy dissection.
    """
    seen = []
    for raw in answers:
        ba = decode(raw, lenient=True)
        if not isinstance(ba, BindingAck):
            seen.append("not a BA")
            continue
        problem = _ba_problem(ba, probe, world)
        if problem is None:
            return None
        seen.append(problem)
    return "; ".join(seen) if seen else "no answer to a fresh MN's first BU"


def _ba_problem(ba: BindingAck, probe: Probe, world: World) -> str | None:
    if ba.status != 0 or ba.seq != probe.seq or ba.hoa != probe.hoa or ba.dst != probe.coa:
        return f"BA {ba.status} seq {ba.seq} for {ba.hoa} to {ba.dst}, not BA 0 to the probe"
    if ba.phkt_ciphertext is None or ba.bad is None:
        return "BA 0 without PHKT or BAD"
    try:
        phkt = decrypt_phkt(world.key, ba.phkt_ciphertext)
    except PhktError as exc:
        return f"the PHKT does not decrypt: {exc}"
    if not check_authenticator(ba.bad, kbm(phkt, None), probe.coa, probe.dar, ba.auth_data):
        return "the BA's BAD does not verify with the PHKT it carries"
    return f"the BA is malformed: {'; '.join(ba.framing)}" if ba.framing else None


def carries_as_received(sent: Message, received: Message) -> bool:
    """``sent`` tunnels the received packet on (RFC 6275 §10.4.1): the drivers put the packet's
    own bytes inside (automata.base ``_as_received``), so only the outer header is built, and an
    inner packet the codec could not read (Undecodable) goes on all the same."""
    if not isinstance(sent, Tunnelled):
        return False
    if isinstance(received, (Datagram, Tunnelled)) and isinstance(sent.inner, (Datagram, Tunnelled)):
        return sent.inner == replace(received, hlim=sent.inner.hlim)  # one hop on
    return sent.inner == received


def outcome_of(effects: Effects) -> str:
    """A short label of what a core did."""
    parts = set()
    for e in effects:
        if isinstance(e, Send):
            name = type(e.msg).__name__
            parts.add(f"BA {e.msg.status}" if isinstance(e.msg, BindingAck) else name)
        elif isinstance(e, Drop):
            parts.add(f"drop:{e.code}")
        elif isinstance(e, Notify):
            parts.add(e.event)
    return ", ".join(sorted(parts)) or "silent"


class Target:
    """The interface of a target; ``liveness_every`` cases between probes."""

    name = "target"
    roles: tuple[str, ...] = (DAR_ROLE, MN_ROLE)
    liveness_every = 1
    keeps_state = False  # True: a case's effect depends on the cases before it (iface)

    def setup(self, world: World) -> None:
        self.world = world

    def reset(self) -> None:
        """Fresh state before a case."""

    def run(self, raw: bytes, seed: Seed, now: float) -> str:
        raise NotImplementedError

    def alive(self, rng: random.Random, now: float) -> str | None:
        return None

    def needs_probe(self) -> bool:
        """False when the last case cannot have changed what :meth:`alive` would find: then it
        is not called."""
        return True

    def bounded(self) -> str | None:
        return None

    def close(self) -> None:
        """Release what setup took."""


def same_decoding(raw: bytes, msg: Message, pkt: IPv6 | None = None) -> None:
    """The codec's answer from the bytes (the wire.py fast path where it applies) is the
    layers' answer from the dissected packet; AssertionError when they differ."""
    if raw[0] >> 4 != 6:  # not IPv6: decode(bytes) says so, Scapy's IPv6() dissects it anyway
        return
    layers = decode(IPv6(raw) if pkt is None else pkt)
    if layers != msg:
        raise AssertionError(f"the wire reader and the layers disagree: {msg!r} != {layers!r}")


class DissectTarget(Target):
    """Our layers, the wire reader, the codec and verification, on the mutated bytes."""

    name = "dissect"
    liveness_every = 100

    def run(self, raw: bytes, seed: Seed, now: float) -> str:
        parse(raw)
        msg = decode(raw)
        if len(raw) < IPV6_HEADER:  # what our tools do with such bytes (codec, analysis reader)
            return f"short ({type(msg).__name__})"
        pkt = IPv6(raw)
        pkt.summary()
        if bytes(pkt) != raw:  # our layers rebuild what they dissected (layers/options.py)
            raise AssertionError(f"dissected packet rebuilds to other bytes: {bytes(pkt).hex()} != {raw.hex()}")
        same_decoding(raw, msg, pkt)
        mh = find_mh(pkt)
        if mh is None:
            return f"no-mh ({type(msg).__name__})"
        if mh.mhtype == BA:
            verdict = verify_ba(pkt, mn_keypair=self.world.key)
        else:
            verdict = verify_bu(pkt, phkt=self.world.phkt)
        failed = [c.name for c in verdict.failed]
        return f"rejected:{failed[0]}" if failed else "verified"

    def setup(self, world: World) -> None:
        super().setup(world)
        self.expected = {s.name: self.run(s.raw, s, 0.0) for s in world.seeds.values()}

    def alive(self, rng: random.Random, now: float) -> str | None:
        """The untouched seeds still come out as at the start (no global state was broken)."""
        for seed in self.world.seeds.values():
            got = self.run(seed.raw, seed, now)
            if got != self.expected[seed.name]:
                return f"seed {seed.name}: {got}, was {self.expected[seed.name]}"
        return None


class InprocTarget(Target):
    """DarCore / MnCore through the codec, as the drivers run them.

    A case that leaves its core exactly as the template is (:meth:`World.as_built`: most
    mutants are dropped or refused without a trace) needs no probe: the probe is the same
    input on the same state at the same time, so it would answer as it does on the template,
    where every probe is checked to pass once at set-up. Nor does the next case need a fresh
    clone: it takes that core. Cases that changed their core are probed, and their core is
    thrown away. By the same reasoning a probe's verdict is remembered by what it depends on
    (:meth:`probe_key`: the core's state and the generators', byte for byte, the probe and its
    time): most cases that change a core leave it in a state an earlier case left it in, and
    their probe would be that case's probe again (RSA decryption, CGA check and signature
    included).

    A case itself is remembered by what it depends on: every case starts from the template's
    state at the same time (a kept core is as built, its generators rewound), so what its core
    does is a function of the role and the decoded message alone (a message is plain data,
    compared field by field). Most mutants decode to a message an earlier mutant did (the same
    reason to be undecodable, the same refused BU): such a case takes that case's outcome,
    whether it left its core as built and the snapshot of the core it left (so its probe's
    verdict too, when that probe ran), without a clone, the core or a pickle. Its core is
    played (the message delivered to a copy of the template) only for a probe not remembered.
    Likewise bytes met before are not decoded again, nor a message a core sends encoded again
    (both are functions of their input). The soak DAR, whose state is the sum of every case,
    takes every message, remembered or not."""

    remembers = True  # False: every case decodes, runs its core, encodes and probes (what tests compare with)

    name = "inproc"

    def setup(self, world: World) -> None:
        super().setup(world)
        assert world.dar_template is not None and world.mn_template is not None
        self.soak: DarCore = copy.deepcopy(world.dar_template)  # its own generator, never rewound
        self.soak_now = CASE_START
        self.baseline = peak_memory()
        self.probes: dict[int, tuple[Probe, Message]] = {}  # pool index -> the probe, decoded once
        self._real_ba = decode(world.seeds["ba"].raw)  # what the MN's probe delivers
        self._decoded: dict[bytes, Message] = {}  # a case's bytes -> their message
        self._encoded: dict[tuple[Message, bytes | None], None] = {}  # messages sent that encoded
        self._kept: dict[str, DarCore | MnCore] = {}  # a core the last case left as built
        self._verdicts: dict[tuple[object, ...], str | None] = {}  # probe_key -> the probe's verdict
        self._cases: dict[tuple[str, Message, float], tuple[str, bool, Snapshot]] = {}  # case -> what run() learnt
        self.reset()
        self._templates_pass()

    def _templates_pass(self) -> None:
        """Every probe gets its BA from the DAR template, and the real BA registers at the MN
        template (what skipping the probe after a case that changed nothing relies on)."""
        for index in range(PROBE_POOL):
            self.reset()
            self.last_role, self.last_outcome = DAR_ROLE, "silent"
            problem = self._dar_alive(index, CASE_START + 0.5)
            if problem is not None:
                raise RuntimeError(f"the DAR template fails probe {index}: {problem}")
        self.reset()
        self.last_role, self.last_outcome = MN_ROLE, "silent"
        problem = self._mn_alive(CASE_START + 0.5)
        if problem is not None:
            raise RuntimeError(f"the MN template fails its probe: {problem}")
        self.reset()

    def reset(self) -> None:
        self._fresh: dict[str, DarCore | MnCore] = {}
        self._as_built = False
        self._case: tuple[str, Message, float] | None = None  # this case's key, once run
        self._snap: Snapshot | None = None  # the snapshot of the core the case leaves
        self._unplayed = False  # the case's answer came from memory: its core has not seen it

    def _template(self, role: str) -> DarCore | MnCore:
        template = self.world.dar_template if role == DAR_ROLE else self.world.mn_template
        assert template is not None
        return template

    def core(self, role: str) -> DarCore | MnCore:
        """This case's copy of the role's template, made on first use (or the last case's
        copy, when that case left it as built), holding the case's message: a case answered
        from memory is played on it now, for whoever looks at the core (a probe, ours or a
        subclass's)."""
        if role not in self._fresh:
            kept = self._kept.pop(role, None)
            self._fresh[role] = kept if kept is not None else self.world.clone(self._template(role))
        core = self._fresh[role]
        if self._unplayed and self._case is not None and self._case[0] == role:
            self._unplayed = False
            _, msg, at = self._case
            self.deliver(core, msg, at)
        return core

    def deliver(self, core: DarCore | MnCore, msg: Message, now: float) -> Effects:
        effects = core.on_message(msg, now)
        for e in effects:
            if isinstance(e, Send) and not carries_as_received(e.msg, msg):
                self._encodes(e.msg)
        return effects

    def _encodes(self, msg: Message) -> None:
        """What a core sends must encode. Encoding is a function of the message's fields and the
        keys it carries: a message equal to one that encoded, with the same BAD key and no key to
        sign with (a key object has no value to compare), is not encoded again."""
        key = (msg, getattr(msg, "auth_key", None))
        if not self.remembers or getattr(msg, "sign_with", None) is not None:
            encode_bytes(msg)
        elif key not in self._encoded:
            encode_bytes(msg)
            remember(self._encoded, key, None, CASES_REMEMBERED)

    def _decode(self, raw: bytes) -> Message:
        """``decode(raw)``: once per distinct bytes when the target remembers."""
        msg = self._decoded.get(raw) if self.remembers else None
        if msg is None:
            msg = decode(raw)
            if self.remembers:
                remember(self._decoded, raw, msg, CASES_REMEMBERED)
        return msg

    def run(self, raw: bytes, seed: Seed, now: float) -> str:
        msg = self._decode(raw)
        self.last_role = seed.role
        self._case = seed.role, msg, now  # what the case's answer depends on
        known = self._cases.get(self._case) if self.remembers else None
        self._unplayed = known is not None
        if known is not None:
            self.last_outcome, self._as_built, self._snap = known
        else:
            core = self.core(seed.role)
            self.last_outcome = outcome_of(self.deliver(core, msg, now))
            template = self._template(seed.role)
            built, self._snap = self.world.built(template), self.world.snapshot(core, template)
            self._as_built = self._snap == built
            if self._as_built:
                self._snap = built  # one copy of the bytes in memory
            if not self.needs_probe():  # a probe would change the core: then the next case clones
                self._kept[seed.role] = core
            if self.remembers:
                remember(self._cases, self._case, (self.last_outcome, self._as_built, self._snap), CASES_REMEMBERED)
        if seed.role == DAR_ROLE:
            self.soak_now += SOAK_STEP
            self.deliver(self.soak, msg, self.soak_now)
        return self.last_outcome

    def needs_probe(self) -> bool:
        # as built: the template's answer, checked at set-up (for these probes, not a subclass's)
        return not self._as_built or type(self).alive is not InprocTarget.alive

    def alive(self, rng: random.Random, now: float) -> str | None:
        index = None if self.last_role == MN_ROLE else rng.randrange(PROBE_POOL)
        if not self.remembers:
            return self._probe(index, now)
        key = self.probe_key(index, now)
        if key not in self._verdicts:
            remember(self._verdicts, key, self._probe(index, now), PROBES_REMEMBERED)
        return self._verdicts[key]

    def _probe(self, index: int | None, now: float) -> str | None:
        return self._mn_alive(now) if index is None else self._dar_alive(index, now)

    def probe_key(self, index: int | None, now: float) -> tuple[object, ...]:
        """Everything the probe's verdict depends on: the probed core's state (and its class) and
        the templates' generators (:meth:`World.snapshot`, as the case left them), which probe
        (None: the MN's, which also reads the case's outcome) and when."""
        role = self.last_role
        snap = self._snap if self._snap is not None else self.world.snapshot(self.core(role), self._template(role))
        return role, index, now, self.last_outcome if index is None else None, snap

    def _dar_alive(self, index: int, now: float) -> str | None:
        if index not in self.probes:  # fresh to this case's DAR, whichever case used it before
            own = random.Random(f"{self.world.seed}:probe:{index}")  # the same probe in a replay
            made = make_probe(self.world, own, coa=self.world.coa, dar=DAR1, prefix=PREFIX1)
            self.probes[index] = made, decode(made.raw)
        probe, msg = self.probes[index]
        sent = [encode_bytes(e.msg) for e in self.core(DAR_ROLE).on_message(msg, now) if isinstance(e, Send)]
        return probe_problem(sent, probe, self.world)

    def _mn_alive(self, now: float) -> str | None:
        """A mutant the MN refused leaves it as it was: the legitimate BA still registers.

        A mutant the MN took (an authentic refusal, a re-signed BA) may change its
        plans, as the DAR's word should; only a core that raises counts then.
        """
        effects = self.deliver(self.core(MN_ROLE), self._real_ba, now)
        refused = all(p == "silent" or p.startswith("drop:") for p in self.last_outcome.split(", "))
        registered = any(isinstance(e, Notify) and e.event == "binding-registered" for e in effects)
        if refused and not registered:
            return f"after refusing a forged BA ({self.last_outcome}) the MN no longer takes the real one"
        return None

    def bounded(self) -> str | None:
        config = self.soak.config
        if len(self.soak.bindings()) > config.cache_capacity or len(self.soak.records()) > config.max_records:
            return f"soak DAR holds {len(self.soak.bindings())} bindings, {len(self.soak.records())} records"
        grown = peak_memory() - self.baseline
        if grown > MEMORY_LIMIT:
            return f"peak memory grew by {grown >> 20} MiB"
        return None


def remember(memory: dict[K, V], key: K, value: V, limit: int) -> None:
    """``memory[key] = value``, forgetting everything first when ``memory`` holds ``limit`` entries."""
    if len(memory) >= limit:
        memory.clear()
    memory[key] = value


class DecodeTarget(Target):
    """``codec.decode`` alone: it never raises, and its fast path agrees with the layers."""

    name = "decode"
    liveness_every = 100

    def run(self, raw: bytes, seed: Seed, now: float) -> str:
        msg = decode(raw)
        if isinstance(msg, BindingUpdate):  # the one kind the fast path answers
            same_decoding(raw, msg)
        return f"{type(msg).__name__}: {msg.reason.split(':')[0]}" if isinstance(msg, Undecodable) \
            else type(msg).__name__


class DarTarget(InprocTarget):
    """The DAR core alone: every input is a message to it."""

    name = "dar"
    roles = (DAR_ROLE,)


class MnTarget(InprocTarget):
    """The MN core alone (waiting for its BA): every input is a message to it."""

    name = "mn"
    roles = (MN_ROLE,)


class AnalyzeTarget(Target):
    """The analyser (fast path, signalling reader, reconstruction) on one captured frame."""

    name = "analyze"
    liveness_every = 100

    def run(self, raw: bytes, seed: Seed, now: float) -> str:
        report = analyze_frames([(1, now, raw, 0, 0)])
        totals = report.totals
        kinds = sorted({f.kind for f in report.findings})
        what = "signalling" if totals.signalling else "tunnelled" if totals.tunnelled else \
            "native" if totals.native else "other"
        return ", ".join([what, *kinds])
