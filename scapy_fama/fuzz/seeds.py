"""The seed messages of a campaign: legitimate FAMA signalling from one fixed identity.

Theory of operation
-------------------
Every case mutates one *seed*: a legitimate message a target must handle. The
seeds come from a :class:`World` built the same way on every run, so that a
finding's ``(seed, case)`` replays on any machine::

    MnCore (fixed RSA-1024 key, rand seeded)     DarCore template (2001:db8:1::1, rand seeded)
      |-- RA(prefix 1), DAD -> HoA = CGA Sec 0 -----|
      ~~~ moves to prefix 2 ~~~
      |-- first BU (CGA Params, Signature) -------->|  "first-bu"      (MN template: before the BA)
      |<- BA(0, PHKT, BAD) -------------------------|  "ba"            (DAR template: after the BU)
      |-- BU(seq+1, CGA, CGA Params Request) ------>|  "first-bu-req"
      |-- BU(seq+1, NI, BAD with the PHKT) -------->|  "phkt-bu"
      |-- BU(seq+1, lifetime 0, BAD) -------------->|  "dereg-bu"
      |-- CoTI ------------------------------------>|  "coti"

The key is fixed (below): it is a fuzzing identity, not a secret, and a fixed
key is what lets seeds and probes be rebuilt bit for bit. Seeds are built with
the :mod:`scapy_fama.craft` helpers; the DAR and MN templates are the cores in
the states those seeds expect (the DAR holds the PHKT, the MN waits for its BA),
and a target copies them before each case. The PHKT ciphertext of "ba" is a
fixed one (``FUZZ_PHKT_CIPHERTEXT``): the DAR's own is padded at random.
"""

from __future__ import annotations

import io
import pickle
import random
import types
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from cryptography.hazmat.primitives.serialization import load_pem_private_key
from scapy.layers.inet6 import IPv6

from scapy_fama.codec import decode, encode_bytes
from scapy_fama.craft import coti, first_bu, phkt_bu
from scapy_fama.crypto import ZERO_TOKEN, KeyPair, decrypt_phkt
from scapy_fama.fuzz.frame import Frame, Signer
from scapy_fama.proto import DarCore, KeepPolicy, MnConfig, MnCore
from scapy_fama.proto.effects import Effects, Send
from scapy_fama.proto.messages import BindingAck, BindingUpdate, RouterAdvertisement
from scapy_fama.wire.numbers import BA, CGA_PARAMS

DAR1, PREFIX1 = "2001:db8:1::1", "2001:db8:1::/64"
DAR2, PREFIX2 = "2001:db8:2::1", "2001:db8:2::/64"
LIFETIME = 3600  # seconds asked for in the seeds
DAR_ROLE, MN_ROLE = "dar", "mn"  # who receives a seed

FUZZ_KEY_PEM = b"""\
-----BEGIN PRIVATE KEY-----
MIICdwIBADANBgkqhkiG9w0BAQEFAASCAmEwggJdAgEAAoGBALPcp3aCU/2a2SbH
DBka6g3vrJbB0BC5iSjU4xIi8vb9dGp+Cx7Db5Tdv/3aO+F5K5xAAJ7KAG5TlJbz
YCKID8aiynFk5GIDoePqCVEJLl0+qnMyUnMP/FAXNgvb0fI95UTzFqlUl5C2wV7c
DAJXksZW1VkTLSkTUn5SKexgzpM5AgMBAAECgYEApnBcL1hvLNFsfWvYkCrNyFOw
HFoBllh6ymQmNJROzazBXAKDe9ZSnSmPDvQyUXX1m0PGzyoSuAV0DTPuFEZggVqW
OGZbLq0UCMcRprFQvonn2+//v4c+SpxhdqDSrprgrgI7C1SUedLgOmySFCEPu9i5
62SC08NIw17sfPxV2FkCQQDu+VlNwbzbs3Bv5nuLeFW/pRSUktt/NHX8FjaevGPT
ul+TpaSdVfc5r0jFgB+gpHQOy0om+DOyO5vD42gfbHgjAkEAwK0or46NUD23vOwg
wn50DgJDcMsz0GDYr05A8AQgBfV38ChDa141kzcGX5JGCPd4HCo5NYL5Ukd1wmh4
9Lju8wJAbkRgEKD0o+uIVhnjp9c+uc9ST7vzzB5I0qjtSxFifq/gqiAkdPTVvqhC
y97yuQ0pACqNbK3aLMOUfC7SPK2wQQJBALGe7+Lnh15xhvCivZCPAm3nqERTD3EJ
1rfFbBfXta3InMjIVV6ler47+6QfNHEPsapFQngSRcWUGvsdVGRGGAECQB9dDBYs
GgNA3wyd7SV0JG5QsW98luEgcCu245I5rvXDaUdNpqhYo8fWSkND9e+OMjdo2wkq
+8qXLY9A/iWv3Qw=
-----END PRIVATE KEY-----
"""


