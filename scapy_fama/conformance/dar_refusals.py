"""DAR cases: refusals that must leave the binding and the security record as they were
(profile §6 steps 4 and 6, and its rule on the H bit; RFC 6275 §9.5.1, §10.3.1).

Theory of operation
-------------------
A refusal is judged twice: by the BA's status, and by what the DAR does next,
which shows whether it stored anything::

    full cache: BU from a new MN --> BA 130      then a PHKT BU for that HoA --> BA 147
                                                 (no PHKT was stored: the refusal left nothing)
    registered MN: BU with H=0 ---> BA 139       then the HoA's traffic still goes to its CoA
                                                 (RFC 6275 §9.5.1: "the entry is unchanged")

The full cache needs a DAR whose capacity the tester knows, so that case runs
in-process (a DAR of one binding); against a DAR on an interface it is
inconclusive, saying so.
"""

from __future__ import annotations

import os

from scapy_fama.conformance.case import Fail, case
from scapy_fama.conformance.dar_tester import DarTester
from scapy_fama.conformance.executor import Setup
from scapy_fama.crypto import decrypt_phkt
from scapy_fama.proto import DarConfig

FULL_AT_ONE = Setup(dar=DarConfig(cache_capacity=1))
H_FLAG = 0x40  # RFC 6275 §6.1.7: H is the second bit of the flags


@case("DAR-BU-014", "A BU refused for a full binding cache leaves no state: a PHKT BU then gets BA 147", "RFC 6275 §10.3.1 (status 130); profile §6 step 6 (a refused BU leaves no state behind), §6 step 4 (status 147)", group="bu", setup=FULL_AT_ONE)
def full_cache_leaves_nothing(t: DarTester) -> None:
    t.register(t.new_mn())  # the one binding the cache holds
    mn = t.new_mn()
    t.send(mn.first_bu())
    refused = t.expect_ba(mn, 130)
    issued = refused.phkt_ciphertext  # the strongest check: the DAR's own PHKT, if it sent one
    t.send(mn.phkt_bu(phkt=decrypt_phkt(t.key, issued) if issued else os.urandom(8)))
    try:
        t.expect_ba(mn, 147)
    except Fail as exc:
        kept = "it issued a PHKT with the BA 130, and " if issued else ""
        raise Fail(f"{kept}the HoA refused for a full cache still has a security record: {exc}") from None


@case("DAR-BU-015", "A BU with H=0 for a HoA with a home registration gets BA 139, and the binding stays", "RFC 6275 §9.5.1 (status 139, the entry unchanged); profile §6 (the H bit)", group="bu")
def home_flag_cleared(t: DarTester) -> None:
    mn = t.new_mn()
    t.register(mn)
    coa2 = t.new_coa()
    if t.secure:
        t.care_of_test(mn, coa2)

    def clear_h(raw: bytearray, off: int) -> None:
        raw[off + 8] &= ~H_FLAG & 0xFF

    t.send(mn.rewrite(mn.phkt_bu(coa=coa2), clear_h, sign=False))  # the BAD recomputed
    t.expect_ba(mn, 139, to=coa2)
    t.send(t.datagram(t.cn, mn.address))
    t.expect_tunnelled(mn.address, mn.coa)
