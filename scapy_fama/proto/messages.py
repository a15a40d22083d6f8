"""The messages the protocol cores exchange, as plain data (no Scapy, no bytes layout).

Theory of operation
-------------------
The cores (:mod:`scapy_fama.proto.dar`, :mod:`scapy_fama.proto.mn`) read and
write these objects; :mod:`scapy_fama.codec` turns them into Scapy packets and
back. Two rules keep byte layout out of the core:

* incoming signed messages carry the exact byte spans that were signed or
  authenticated (``signed_data``, ``auth_data``), cut by the codec from the
  wire, so the core verifies with :mod:`scapy_fama.crypto` alone;
* outgoing messages carry *instructions* for the codec: ``sign_with`` (the key
  that signs the CGA Parameters, RFC 4866 §4.5) and ``auth_key`` (the Kbm that
  keys the BAD, RFC 6275 §6.2.7), because only the codec knows the final layout.

Addresses are text (``"2001:db8:1::1"``); lifetimes are seconds (the codec
carries them in 4-second units, RFC 6275 §6.1.7).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from scapy_fama.crypto import KeyPair


@dataclass(frozen=True)
class RouterSolicitation:
    """RS from an MN on link-up (profile §2 step 1)."""

    src: str
    dst: str = "ff02::2"


@dataclass(frozen=True)
class RouterAdvertisement:
    """RA with one PIO, L=1 A=1 R=1: the prefix carries the DAR's global address (profile §1)."""

    src: str  # the DAR's link-local address
    dst: str
    dar_address: str
    prefix: str  # "2001:db8:1::/64"
    valid_lifetime: int
    preferred_lifetime: int
    router_lifetime: int = 1800


@dataclass(frozen=True)
class BindingUpdate:
    """BU from ``src`` (the CoA, or the HoA from home) to a DAR (profile §4)."""

    src: str
    dst: str
    hoa: str | None  # Home Address option, None when sent from home
    seq: int
    lifetime: int
    ack: bool = True
    home: bool = True
    cga_params: bytes | None = None  # reassembled CGA Parameters
    signature: bytes | None = None
    cga_request: bool = False  # CGA Parameters Request option (profile §4, §6)
    nonce_indices: tuple[int, int] | None = None  # (home, care-of)
    bad: bytes | None = None  # the authenticator carried
    # incoming only: byte spans as cut by the codec, and framing problems found there
    signed_data: bytes = b""  # MH[0:end of last CGA Parameters option], checksum 0
    auth_data: bytes = b""  # MH up to the BAD's Type and Length, checksum 0
    framing: tuple[str, ...] = ()  # RFC 4866 §5.1/§5.2 placement problems (empty: fine)
    # outgoing only: what the codec must compute once the layout is final
    sign_with: KeyPair | None = field(default=None, compare=False, repr=False)
    auth_key: bytes | None = field(default=None, compare=False, repr=False)

    @property
    def home_address(self) -> str:
        return self.hoa or self.src

    @property
    def deregistration(self) -> bool:
        """Profile §4 / RFC 6275 §9.5.1: lifetime 0 or CoA == HoA."""
        return self.lifetime == 0 or self.hoa is None or self.hoa == self.src


@dataclass(frozen=True)
class BindingAck:
    """BA from a DAR to ``dst`` (the BU's source), RH2 = ``hoa`` when the BU had a HAO."""

    src: str
    dst: str
    hoa: str | None
    status: int
    seq: int
    lifetime: int
    phkt_ciphertext: bytes | None = None  # PHKT option (RFC 4866 §5.3)
    cga_params: bytes | None = None  # the DAR's own, answering a CGA Parameters Request
    signature: bytes | None = None
    bad: bytes | None = None
    signed_data: bytes = b""
    auth_data: bytes = b""
    framing: tuple[str, ...] = ()
    # outgoing: answers a de-registration, so the BAD covers the HoA instead of the CoA
    # (RFC 6275 §6.2.7 with profile §4; the codec needs it to lay out the authenticator)
    for_deregistration: bool = False
    # Binding Refresh Advice (RFC 6275 §6.2.4) in seconds: the MN refreshes by then (profile §7)
    refresh_interval: int | None = None
    sign_with: KeyPair | None = field(default=None, compare=False, repr=False)
    auth_key: bytes | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class BindingError:
    """BE (RFC 6275 §6.1.9): status 1 unknown binding for a HAO, 2 unknown MH type."""

    src: str
    dst: str
    status: int
    hoa: str = "::"