# The "ba" seed's PHKT, encrypted to the fuzzing key once and for all: RSAES-PKCS1-v1_5 pads at
# random, and with the DAR's own ciphertext a mutant flipping its bits decrypted to other garbage
# (a PHKT of another length, or a wrong one) in every world, so case i did not depend on
# (seed, i) alone. The DAR template, with its generator fixed, always issues the PHKT it holds.
FUZZ_PHKT_CIPHERTEXT = bytes.fromhex(
    "7057fcdc9d47ebc8ae0847ff521daa19a26e51e4930855942ae41161eb42dbca3dbf20148c547bb131671e5792bbc394"
    "af990f007d0c06d6826bef5b3810b57d9ef71a4df231b502746d55550b324af1352c9a199735c864792e209f42c9fe61"
    "13aec99640d20c447bb98779a785fc2ea6357d6b7a6baf76e3a8ce2deaba42f2"
)


def fuzz_key() -> KeyPair:
    """The campaign's fixed RSA-1024 identity (MN, probes)."""
    return KeyPair(load_pem_private_key(FUZZ_KEY_PEM, password=None))  # type: ignore[arg-type]


class Generator(random.Random):
    """The templates' random generator: it counts what the cores draw from it (they take
    ``randbytes`` as their ``rand``), so that an untouched one is told at no cost."""

    draws = 0

    def randbytes(self, n: int) -> bytes:
        self.draws += 1
        return super().randbytes(n)


Snapshot = tuple[bytes, tuple[object, ...]]  # World.snapshot: a core's state and the generators'


@dataclass(frozen=True)
class Seed:
    """One legitimate message: its bytes, who receives it, and how it is authorised.

    ``auth`` says which home token keys its BAD when a mutant is re-signed:
    ``"phkt"`` (the PHKT of the HoA), ``"zero"`` (no BAD, or the zero token) .
    """

    name: str
    raw: bytes
    role: str
    auth: str = "zero"


