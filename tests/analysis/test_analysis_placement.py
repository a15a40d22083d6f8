"""Option placement as a finding of its own (profile §6, RFC 6275 §6.2.7: exactly one BAD, the last option).

* tcpdump_ipv6_mobility_1's return-routability BUs and BAs put a PadN after the BAD: frames
  read from tshark's option tree (PDML, in wire order). They are not verified (no keys), yet
  each is an ``option-placement`` finding with the plugin's sentence.
* A first BU (CGA Parameters, Signature: always verified) with padding after a BAD that is
  otherwise right: the placement is one ``option-placement`` finding, not also a
  ``verification-failed`` one.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from scapy.layers.inet6 import IPv6
from scapy.packet import Packet

from scapy_fama.analysis.analyze import analyze, analyze_frames
from scapy_fama.craft import first_bu, phkt_bu
from scapy_fama.crypto import ZERO_TOKEN, Cga, KeyPair, kbm
from scapy_fama.layers import BU, BindingAuthData, SignatureOpt
from scapy_fama.wire import parse
from scapy_fama.wire.write import finish_bytes
from tests.analysis.test_analysis_third_party import PCAP_DIR
from tests.corpus import TSHARK, TSHARK_MISSING, run_tshark, shared_file

CAPTURE = PCAP_DIR / "tcpdump_ipv6_mobility_1.pcap"
PADDING = ("mip6.options.pad1", "mip6.options.padn")
DAR1 = "2001:db8:1::1"


def tshark_bad_not_last() -> dict[int, str]:
    """Frame -> what follows its BAD ("padding" or "options"), from tshark's option tree."""
    out = {}
    for packet in ET.fromstring(run_tshark(CAPTURE, "-T", "pdml")).iter("packet"):
        frame = int(next(f.get("show") for f in packet.iter("field") if f.get("name") == "frame.number"))
        for options in packet.iter("field"):
            names = [o.get("name", "") for o in options if o.get("name", "").startswith("mip6.options.")]
            if "mip6.options.bad_auth" in names:
                after = names[names.index("mip6.options.bad_auth") + 1 :]
                if after:
                    out[frame] = "padding" if all(n in PADDING for n in after) else "options"
    return out


@pytest.mark.tshark
@pytest.mark.skipif(TSHARK is None, reason=TSHARK_MISSING)
def test_return_routability_bads_followed_by_padding_are_found() -> None:
    shared_file(CAPTURE.name)  # or skipped
    expected = tshark_bad_not_last()
    assert sorted(expected) == [9, 10, 13, 14]  # the bytes: BAD (5, length 12), then PadN
    found = [f for f in analyze([CAPTURE]).findings if f.kind == "option-placement"]
    assert {frame: f.message for f in found for _, frame in f.packets} == {
        frame: f"the BAD option is not last ({after} after it)" for frame, after in expected.items()
    }
    assert sum(f.count for f in found) == len(expected) and {f.severity for f in found} == {"warning"}


def test_a_verified_bu_with_padding_after_its_bad_is_counted_once(mn_key: KeyPair, cgas: tuple[Cga, Cga]) -> None:
    hoa, coa = cgas
    raw = bytearray(first_bu(coa.address, hoa.address, DAR1, seq=1, lifetime=600, keypair=mn_key, params=hoa.params,
                             care_of_token=bytes(8), coni=3).build())
    info = parse(bytes(raw))
    assert info.mh is not None and [t for t, _, _ in info.mh.options][-3:] == [0, 4, 5]  # Pad1, Nonce Indices, BAD
    tail = raw[-21:]
    raw[-21:] = tail[1:] + tail[:1]  # Nonce Indices, BAD, Pad1: the same length, the BAD no longer last
    # signed again and a BAD for the new layout (early BU: no care-of token in the capture, RFC 4866 §4.1)
    bu = finish_bytes(bytes(raw), coa=coa.address, correspondent=DAR1, keypair=mn_key, auth_key=kbm(ZERO_TOKEN))
    a = analyze_frames([(1, 0.0, bu, 0, 0)])
    placement = [f for f in a.findings if f.kind == "option-placement"]
    assert [(f.message, f.count, f.packets) for f in placement] == [
        ("the BAD option is not last (padding after it)", 1, [(0, 1)])
    ]
    assert not [f for f in a.findings if f.kind == "verification-failed"]


def _relaid(pkt: Packet, options: list[Packet]) -> bytes:
    """``pkt`` with the BU's options laid out anew (lengths and checksum recomputed)."""
    pkt[BU].options = options
    del pkt[BU].len, pkt[BU].cksum, pkt[IPv6].plen
    return bytes(pkt)


def test_two_bads_and_a_signature_away_from_the_cga_parameters_are_placement_findings(
    mn_key: KeyPair, cgas: tuple[Cga, Cga]
) -> None:
    """README: "options out of place (a BAD that is ... not the only one ...)", and the CGA options'
    rules of RFC 4866 §5.1/§5.2 the kind names: each its own sentence, checked against the bytes."""
    hoa, coa = cgas
    refresh = phkt_bu(coa.address, hoa.address, DAR1, 2, 600, bytes(8))
    doubled = _relaid(refresh.copy(), [*refresh[BU].options, refresh[BindingAuthData].copy()])
    first = first_bu(coa.address, hoa.address, DAR1, seq=1, lifetime=600, keypair=mn_key, params=hoa.params)
    cga, sig, pad = first[BU].options
    assert isinstance(sig, SignatureOpt)
    moved = _relaid(first.copy(), [cga, pad, sig])  # PadN between the CGA Parameters and the Signature
    assert [t for t, _, _ in parse(doubled).mh.options].count(5) == 2  # type: ignore[union-attr]
    a = analyze_frames([(1, 0.0, doubled, 0, 0), (2, 1.0, moved, 0, 0)])
    assert sorted((f.message, f.packets) for f in a.findings if f.kind == "option-placement") == [
        ("2 BAD options (exactly one allowed)", [(0, 1)]),
        ("the Signature option does not directly follow the last CGA Parameters option", [(0, 2)]),
    ]
