"""Reassembly (RFC 8200 §4.5) and the ICMPv6 errors' rules (RFC 4443 §2.4), on bytes laid out here."""

from __future__ import annotations

import socket

import pytest

from scapy_fama.automata import reassembly
from scapy_fama.automata.errors import IcmpErrors
from scapy_fama.automata.reassembly import Reassembly, Refused
from scapy_fama.wire import parse

SRC, DST = "2001:db8:2::5", "2001:db8:1::1"
HOA = "2001:db8:1::5"


def _a(text: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6, text)


def _ipv6(nh: int, payload: bytes, src: str = SRC, dst: str = DST, hlim: int = 64) -> bytes:
    """RFC 8200 §3, laid out by hand: version 6, Payload Length, Next Header, Hop Limit."""
    return b"\x60\0\0\0" + len(payload).to_bytes(2, "big") + bytes((nh, hlim)) + _a(src) + _a(dst) + payload


HAO_OPTS = bytes((1, 2, 0, 0, 0xC9, 16)) + _a(HOA)  # RFC 6275 §6.3: PadN(2), then the HAO at 8n+6
MH = bytes((59, 3, 5, 0, 0x12, 0x34)) + bytes(range(26))  # 32 bytes: some Mobility Header


def _fragments(ident: int, unfragmentable_nh: int, before: bytes, nh: int, data: bytes, cuts: list[int]) -> list[bytes]:
    """The fragments of ``data`` (the fragmentable part, Next Header ``nh``) cut at ``cuts``:
    the unfragmentable part ``before`` (extension headers, the last one's Next Header 44),
    then a Fragment header each (Next Header, reserved, offset in 8-octet units << 3 | M, id)."""
    bounds = [0, *cuts, len(data)]
    out = []
    for start, end in zip(bounds, bounds[1:]):
        more = int(end < len(data))
        frag = bytes((nh, 0)) + ((start // 8) << 3 | more).to_bytes(2, "big") + ident.to_bytes(4, "big")
        out.append(_ipv6(unfragmentable_nh, before + frag + data[start:end]))
    return out


def _add(table: Reassembly, packet: bytes, now: float = 0.0) -> bytes | Refused | None:
    info = parse(packet)
    assert info is not None and info.fragment is not None
    return table.add(packet, info, now)


def test_a_bu_behind_its_home_address_option_comes_back_whole_in_any_order() -> None:
    original = _ipv6(60, bytes((135, 2)) + HAO_OPTS + MH)  # DestOpts(HAO) | MH, unfragmented
    before = bytes((44, 2)) + HAO_OPTS  # the HAO stays before the Fragment header (RFC 6275 §6.3)
    first, second = _fragments(7, 60, before, 135, MH, [16])
    table = Reassembly()
    assert _add(table, second) is None and len(table) == 1
    assert _add(table, second) is None  # an exact duplicate changes nothing (RFC 5722 §4)
    assert _add(table, first) == original
    assert len(table) == 0 and table.held == 0


def test_a_fragment_right_after_the_ipv6_header_names_its_next_header_there() -> None:
    data = bytes(range(40))
    fragments = _fragments(9, 44, b"", 17, data, [8, 24])
    table = Reassembly()
    assert _add(table, fragments[0]) is None and _add(table, fragments[2]) is None
    assert _add(table, fragments[1]) == _ipv6(17, data)


def test_sizes_that_rfc_8200_refuses_get_a_pointer_for_parameter_problem() -> None:
    bad = _fragments(1, 44, b"", 17, bytes(20), [12])[0]  # M=1 with 12 bytes: not 8n
    assert _add(Reassembly(), bad) == Refused(
        "a fragment that is not the last holds no multiple of 8 bytes", 4
    )  # the Payload Length field
    frag = bytes((17, 0)) + ((65528 // 8) << 3).to_bytes(2, "big") + (2).to_bytes(4, "big")
    beyond = _ipv6(44, frag + bytes(16))  # offset 65528 + 16 bytes > 65535
    refused = _add(Reassembly(), beyond)
    assert isinstance(refused, Refused) and refused.pointer == 42  # the Fragment Offset field


def test_overlapping_fragments_drop_the_datagram() -> None:
    table = Reassembly()
    a, b = _fragments(3, 44, b"", 17, bytes(32), [16])
    overlapping = _fragments(3, 44, b"", 17, bytes(range(32)), [8])[1]  # bytes 8-32 over 16-32
    assert _add(table, b) is None
    refused = _add(table, overlapping)
    assert isinstance(refused, Refused) and refused.pointer is None and len(table) == 0


def test_pending_datagrams_are_bounded_and_expire_after_60_s() -> None:
    table = Reassembly(datagrams=4, limit=1000)
    for ident in range(10):  # first fragments whose second never comes
        _add(table, _fragments(ident, 44, b"", 17, bytes(32), [16])[0], now=float(ident))
    assert len(table) == 4 and table.held == 4 * 16  # idents 6-9: the oldest went first
    _add(table, _fragments(1000, 44, b"", 17, bytes(800), [400])[1], now=10.0)  # 400 bytes, no first
    assert len(table) == 4 and table.held == 3 * 16 + 400  # ident 6 went
    _add(table, _fragments(2000, 44, b"", 17, bytes(1200), [600])[0], now=11.0)  # 600 bytes
    assert table.held == 400 + 600 and len(table) == 2  # 7, 8 and 9 went for the bytes

    def idents(firsts: list[bytes]) -> list[int]:
        return [parse(p).fragment.identification for p in firsts]  # type: ignore[union-attr]

    assert idents(table.expire(69.9)) == [] and len(table) == 2
    assert idents(table.expire(70.0)) == [] and len(table) == 1  # 1000 went, it had no first fragment
    assert idents(table.expire(71.0)) == [2000]  # 60 s after it came (RFC 8200 §4.5)
    assert len(table) == 0 and table.held == 0
    assert reassembly.REASSEMBLY_TIME == 60.0


@pytest.mark.parametrize(
    ("nh", "body", "src", "dst", "allowed"),
    [
        (17, bytes(8), SRC, DST, True),
        (58, bytes((1, 0, 0, 0, 0, 0, 0, 0)), SRC, DST, False),  # an ICMPv6 error (e.1)
        (58, bytes((137, 0, 0, 0, 0, 0, 0, 0)), SRC, DST, False),  # a Redirect (e.2)
        (58, bytes((128, 0, 0, 0, 0, 0, 0, 0)), SRC, DST, True),  # an Echo Request is no error
        (17, bytes(8), SRC, "ff02::1", False),  # to a group (e.3)
        (17, bytes(8), "::", DST, False),  # from nobody in particular (e.6)
        (17, bytes(8), "ff02::1", DST, False),
    ],
)
def test_when_an_icmpv6_error_may_be_sent(nh: int, body: bytes, src: str, dst: str, allowed: bool) -> None:
    packet = _ipv6(nh, body, src, dst, hlim=1)
    info = parse(packet)
    assert info is not None
    error = IcmpErrors().time_exceeded(DST, packet, info, 0, 1.0, link_multicast=False)
    assert (error is not None) == allowed
    if error is not None:  # RFC 4443 §3.3: type 3 code 0, unused 0, the packet quoted
        assert error[6] == 58 and error[40:42] == b"\x03\x00" and error[44:48] == bytes(4)
        assert error[48:] == packet and error[24:40] == _a(src)


def test_an_unrecognised_option_with_action_10_is_reported_even_to_a_group() -> None:
    option = bytes((0x9E, 2, 0, 0))  # type 0x9e: action bits 10
    packet = _ipv6(60, bytes((59, 0)) + option + bytes((1, 0)), dst="ff02::1")  # PadN to 8 bytes
    info = parse(packet)
    assert info is not None and info.unknown_option == (0x9E, 42)
    errors = IcmpErrors()
    problem = errors.parameter_problem(DST, packet, info, 2, 42, 1.0, link_multicast=True)
    assert problem is not None and problem[40:42] == b"\x04\x02" and problem[44:48] == (42).to_bytes(4, "big")
    eleven = _ipv6(60, bytes((59, 0, 0xDE, 2, 0, 0, 1, 0)), dst="ff02::1")  # action bits 11: not to a group
    info = parse(eleven)
    assert info is not None and errors.parameter_problem(DST, eleven, info, 2, 42, 1.0, link_multicast=True) is None


def test_errors_are_rate_limited() -> None:
    packet = _ipv6(17, bytes(8), hlim=1)
    info = parse(packet)
    assert info is not None
    errors = IcmpErrors(per_second=10, burst=10)
    sent = [errors.time_exceeded(DST, packet, info, 0, 100.0, link_multicast=False) for _ in range(100)]
    assert sum(e is not None for e in sent) == 10 and errors.limited == 90
    assert errors.time_exceeded(DST, packet, info, 0, 100.2, link_multicast=False) is not None  # refilled