@dataclass
class World:
    """The identity, the seeds and the core templates of one campaign."""

    seed: int
    key: KeyPair
    hoa: str
    coa: str
    params: bytes  # the HoA's CGA Parameters
    phkt: bytes
    seeds: dict[str, Seed] = field(default_factory=dict)
    dar_template: DarCore | None = None
    mn_template: MnCore | None = None
    signers: dict[tuple[bytes, bool], Signer] = field(default_factory=dict)
    # the templates' random generators and their states once the world is built: copies share
    # the generators (and the key, and the templates' frozen configs), which are rewound before
    # each case instead of copied
    rngs: dict[Generator, tuple[object, ...]] = field(default_factory=dict)
    _blobs: dict[int, bytes] = field(default_factory=dict)
    _prints: dict[int, Snapshot] = field(default_factory=dict)
    _uses: dict[int, tuple[Generator, ...]] = field(default_factory=dict)  # see _generators()
    _globals: dict[int, tuple[int, object]] | None = None  # see state()

    def _shared(self) -> dict[int, object]:
        templates = [t for t in (self.dar_template, self.mn_template) if t is not None]
        return {id(o): o for o in [self.key, *self.rngs, *(t.config for t in templates)]}

    def clone(self, template: object) -> Any:
        """A fresh copy of a core template, its generators rewound (pickled once, then loaded:
        three times faster than ``copy.deepcopy``)."""
        for rng, state in self.rngs.items():
            rng.setstate(state)
            rng.draws = 0
        shared = self._shared()
        if id(template) not in self._blobs:
            out = io.BytesIO()
            pickler = pickle.Pickler(out, protocol=pickle.HIGHEST_PROTOCOL)
            pickler.persistent_id = lambda obj: id(obj) if id(obj) in shared else None  # type: ignore[method-assign]
            pickler.dump(template)
            self._blobs[id(template)] = out.getvalue()
        unpickler = pickle.Unpickler(io.BytesIO(self._blobs[id(template)]))
        unpickler.persistent_load = shared.__getitem__  # type: ignore[method-assign]
        return unpickler.load()

    def snapshot(self, core: object, template: object) -> Snapshot:
        """Everything what ``core``, a clone of ``template``, does next depends on: its state
        (:meth:`state`) and the state of each generator it draws from (None: rewound, nothing
        drawn since). The generators the other template draws from are not part of it."""
        return self.state(core), tuple(rng.getstate() if rng.draws else None for rng in self._generators(template))

    def built(self, template: object) -> Snapshot:
        """The snapshot of a fresh clone of ``template``."""
        if id(template) not in self._prints:
            self._prints[id(template)] = self.state(template), (None,) * len(self._generators(template))
        return self._prints[id(template)]

    def as_built(self, core: object, template: object) -> bool:
        """``core``, a clone of ``template``, holds exactly the template's state, generators
        included: whatever comes next does to it what it does to a fresh clone."""
        return self.snapshot(core, template) == self.built(template)

    def _generators(self, template: object) -> tuple[Generator, ...]:
        """The shared generators ``template`` (and so each of its clones) refers to."""
        if id(template) not in self._uses:
            pickler = self._state_pickler(io.BytesIO())
            pickler.dump(template)
            met = set(pickler.memo.copy())  # the ids of the objects the pickle holds
            self._uses[id(template)] = tuple(rng for rng in self.rngs if id(rng) in met)
        return self._uses[id(template)]

    def state(self, core: object) -> bytes:
        """The state of ``core`` as bytes: a pickle in which the shared objects stand as their
        identity (never loaded, only compared; no call back for the other objects).

        The classes and functions the templates refer to start in the pickler's memo, as
        entries 0, 1, ...: each stands as a memo reference, where writing it as a global would
        import its module again (about 10 µs each, most of the time of a core's state)."""
        out = io.BytesIO()
        pickler = self._state_pickler(out)
        if self._globals is None:
            self._globals = self._learn_globals()
        pickler.memo = self._globals  # type: ignore[assignment]  (copied in: each dump adds its own)
        pickler.dump(core)
        return out.getvalue()

    def _state_pickler(self, out: io.BytesIO) -> pickle.Pickler:
        pickler = pickle.Pickler(out, protocol=pickle.HIGHEST_PROTOCOL)
        pickler.dispatch_table = {type(o): _identity for o in self._shared().values()}
        return pickler

    def _learn_globals(self) -> dict[int, tuple[int, object]]:
        """The memo entries of the classes and functions in the templates' pickles, numbered
        from 0 (new entries of a dump follow them, so no two share a number)."""
        found: dict[int, object] = {}
        for template in (self.dar_template, self.mn_template):
            pickler = self._state_pickler(io.BytesIO())
            pickler.dump(template)
            found.update((key, obj) for key, (_, obj) in pickler.memo.copy().items() if isinstance(obj, _GLOBALS))
        return {key: (index, obj) for index, (key, obj) in enumerate(found.items())}

    def signer(self, home_token: bytes, to_dar: bool) -> Signer:
        """The (caching) signer of messages keyed with ``home_token``."""
        return self.signers.setdefault((home_token, to_dar), Signer(self.key, home_token, to_dar))

    def seed_signer(self, seed: Seed) -> Signer:
        """How --keep-valid re-signs a mutant of ``seed``."""
        return self.signer(self.phkt if seed.auth == "phkt" else ZERO_TOKEN, seed.role == DAR_ROLE)

    def frame_signer(self, frame: Frame) -> Signer:
        """How --keep-valid re-signs a frame of unknown origin (libFuzzer's corpus), read as the
        seeds are made: a BA goes to the MN and a BU or CoTI to the DAR; a BU with CGA
        Parameters carries the zero token, every other BAD the PHKT (see build_world)."""
        to_dar = frame.mhtype != BA
        cga = any(o.otype == CGA_PARAMS for o in frame.options)
        return self.signer(ZERO_TOKEN if to_dar and cga else self.phkt, to_dar)


