"""The ``iface`` target: any FAMA DAR reachable on an Ethernet interface (root).

Theory of operation
-------------------
The world's seeds are re-made for the implementation under test (IUT): a CGA
of the fuzzing key in ``--prefix`` as the HoA, ``--coa`` as the care-of address
(it must lie in another prefix whose traffic the network brings back to this
interface), ``--iut-address`` as the DAR. Setup resolves the IUT's MAC (an NS
from our link-local address) and registers the HoA once, so that the PHKT seeds
carry the PHKT the IUT issued::

    fuzzer (CoA)                                         IUT (DAR)
      |-- NS(IUT) / <- NA(MAC) ------------------------------|
      |-- first BU (CGA, Signature) ------------------------>|   setup: PHKT of the HoA
      |<- BA 0 (PHKT, BAD) ----------------------------------|
      |-- mutant --------------------------------------------|   every case: send, then collect
      |<- BA / BE / ICMPv6 / nothing within --wait ----------|   the IUT's answers: the outcome
      |-- every N cases: a fresh MN's first BU ------------->|   liveness: BA 0, PHKT, BAD verify
      |<- BA 0 ----------------------------------------------|

The IUT keeps state from case to case (``keeps_state``): a finding's case is
the last one before the failure, the cases since the previous good probe are
the suspects, and nothing is minimised. Three failed probes in a row end the
campaign (the target is lost).
"""

from __future__ import annotations

import random
import select
import time

from scapy.layers.l2 import Ether

from scapy_fama.codec import decode
from scapy_fama.craft import coti, first_bu, phkt_bu
from scapy_fama.crypto import cga_with_prefix, decrypt_phkt
from scapy_fama.fuzz.seeds import DAR_ROLE, LIFETIME, Seed, World
from scapy_fama.fuzz.targets import Probe, Target, make_probe, probe_problem
from scapy_fama.net.iface import IfacePort, require_interface, require_root, resolve_mac
from scapy_fama.proto.messages import BindingAck
from scapy_fama.wire import parse
from scapy_fama.wire.link import ipv6_in
from scapy_fama.wire.numbers import BA, ICMPV6, MH_TYPES
PROBE_WAIT = 1.5  # seconds a probe's BA may take (within the default per-case time limit)


class IfaceTarget(Target):
    name = "iface"
    roles = (DAR_ROLE,)
    liveness_every = 50
    keeps_state = True

    def __init__(self, iface: str, dar: str, prefix: str, coa: str, wait: float = 0.05) -> None:
        require_interface(iface)
        require_root()
        self.iface, self.dar, self.prefix, self.coa, self.wait = iface, dar, prefix, coa, wait
        self.port: IfacePort | None = None
        self.since = 0  # cases since the last good probe

    # ---------------------------------------------------------------- wire

    def send(self, raw: bytes) -> None:
        assert self.port is not None
        self.port.send(Ether(src=self.port.mac, dst=self.iut_mac, type=0x86DD) / raw)

    def collect(self, seconds: float, until_ba: bool = False) -> list[bytes]:
        """IPv6 packets from the IUT's address seen within ``seconds`` (or up to the first BA)."""
        assert self.port is not None
        end, got = time.monotonic() + seconds, []
        while (left := end - time.monotonic()) > 0:
            if not select.select([self.port.ins], [], [], left)[0]:
                break
            frame = self.port.ins.recv(65535)
            raw = ipv6_in(frame) or b""
            info = parse(raw)
            if info is not None and info.src == self.dar:
                got.append(raw)
                if until_ba and info.mh is not None and info.mh.mhtype == BA:
                    break
        return got

    def exchange(self, raw: bytes, seconds: float, until_ba: bool = False) -> list[bytes]:
        self.collect(0)  # what arrived late for the previous case is not this one's answer
        self.send(raw)
        return self.collect(seconds, until_ba)

    # ---------------------------------------------------------------- target

    def setup(self, world: World) -> None:
        super().setup(world)
        self.port = IfacePort(self.iface)
        self.iut_mac = resolve_mac(self.iface, self.dar, 1.0, tries=3)
        hoa = cga_with_prefix(world.params, self.prefix)
        world.hoa, world.coa, world.params = hoa.address, self.coa, hoa.params
        seq = random.Random(f"{world.seed}:iface").randrange(0x8000)
        first = bytes(first_bu(self.coa, hoa.address, self.dar, seq, LIFETIME, world.key, hoa.params))
        world.phkt = decrypt_phkt(world.key, self._issued_phkt(self.exchange(first, PROBE_WAIT, until_ba=True)))
        seeds = [
            Seed("first-bu", bytes(first_bu(self.coa, hoa.address, self.dar, seq + 1, LIFETIME, world.key,
                                             hoa.params)), DAR_ROLE),
            Seed("first-bu-req", bytes(first_bu(self.coa, hoa.address, self.dar, seq + 1, LIFETIME, world.key,
                                                hoa.params, cga_request=True)), DAR_ROLE),
            Seed("phkt-bu", bytes(phkt_bu(self.coa, hoa.address, self.dar, seq + 1, LIFETIME, world.phkt)),
                 DAR_ROLE, "phkt"),
            Seed("dereg-bu", bytes(phkt_bu(self.coa, hoa.address, self.dar, seq + 1, 0, world.phkt)),
                 DAR_ROLE, "phkt"),
            Seed("coti", bytes(coti(self.coa, self.dar, cookie=bytes(8))), DAR_ROLE),
        ]
        world.seeds = {s.name: s for s in seeds}
        world.signers.clear()

    def _issued_phkt(self, answers: list[bytes]) -> bytes:
        """The PHKT ciphertext of the BA 0 among ``answers`` (RFC 4866 §5.3)."""
        for raw in answers:
            ba = decode(raw)
            if isinstance(ba, BindingAck) and ba.status == 0 and ba.phkt_ciphertext is not None:
                return ba.phkt_ciphertext
        raise OSError(f"{self.dar} did not accept the setup BU from {self.coa}: no BA 0 with a PHKT on {self.iface}")

    def run(self, raw: bytes, seed: Seed, now: float) -> str:
        self.since += 1
        return answers_outcome(self.exchange(raw, self.wait))

    def alive(self, rng: random.Random, now: float) -> str | None:
        probe: Probe = make_probe(self.world, rng, coa=self.coa, dar=self.dar, prefix=self.prefix)
        problem = probe_problem(self.exchange(probe.raw, PROBE_WAIT, until_ba=True), probe, self.world)
        if problem is None:
            self.since = 0
            return None
        return f"{problem} (suspects: the last {self.since} cases)"

    def close(self) -> None:
        if self.port is not None:
            self.port.close()
            self.port = None


def answers_outcome(answers: list[bytes]) -> str:
    """A short label of the IUT's answers: BA status, BE status, ICMPv6 type/code, or silence."""
    parts = set()
    for raw in answers:
        info = parse(raw)
        if info is None:
            continue
        if info.mh is not None:
            kind = MH_TYPES.get(info.mh.mhtype, f"MH {info.mh.mhtype}")
            parts.add(f"{kind} {info.mh.status}" if info.mh.status is not None else kind)
        elif info.proto == ICMPV6 and info.upper is not None and info.upper + 2 <= len(raw):
            parts.add(f"ICMPv6 {raw[info.upper]}/{raw[info.upper + 1]}")
        else:
            parts.add(f"proto {info.proto}")
    return ", ".join(sorted(parts)) or "silent"
