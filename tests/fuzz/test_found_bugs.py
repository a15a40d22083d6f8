"""Regressions for the bugs fama-fuzz found in our own code, each fixed at its source."""

from __future__ import annotations

from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt
from scapy.packet import Raw

import scapy_fama  # noqa: F401  (registers the layers and their fixes)
from scapy_fama.codec import decode
from scapy_fama.proto.messages import BindingUpdate, Undecodable

COA = bytes.fromhex("20010db8000200000000000000000100")
DAR = bytes.fromhex("20010db8000100000000000000000001")


def test_a_routing_header_stub_is_raw_not_a_crash() -> None:
    # found by the inproc target: Scapy 2.8 read the third byte after Next Header 43 unchecked
    for stub in (b"\x87", b"\x87\x02"):
        raw = bytes.fromhex("60000000") + len(stub).to_bytes(2, "big") + bytes((43, 64)) + COA + DAR + stub
        assert bytes(IPv6(raw)) == raw
        assert isinstance(decode(raw), Undecodable)


def test_the_same_stub_behind_a_destination_options_header() -> None:
    raw = bytes(IPv6(src="2001:db8:2::100", dst="2001:db8:1::1") / IPv6ExtHdrDestOpt(nh=43) / Raw(b"\x87"))
    assert bytes(IPv6(raw)) == raw


def test_a_hop_by_hop_header_claiming_a_jumbogram_without_one() -> None:
    # found by the 1,000,000-case inproc campaign (case 268,783 of seed 1): Payload Length 0 with a
    # Hop-by-Hop header made Scapy 2.8 scan for a Jumbo option (RFC 2675) past the end of the data
    hbh = bytes((59, 2)) + bytes((1, 20)) + bytes(20)  # Next Header none, 24 bytes of PadN
    for tail in (b"\x87\x02", bytes(6)):  # the scan reads data[4n + 2]: out of range at len 4n + 2
        raw = bytes.fromhex("60000000") + bytes((0, 0, 0, 64)) + COA + DAR + hbh + tail
        pkt = IPv6(raw)
        assert bytes(pkt) == raw and isinstance(decode(raw), Undecodable)



def test_bytes_past_the_payload_length_are_not_read_as_the_mobility_header() -> None:
    # found by the decode and dissect targets (wire reader vs layers oracle, seed 1, case 25): a
    # PHKT BU whose Payload Length (0x37) says one byte less than it carries. The packet ends
    # there (RFC 8200 §3): its MH is one byte short of its Header Len, so it is dropped (profile
    # §6 step 1), whether handed over as bytes or as a Scapy packet; the codec's fast path once
    # read the whole buffer and gave the BU a 12-byte BAD
    raw = bytes.fromhex(
        "6000000000373c4020010db800020000106ab4114ddb22a320010db8000100000000000000000001870201020000c910"
        "20010db80001000010aaa2eec92ab7f43b030500a22c6e50c0000384040400000000050c0115e8d5f2d977ae2461d941"
    )
    assert len(raw) == 40 + 0x37 + 1
    fast, layers = decode(raw), decode(IPv6(raw))
    assert fast == layers and isinstance(fast, Undecodable) and "31 carried" in fast.reason
    lenient = decode(raw, lenient=True)
    assert isinstance(lenient, BindingUpdate) and lenient.bad is not None and len(lenient.bad) == 11


def test_a_home_address_option_of_length_0_is_left_to_the_layers() -> None:
    # found by the decode target (seed 1, case 253): the PHKT BU's HAO with Option Length 0. The
    # wire reader skips such a HAO (RFC 6275 §6.3: length 16), the layers read an address from it
    # and so a different checksum pseudo-header; the fast path decoded a BU, the layers did not
    raw = bytes.fromhex(
        "6000000000383c4020010db800020000106ab4114ddb22a320010db8000100000000000000000001870201020000c900"
        "20010db80001000010aaa2eec92ab7f43b030500a1e96e50c0000384040400000000050c0115e8d5f2d977ae2461d941"
    )
    assert decode(raw) == decode(IPv6(raw))


def test_the_nonce_indices_are_those_of_the_first_well_formed_option() -> None:
    # found by the decode target (seed 2, case 2593): an 8-byte option of type 4 inserted before
    # the PHKT BU's Nonce Indices. The 4-byte one is read (RFC 6275 §6.2.6: Length 4); the
    # codec's fast path once took the first option of type 4 whatever its length. The mutant
    # also has padding after its BAD, so a DAR drops it (profile §6: the BAD is last): read
    # leniently, as a tool reads another's capture
    raw = bytes.fromhex(
        "6000000000483c4020010db80002000008f147560bc511d220010db8000100000000000000000001870201020000c910"
        "20010db80001000008e2574820768bd43b0505005a5e5b41c000038404084ef47c4276a0eeac040400000000050cf20e"
        "9adc0857d1c94468f41f010400000000"
    )
    assert isinstance(decode(raw), Undecodable)
    fast = decode(raw, lenient=True)
    assert fast == decode(IPv6(raw), lenient=True) and isinstance(fast, BindingUpdate) and fast.nonce_indices == (0, 0)


def test_the_dissect_oracle_compares_the_codec_paths_on_ipv6_only() -> None:
    # found by the dissect harness under libFuzzer: a first BU with version 7 in its first
    # nibble. decode(bytes) rightly says it is not IPv6; Scapy's IPv6() dissects it all the same,
    # so the oracle compared two different questions (scapy_fama/fuzz/targets.py, not the codec)
    from scapy_fama.fuzz.targets import same_decoding

    raw = bytes(IPv6(src="2001:db8:2::100", dst="2001:db8:1::1") / Raw(b"\x3b\x00" + bytes(6)))
    raw = bytes([0x70 | raw[0] & 0x0F]) + raw[1:]
    assert isinstance(decode(raw), Undecodable)
    same_decoding(raw, decode(raw))  # no AssertionError
