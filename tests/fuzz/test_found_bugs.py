"""Regressions for the bugs fama-fuzz found in our own code, each fixed at its source."""

from __future__ import annotations

from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt
from scapy.packet import Raw

import scapy_fama  # noqa: F401  (registers the layers and their fixes)
from scapy_fama.codec import decode
from scapy_fama.proto.messages import Undecodable

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
