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