_GLOBALS = (type, types.FunctionType, types.BuiltinFunctionType)  # what a pickle writes by name


def _identity(obj: object) -> tuple[Callable[[int], int], tuple[int]]:
    return id, (id(obj),)


def _sent(effects: Effects, kind: type) -> list:
    return [e.msg for e in effects if isinstance(e, Send) and isinstance(e.msg, kind)]


def _moved_mn(key: KeyPair, rand: Callable[[int], bytes]) -> tuple[MnCore, BindingUpdate]:
    """An MN that configured a HoA at DAR1, moved to DAR2 and sent its first BU."""
    mn = MnCore(key, config=MnConfig(sec=0, dad_delay=0.0, keep=KeepPolicy.ALL), rand=rand)
    for n, (dar, prefix) in enumerate([(DAR1, PREFIX1), (DAR2, PREFIX2)]):
        now = float(n)
        mn.on_link_up(now)
        ra = RouterAdvertisement("fe80::1", "ff02::1", dar, prefix, 2_592_000, 604_800)
        effects = mn.on_message(ra, now)
    bus = _sent(effects, BindingUpdate)
    if len(bus) != 1:
        raise RuntimeError(f"the MN template sent {len(bus)} BUs after its move, not 1")
    return mn, bus[0]


def build_world(seed: int) -> World:
    """The seeds and templates of campaign ``seed`` (the same on every run)."""
    key = fuzz_key()
    probe = Generator(f"{seed}:world")
    mn, bu_msg = _moved_mn(key, probe.randbytes)
    dar_rng = Generator("dar")  # the same on every world: so is the PHKT it issues (FUZZ_PHKT)
    dar = DarCore(DAR1, PREFIX1, rand=dar_rng.randbytes)
    bu_raw = encode_bytes(bu_msg)
    acks = _sent(dar.on_message(decode(bu_raw), 2.0), BindingAck)
    if len(acks) != 1 or acks[0].status != 0 or acks[0].phkt_ciphertext is None:
        raise RuntimeError(f"the DAR template did not accept the MN's first BU: {acks}")
    phkt = decrypt_phkt(key, acks[0].phkt_ciphertext)
    if decrypt_phkt(key, FUZZ_PHKT_CIPHERTEXT) != phkt:
        raise RuntimeError(f"the DAR template issued PHKT {phkt.hex()}: FUZZ_PHKT_CIPHERTEXT must encrypt it")
    ba_raw = encode_bytes(replace(acks[0], phkt_ciphertext=FUZZ_PHKT_CIPHERTEXT))
    hoa, coa, seq = bu_msg.home_address, bu_msg.src, bu_msg.seq + 1
    params = bu_msg.cga_params
    assert params is not None
    world = World(seed, key, hoa, coa, params, phkt, dar_template=dar, mn_template=mn)
    crafted = [
        Seed("first-bu", bu_raw, DAR_ROLE),
        Seed("first-bu-req", bytes(first_bu(coa, hoa, DAR1, seq, LIFETIME, key, params, cga_request=True)), DAR_ROLE),
        Seed("phkt-bu", bytes(phkt_bu(coa, hoa, DAR1, seq, LIFETIME, phkt)), DAR_ROLE, "phkt"),
        Seed("dereg-bu", bytes(phkt_bu(coa, hoa, DAR1, seq, 0, phkt)), DAR_ROLE, "phkt"),
        Seed("coti", bytes(coti(coa, DAR1, cookie=probe.randbytes(8))), DAR_ROLE),
        Seed("ba", ba_raw, MN_ROLE, "phkt"),
    ]
    world.seeds = {s.name: s for s in crafted}
    world.rngs = {dar_rng: dar_rng.getstate(), probe: probe.getstate()}
    dar_rng.draws = probe.draws = 0
    for s in crafted:  # the seeds are what the layers build: a dissected seed rebuilds unchanged
        if bytes(IPv6(s.raw)) != s.raw:
            raise RuntimeError(f"seed {s.name} does not rebuild byte for byte")
    return world
