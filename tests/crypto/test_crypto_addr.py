"""scapy_fama.crypto.addr against the socket module and RFC 5952 examples."""

import socket

import pytest

from scapy_fama.crypto import addr_bytes, addr_text, prefix64


@pytest.mark.parametrize("text", ["2001:db8::1", "fe80::3c4a:5bf6:ffb4:ca6c", "::", "::ffff:0:1"])
def test_addr_bytes_matches_inet_pton(text: str) -> None:
    assert addr_bytes(text) == socket.inet_pton(socket.AF_INET6, text)


def test_addr_bytes_passes_16_raw_bytes() -> None:
    raw = bytes(range(16))
    assert addr_bytes(raw) == raw
    assert addr_bytes(bytearray(raw)) == raw


@pytest.mark.parametrize(
    "bad", ["1.2.3.4", "garbage", "2001:db8::1::2", "", bytes(15), bytes(17), 42, None]
)
def test_addr_bytes_rejects(bad: object) -> None:
    with pytest.raises(ValueError):
        addr_bytes(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("full", "compressed"),
    [  # RFC 5952 §4.1, §4.2.2, §4.2.3, §4.3
        ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),
        ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
        ("2001:DB8::AAAA", "2001:db8::aaaa"),
    ],
)
def test_addr_text_is_rfc5952(full: str, compressed: str) -> None:
    assert addr_text(socket.inet_pton(socket.AF_INET6, full)) == compressed
    assert addr_text(full) == compressed


def test_prefix64_forms() -> None:
    expected = bytes.fromhex("20010db800010000")
    assert prefix64("2001:db8:1::/64") == expected
    assert prefix64("2001:db8:1::") == expected
    assert prefix64("2001:db8:1::5/64") == expected  # host bits are ignored
    assert prefix64(expected) == expected


@pytest.mark.parametrize(
    "bad",
    ["2001:db8:1::/48", "2001:db8::/128", "2001:db8::/x", "nonsense/64", bytes(7), bytes(16)],
)
def test_prefix64_rejects(bad: str | bytes) -> None:
    with pytest.raises(ValueError):
        prefix64(bad)


def test_prefix64_names_the_length() -> None:
    with pytest.raises(ValueError, match="only /64"):
        prefix64("2001:db8::/56")
