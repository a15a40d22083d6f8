"""DAR-MH-009's fragments: laid out as RFC 8200 §4.5 and RFC 6275 §6.3 say (checked against a
layout written here by hand), and an IUT that does not reassemble fails that case alone."""

from __future__ import annotations

from ipaddress import IPv6Address
from unittest import mock

from scapy_fama.conformance import catalogue
from scapy_fama.conformance.case import Verdict, select
from scapy_fama.conformance.dar_tester import DarTester
from scapy_fama.conformance.executor import InprocDar
from scapy_fama.conformance.runner import run_all
from scapy_fama.crypto import KeyPair
from scapy_fama.wire import WireInfo
from scapy_fama.wire.write import fragments

catalogue.load()
SRC, DST, HOA = "2001:db8:ca::5", "2001:db8:1::1", "2001:db8:1::99"


def _a(text: str) -> bytes:
    return IPv6Address(text).packed


def _ipv6(nh: int, payload: bytes) -> bytes:
    """RFC 8200 §3 by hand: version 6, Payload Length, Next Header, Hop Limit 64."""
    return b"\x60\0\0\0" + len(payload).to_bytes(2, "big") + bytes((nh, 64)) + _a(SRC) + _a(DST) + payload


def test_fragments_keep_the_home_address_option_in_front_of_each_fragment_header() -> None:
    hao = bytes((1, 2, 0, 0, 0xC9, 16)) + _a(HOA)  # PadN(2), then the HAO at 8n+6 (RFC 6275 §6.3)
    mh = bytes(range(40))  # a Mobility Header's 40 bytes (any: the writer never reads them)
    packet = _ipv6(60, bytes((135, 2)) + hao + mh)  # DestOpts(HAO) -> MH
    first, second = fragments(packet, 64, [16], 0x01020304)
    # the DestOpts now name the Fragment header (44); it names the MH (135): offset 0, M=1, then
    # offset 2 (units of 8 bytes, << 3), M=0; the same Identification in both
    assert first == _ipv6(60, bytes((44, 2)) + hao + bytes((135, 0, 0x00, 0x01, 1, 2, 3, 4)) + mh[:16])
    assert second == _ipv6(60, bytes((44, 2)) + hao + bytes((135, 0, 0x00, 0x10, 1, 2, 3, 4)) + mh[16:])


def test_a_dar_that_does_not_reassemble_fails_the_fragment_case_alone(mn_key: KeyPair) -> None:
    class Drops:  # an IP layer that throws every fragment away
        def add(self, ip: bytes, info: WireInfo, now: float) -> None:
            return None

        def clear(self) -> None: ...

    with mock.patch("scapy_fama.conformance.executor.Reassembly", Drops):
        tester = DarTester(InprocDar(), mn_key, DST, "2001:db8:1::/64", wait=2.0)
        outcomes = {o.case.id: o for o in run_all(select("dar", ["mh", "DAR-PHKT-001"]), tester)}
    failed = {i: o.reason for i, o in outcomes.items() if o.verdict is not Verdict.PASS}
    assert set(failed) == {"DAR-MH-009"}, failed
    assert failed["DAR-MH-009"].startswith("a valid CGA-signed BU in two fragments (")
    assert "expected a BA 0 to 2001:db8:ca:" in failed["DAR-MH-009"] and failed["DAR-MH-009"].endswith("got nothing")
