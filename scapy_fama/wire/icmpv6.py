"""ICMPv6 bytes the roles speak: Neighbour Discovery (RFC 4861) and the errors they send (RFC 4443).

Theory of operation
-------------------
:func:`read` takes the ICMPv6 message that :func:`~scapy_fama.wire.read.parse`
found as the upper layer and returns what a router or host acts on, with the
validity checks of RFC 4861 §6.1 and §7.1 done on the bytes (hop limit 255,
code 0, checksum, no option of length 0)::

    RS  133 | code | cksum | reserved(4)             | options: SLLA
    RA  134 | code | cksum | hop, flags, lifetime, reachable, retrans | options: SLLA, PIO (R=1: DAR address)
    NS  135 | code | cksum | reserved(4) | target    | options: SLLA (none from ::, a DAD probe)
    NA  136 | code | cksum | R S O, reserved | target | options: TLLA

The writers build the same messages, and the Time Exceeded and Parameter
Problem errors a router sends (quoting as much of the offending packet as fits
in the minimum MTU, RFC 4443 §2.4 c).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scapy_fama.wire.checksum import icmpv6_checksum
from scapy_fama.wire.numbers import (
    ECHO_REPLY,
    ECHO_REQUEST,
    ICMPV6,
    MAX_OPTIONS,
    NA,
    NA_O,
    NA_R,
    NA_S,
    ND_HOP_LIMIT,
    ND_PIO,
    ND_SLLA,
    ND_TLLA,
    NS,
    PARAMETER_PROBLEM,
    PIO_A,
    PIO_L,
    PIO_R,
    RA,
    RS,
    TIME_EXCEEDED,
)
from scapy_fama.wire.read import WireInfo, addr
from scapy_fama.wire.write import ipv6, pton

MIN_MTU = 1280  # RFC 8200 §5
SOLICITED_NODE_PREFIX = "ff02::1:ff"  # RFC 4291 §2.7.1, as inet_ntop writes it
_FIXED = {RS: 8, RA: 16, NS: 24, NA: 24}  # bytes before the options


@dataclass(frozen=True)
class Prefix:
    """A Prefix Information option (RFC 4861 §4.6.2); with R=1 ``prefix`` is the router's address."""

    prefix: str
    length: int
    flags: int
    valid: int
    preferred: int

    @property
    def router_address(self) -> bool:
        return bool(self.flags & PIO_R)


@dataclass
class Icmpv6:
    """One ICMPv6 message; ``invalid`` says why a node must ignore it (RFC 4861 §6.1, §7.1)."""

    type: int
    code: int
    target: str | None = None  # NS, NA
    flags: int = 0  # NA: R S O; RA: the flag byte
    lladdr: bytes | None = None  # the SLLA (RS, RA, NS) or TLLA (NA) option
    router_lifetime: int = 0  # RA
    prefixes: list[Prefix] = field(default_factory=list)  # RA
    invalid: str | None = None


def _options(buf: bytes, msg: Icmpv6, pos: int, end: int) -> None:
    for _ in range(MAX_OPTIONS):
        if pos >= end:
            return
        if pos + 2 > end or buf[pos + 1] == 0:
            msg.invalid = "an ND option of length 0 or cut short (RFC 4861 §4.6)"
            return
        otype, size = buf[pos], 8 * buf[pos + 1]
        if pos + size > end:
            msg.invalid = f"ND option {otype} runs past the message"
            return
        if otype in (ND_SLLA, ND_TLLA) and size == 8:
            msg.lladdr = bytes(buf[pos + 2 : pos + 8])
        elif otype == ND_PIO and size == 32 and msg.type == RA:
            msg.prefixes.append(Prefix(addr(buf, pos + 16), buf[pos + 2], buf[pos + 3],
                                       int.from_bytes(buf[pos + 4 : pos + 8], "big"),
                                       int.from_bytes(buf[pos + 8 : pos + 12], "big")))  # fmt: skip
        pos += size
    msg.invalid = f"more than {MAX_OPTIONS} ND options"


def read(buf: bytes, info: WireInfo) -> Icmpv6 | None:
    """The ICMPv6 message at ``info.upper``; None if the packet's upper layer is not ICMPv6."""
    off, end = info.upper, info.end
    if info.proto != ICMPV6 or off is None or off + 4 > end:
        return None
    msg = Icmpv6(buf[off], buf[off + 1])
    data = bytes(buf[off:end])
    if int.from_bytes(data[2:4], "big") != icmpv6_checksum(data, info.src, info.dst):
        msg.invalid = "ICMPv6 checksum wrong"
    fixed = _FIXED.get(msg.type)
    if fixed is None:
        return msg
    if info.hlim != ND_HOP_LIMIT:  # RFC 4861 §6.1.1, §7.1.1: it came from off the link
        msg.invalid = msg.invalid or f"hop limit {info.hlim}, not 255"
    elif msg.code != 0:
        msg.invalid = msg.invalid or f"code {msg.code}, not 0"
    if off + fixed > end:
        msg.invalid = msg.invalid or "cut short"
        return msg
    if msg.type in (NS, NA):
        msg.target = addr(buf, off + 8)
        msg.flags = buf[off + 4]
    elif msg.type == RA:
        msg.flags = buf[off + 5]
        msg.router_lifetime = int.from_bytes(buf[off + 6 : off + 8], "big")
    if msg.invalid is None:
        _options(buf, msg, off + fixed, end)
    if msg.invalid is None and msg.type in (NS, NA):
        msg.invalid = _neighbour_rules(msg, info)
    return msg


