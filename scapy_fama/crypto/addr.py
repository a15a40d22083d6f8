"""IPv6 addresses and /64 prefixes as the byte strings that the hashes consume.

Theory of operation: every formula in RFC 3972, RFC 4866 and RFC 6275 §5.2.5
hashes addresses as 16 raw bytes and the CGA subnet prefix as 8 raw bytes.
Callers hold them as text or bytes; these helpers turn either form into the
exact bytes (or back into compressed text) and reject anything else with a
ValueError that names the offending value.
"""

import socket
from functools import lru_cache
from ipaddress import AddressValueError, IPv6Address

ADDR_LEN = 16
PREFIX_LEN = 8


def addr_bytes(a: str | bytes) -> bytes:
    """Return the 16 bytes of an IPv6 address given as text or as 16 raw bytes."""
    if a.__class__ is str:  # the common case first: this runs many times per BU
        return _text_bytes(a)
    if isinstance(a, (bytes, bytearray)):
        if len(a) != ADDR_LEN:
            raise ValueError(f"an IPv6 address is 16 bytes, got {len(a)}")
        return bytes(a)
    if isinstance(a, str):
        return _text_bytes(a)
    raise ValueError(f"an IPv6 address must be text or 16 bytes, got {type(a).__name__}")


@lru_cache(maxsize=8192)  # a DAR meets the same few addresses in every BU it answers
def _text_bytes(a: str) -> bytes:
    try:
        return socket.inet_pton(socket.AF_INET6, a)  # 30x faster than ipaddress
    except OSError:
        pass
    try:  # for the error message, and forms inet_pton rejects (a %scope suffix)
        return IPv6Address(a).packed
    except AddressValueError as exc:
        raise ValueError(f"not an IPv6 address: {a!r} ({exc})") from None


def addr_text(b: str | bytes) -> str:
    """Return the compressed text form (RFC 5952) of an IPv6 address."""
    return socket.inet_ntop(socket.AF_INET6, addr_bytes(b))


def prefix64(p: str | bytes) -> bytes:
    """Return the 8-byte subnet prefix of "2001:db8:1::/64", "2001:db8:1::" or 8 raw bytes.

    Text without a length is read as an address whose first 64 bits are the
    prefix; the remaining bits are ignored.
    """
    if isinstance(p, (bytes, bytearray)):
        if len(p) != PREFIX_LEN:
            raise ValueError(f"a subnet prefix is 8 bytes, got {len(p)}")
        return bytes(p)
    if isinstance(p, str):
        text, slash, length = p.partition("/")
        # RFC 3972 §3: the Subnet Prefix field is the leftmost 64 bits.
        if slash and length.strip() != "64":
            raise ValueError(f"only /64 prefixes are supported (RFC 3972 §3), got {p!r}")
        return addr_bytes(text.strip())[:PREFIX_LEN]
    raise ValueError(f"a subnet prefix must be text or 8 bytes, got {type(p).__name__}")