@dataclass(frozen=True)
class CareOfTestInit:
    """CoTI from the CoA to a DAR (profile §5)."""

    src: str
    dst: str
    cookie: bytes


@dataclass(frozen=True)
class CareOfTest:
    """CoT from a DAR to the CoA (profile §5)."""

    src: str
    dst: str
    index: int
    cookie: bytes
    token: bytes


@dataclass(frozen=True)
class Datagram:
    """Application data between two addresses (UDP on the wire)."""

    src: str
    dst: str
    sport: int
    dport: int
    payload: bytes
    hlim: int = 64
    hoa: str | None = None  # a Home Address option on a data packet (RFC 6275 §9.3.1)


@dataclass(frozen=True)
class Tunnelled:
    """IPv6-in-IPv6 (RFC 2473, profile §8) around an inner message."""

    src: str
    dst: str
    inner: "Message"
    hlim: int = 64


@dataclass(frozen=True)
class UnknownMobility:
    """A Mobility Header of a type this node does not handle (answered with BE status 2)."""

    src: str
    dst: str
    mhtype: int
    hoa: str | None = None  # its Home Address option: the BE names it (RFC 6275 §9.3.3)


@dataclass(frozen=True)
class Undecodable:
    """Something the codec could not turn into a message (kept for logs and counters)."""

    src: str
    dst: str
    reason: str


Message = Union[
    RouterSolicitation,
    RouterAdvertisement,
    BindingUpdate,
    BindingAck,
    BindingError,
    CareOfTestInit,
    CareOfTest,
    Datagram,
    Tunnelled,
    UnknownMobility,
    Undecodable,
]


# The short name of each message, as logs, charts and breakpoints call it.
KINDS: dict[type, str] = {
    RouterSolicitation: "RS",
    RouterAdvertisement: "RA",
    BindingUpdate: "BU",
    BindingAck: "BA",
    BindingError: "BE",
    CareOfTestInit: "CoTI",
    CareOfTest: "CoT",
    Datagram: "DATA",
    Tunnelled: "TUN",
    UnknownMobility: "MH",
    Undecodable: "??",
}


def kind(msg: Message) -> str:
    """The short name of a message: its MH type name (BU, BA, CoTI, ...), RS, RA, DATA, TUN."""
    return KINDS[type(msg)]


def auth_parts(msg: BindingUpdate | BindingAck) -> list[str]:
    """The authorisation a BU or BA carries, by option name in wire order: present, or (on the
    way out) to be made by the codec. A BU: cga, sig, ni, bad; a BA: phkt, cga, sig, bad."""
    first: list[tuple[str, object]] = (
        [("phkt", msg.phkt_ciphertext)] if isinstance(msg, BindingAck) else []
    )
    parts = first + [("cga", msg.cga_params), ("sig", msg.signature or msg.sign_with)]
    if isinstance(msg, BindingUpdate):
        parts.append(("ni", msg.nonce_indices))
    parts.append(("bad", msg.bad or msg.auth_key))
    return [name for name, value in parts if value is not None]


def _flags(msg: BindingUpdate | BindingAck) -> str:
    shown = auth_parts(msg)
    return f" [{' '.join(shown)}]" if shown else ""


def describe(msg: Message, *, route: bool = False) -> str:
    """A one-line label of ``msg`` for logs, charts and verdicts; ``route`` adds its source and
    destination (a datagram and a tunnel always show theirs)."""
    if isinstance(msg, Tunnelled):
        return f"IPv6-in-IPv6 {msg.src} -> {msg.dst} ( {describe(msg.inner)} )"
    if isinstance(msg, Datagram):
        return f"UDP {msg.src}:{msg.sport} -> {msg.dst}:{msg.dport} {len(msg.payload)} B"
    label = _label(msg)
    return f"{label} {msg.src} -> {msg.dst}" if route else label


def _label(msg: Message) -> str:
    if isinstance(msg, BindingUpdate):
        hao = f" hoa={msg.hoa}" if msg.hoa else ""
        return f"BU seq={msg.seq} lifetime={msg.lifetime}{hao}{_flags(msg)}"
    if isinstance(msg, BindingAck):
        return f"BA status={msg.status} seq={msg.seq} lifetime={msg.lifetime}{_flags(msg)}"
    if isinstance(msg, RouterAdvertisement):
        return f"RA {msg.prefix} dar={msg.dar_address}"
    if isinstance(msg, CareOfTest):
        return f"CoT index={msg.index}"
    if isinstance(msg, BindingError):
        return f"BE status={msg.status} hoa={msg.hoa}"
    return kind(msg)