def _neighbour_rules(msg: Icmpv6, info: WireInfo) -> str | None:
    """RFC 4861 §7.1.1 and §7.1.2, beyond the checks every ND message has."""
    if _multicast(msg.target or ""):
        return "target is a multicast address"
    if msg.type == NS and info.src == "::":
        if not info.dst.lower().startswith(SOLICITED_NODE_PREFIX):
            return "from the unspecified address, not to a solicited-node group"
        if msg.lladdr is not None:
            return "an SLLA option from the unspecified address"
    if msg.type == NA and _multicast(info.dst) and msg.flags & NA_S:
        return "the Solicited flag on an NA to a multicast address"
    return None


def _multicast(address: str) -> bool:
    return address[:2].lower() == "ff"


def _message(src: str, dst: str, body: bytes, hlim: int = ND_HOP_LIMIT) -> bytes:
    cksum = icmpv6_checksum(body, src, dst)
    return ipv6(src, dst, ICMPV6, body[:2] + cksum.to_bytes(2, "big") + body[4:], hlim)


def _lladdr_option(otype: int, mac: bytes) -> bytes:
    return bytes((otype, 1)) + mac


def router_solicitation(src: str, dst: str = "ff02::2") -> bytes:
    """An RS without SLLA (RFC 4429 §3.3: an optimistic source sends none)."""
    return _message(src, dst, bytes((RS, 0, 0, 0, 0, 0, 0, 0)))


def router_advertisement(
    src: str, dst: str, prefix: Prefix, router_lifetime: int, lladdr: bytes | None = None
) -> bytes:
    """An RA with one PIO (and the router's SLLA when given)."""
    pio = bytes((ND_PIO, 4, prefix.length, prefix.flags)) + prefix.valid.to_bytes(4, "big")
    pio += prefix.preferred.to_bytes(4, "big") + bytes(4) + pton(prefix.prefix)
    body = bytes((RA, 0, 0, 0, 0, 0)) + router_lifetime.to_bytes(2, "big") + bytes(8) + pio
    if lladdr is not None:
        body += _lladdr_option(ND_SLLA, lladdr)
    return _message(src, dst, body)


def dar_prefix(dar_address: str, length: int, valid: int, preferred: int) -> Prefix:
    """Profile §1: L=1 A=1 R=1, the prefix field carries the DAR's global address."""
    return Prefix(dar_address, length, PIO_L | PIO_A | PIO_R, valid, preferred)


def neighbor_solicitation(src: str, dst: str, target: str, lladdr: bytes | None) -> bytes:
    """An NS; from ``::`` (a DAD probe) it carries no SLLA (RFC 4862 §5.4.2)."""
    body = bytes((NS, 0, 0, 0, 0, 0, 0, 0)) + pton(target)
    if lladdr is not None and src != "::":
        body += _lladdr_option(ND_SLLA, lladdr)
    return _message(src, dst, body)


def neighbor_advertisement(
    src: str, dst: str, target: str, lladdr: bytes, *, router: bool, solicited: bool, override: bool = True
) -> bytes:
    """An NA with the TLLA option (RFC 4861 §4.4)."""
    flags = (NA_R if router else 0) | (NA_S if solicited else 0) | (NA_O if override else 0)
    body = bytes((NA, 0, 0, 0, flags, 0, 0, 0)) + pton(target) + _lladdr_option(ND_TLLA, lladdr)
    return _message(src, dst, body)


def echo_request(ident: int, seq: int, data: bytes) -> bytes:
    """An ICMPv6 Echo Request message (RFC 4443 §4.1), checksum 0 (a raw ICMPv6 socket sums it)."""
    return bytes((ECHO_REQUEST, 0, 0, 0)) + ident.to_bytes(2, "big") + seq.to_bytes(2, "big") + data


def echo_reply(message: bytes) -> tuple[int, int] | None:
    """(identifier, sequence number) of an ICMPv6 Echo Reply message (RFC 4443 §4.2), else None."""
    if len(message) < 8 or message[0] != ECHO_REPLY:
        return None
    return int.from_bytes(message[4:6], "big"), int.from_bytes(message[6:8], "big")


def _error(src: str, dst: str, kind: int, code: int, word: int, original: bytes) -> bytes:
    room = MIN_MTU - 40 - 8
    body = bytes((kind, code, 0, 0)) + word.to_bytes(4, "big") + original[:room]
    return _message(src, dst, body, hlim=64)


def time_exceeded(src: str, dst: str, original: bytes, code: int = 0) -> bytes:
    """Time Exceeded (RFC 4443 §3.3): code 0, hop limit exceeded in transit; code 1, fragment
    reassembly time exceeded."""
    return _error(src, dst, TIME_EXCEEDED, code, 0, original)


def parameter_problem(src: str, dst: str, code: int, pointer: int, original: bytes) -> bytes:
    """Parameter Problem (RFC 4443 §3.4): ``pointer`` is the offending byte of ``original``."""
    return _error(src, dst, PARAMETER_PROBLEM, code, pointer, original)
