"""One rule for de-registration and the signed care-of address, the same answer in every tool.

The truth is written here by hand from the spec, not taken from ``proto.messages``:

* a BU is a de-registration when its lifetime is 0 or its care-of address equals its home
  address, and a BU from home has no Home Address option, so its source is both
  (RFC 6275 §6.1.7, §9.5.1, §11.5.5; ``mipv6-signalling.md`` step 4: "treat either as a delete");
* ``Kbm = SHA1(PHKT)`` for a de-registration, ``SHA1(PHKT | 8 zero bytes)`` otherwise, and
  ``BAD = First96(HMAC-SHA1(Kbm, CoA | DAR | MH))`` where the CoA of a de-registration is the
  home address (profile §4), MH with checksum 0 up to the authenticator (RFC 6275 §6.2.7).

Each edge BU is laid out with Scapy's layers and its BAD computed with hashlib/hmac. Then the
core, ``craft``, ``verify``, fama-analyze, fama-conformance's tester, fama-fuzz's re-signing and
the shell's replay reading each give their answer on the same bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest
from fama_shell.replay import read_capture
from scapy.layers.inet6 import HAO, IPv6, IPv6ExtHdrDestOpt
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

from scapy_fama.analysis.analyze import analyze
from scapy_fama.analysis.report import to_json
from scapy_fama.codec import decode, encode_bytes
from scapy_fama.conformance.dar_tester import DarTester, PlayedMn
from scapy_fama.conformance.executor import InprocDar
from scapy_fama.craft import first_bu, phkt_bu
from scapy_fama.crypto import Cga, KeyPair, decrypt_phkt
from scapy_fama.fuzz.frame import Signer, parse_frame, render
from scapy_fama.layers import BU, BindingAuthData, NonceIndices
from scapy_fama.proto import DarCore
from scapy_fama.proto.effects import Send
from scapy_fama.proto.messages import BindingAck, BindingUpdate
from scapy_fama.verify import verify_bu

DAR, PREFIX, COA = "2001:db8:1::1", "2001:db8:1::/64", "2001:db8:2::77"
MN_MAC, DAR_MAC = "02:00:00:00:00:02", "02:00:00:00:00:01"  # given, or Scapy would solicit them
MH_START = 40 + 24  # IPv6 header, then a Destination Options header of 24 bytes (HAO, 8n+6)


@dataclass(frozen=True)
class Edge:
    name: str
    from_home: bool  # the source is the home address
    hao: bool  # a Home Address option is carried
    lifetime: int  # seconds, a multiple of 4
    deregistration: bool  # the truth, by the rules above


EDGES = [
    Edge("registration from a care-of address", from_home=False, hao=True, lifetime=600, deregistration=False),
    Edge("lifetime 0 from a care-of address", from_home=False, hao=True, lifetime=0, deregistration=True),
    Edge("CoA == HoA, with a HAO", from_home=True, hao=True, lifetime=600, deregistration=True),
    Edge("from home, no HAO, lifetime 0", from_home=True, hao=False, lifetime=0, deregistration=True),
    Edge("from home, no HAO, lifetime kept", from_home=True, hao=False, lifetime=600, deregistration=True),
]


def _a(text: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6, text)


def hand_bad(phkt: bytes, coa: str, mh: bytes, deregistration: bool) -> bytes:
    """profile §4's authenticator over ``mh`` (checksum already 0, cut after the BAD's length)."""
    kbm = hashlib.sha1(phkt if deregistration else phkt + bytes(8)).digest()
    return hmac.new(kbm, _a(coa) + _a(DAR) + mh, "sha1").digest()[:12]


def edge_bu(edge: Edge, hoa: str, phkt: bytes, seq: int) -> tuple[bytes, bytes]:
    """(the BU's bytes, its BAD): Nonce Indices at MH offset 12 (2n), BAD at 18 (8n+2), 32
    bytes in all (RFC 6275 §6.2, §6.1.7), BAD over the CoA the truth names."""
    src = hoa if edge.from_home else COA

    def packet(bad: bytes) -> IPv6:
        options = [NonceIndices(hni=0, coni=0), BindingAuthData(authenticator=bad)]
        bu = BU(seq=seq, flags="AH", mhtime=edge.lifetime // 4, options=options)
        head = IPv6(src=src, dst=DAR)
        return (head / IPv6ExtHdrDestOpt(options=[HAO(hoa=hoa)]) if edge.hao else head) / bu

    raw = bytes(packet(bytes(12)))
    mh = raw[MH_START if edge.hao else 40 :]
    assert len(mh) == 32 and mh[1] == 3 and (mh[12], mh[13], mh[18], mh[19]) == (4, 4, 5, 12)
    covered = mh[:4] + b"\0\0" + mh[6:20]
    bad = hand_bad(phkt, hoa if edge.deregistration else src, covered, edge.deregistration)
    return bytes(packet(bad)), bad


def _answer(dar: DarCore, raw: bytes, now: float) -> bytes:
    msg = decode(raw)
    assert isinstance(msg, BindingUpdate), msg
    (sent,) = [e.msg for e in dar.on_message(msg, now) if isinstance(e, Send)]
    return encode_bytes(sent)


@pytest.fixture()
def world(mn_key: KeyPair, cgas: tuple[Cga, Cga]) -> tuple[DarCore, Cga, bytes, bytes, bytes]:
    """A fresh DAR holding the MN's first registration: (DAR, HoA, PHKT, first BU, first BA)."""
    hoa = cgas[0]
    dar = DarCore(DAR, PREFIX, rand=os.urandom)
    first = bytes(first_bu(COA, hoa.address, DAR, 1, 600, mn_key, hoa.params))
    answer = _answer(dar, first, 1.0)
    ba = decode(answer)
    assert isinstance(ba, BindingAck) and ba.status == 0 and ba.phkt_ciphertext is not None
    return dar, hoa, decrypt_phkt(mn_key, ba.phkt_ciphertext), first, answer


@pytest.mark.parametrize("edge", EDGES, ids=lambda e: e.name)
def test_every_tool_reads_the_edge_as_the_rfc_does(
    edge: Edge, world: tuple[DarCore, Cga, bytes, bytes, bytes], mn_key: KeyPair, tmp_path: Path
) -> None:
    dar, cga, phkt, first, first_ba = world
    hoa = cga.address
    raw, bad = edge_bu(edge, hoa, phkt, seq=2)
    signed_coa = hoa if edge.deregistration else COA

    # the core: accepted (so it checked this BAD), the binding gone exactly for a delete,
    # and its BA's BAD keyed and addressed the same way
    answer = _answer(dar, raw, 2.0)
    ba = decode(answer)
    assert isinstance(ba, BindingAck) and ba.status == 0, ba
    assert (dar.binding(hoa) is None) == edge.deregistration
    assert ba.dst == (hoa if edge.from_home else COA)
    assert ba.bad == hand_bad(phkt, signed_coa, ba.auth_data, edge.deregistration)

    # craft lays out the same bytes where it can say the same BU (it sends no HAO from home,
    # and a de-registration with lifetime 0, profile §4)
    if edge.hao != edge.from_home and (edge.lifetime == 0) == edge.deregistration:
        src = hoa if edge.from_home else COA
        assert bytes(phkt_bu(src, hoa, DAR, 2, edge.lifetime, phkt)) == raw

    # verify checks the BAD with the same rule
    verdict = verify_bu(raw, phkt=phkt)
    assert verdict, verdict.failed()

    # fama-conformance's tester re-makes the BAD of a played MN's BU the same way,
    # and checks the DAR's BA with the same key and address
    tester = DarTester(InprocDar(), mn_key, DAR, PREFIX)
    played = PlayedMn(tester, cga, COA, 2, phkt=phkt)
    zeroed = raw[:-12] + bytes(12)
    assert played.rewrite(IPv6(zeroed), lambda _raw, _off: None, sign=False)[-12:] == bad
    tester.check_ba_bad(played, ba, deregistration=edge.deregistration)

    # fama-fuzz re-signs a mutant's BAD the same way
    assert render(parse_frame(zeroed), Signer(mn_key, phkt))[-12:] == bad

    # fama-analyze and the shell's replay read the capture the same way
    pcap = tmp_path / "edge.pcap"
    frames = [Ether(src=MN_MAC, dst=DAR_MAC) / IPv6(b) for b in (first, first_ba, raw, answer)]
    for i, frame in enumerate(frames):
        frame.time = 1.0 + i / 10
    wrpcap(str(pcap), frames)
    (binding,) = [b for m in to_json(analyze([pcap], keys=[mn_key]))["mns"] for b in m["bindings"]]
    last = binding["exchanges"][-1]
    assert (last["seq"], last["deregistration"], last["verified"], last["status"]) == (2, edge.deregistration, True, 0)
    replayed = [c.msg for c in read_capture(pcap) if isinstance(c.msg, BindingUpdate)]
    assert [bu.deregistration for bu in replayed] == [False, edge.deregistration]
