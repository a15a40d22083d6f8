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

The rules every tool must read the same way live here, once: what a
de-registration is (:func:`is_deregistration`), which care-of address and
correspondent a Signature or BAD covers (:func:`signing_endpoints`), and the
lifetime's unit (:func:`lifetime_units`, :func:`lifetime_seconds`). The
analyser, the fuzzer, the conformance tester, the shell and the cores import
them; none keeps a copy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields as dataclass_fields
from typing import Any, Union

from scapy_fama.crypto import KeyPair, addr_bytes
from scapy_fama.wire.numbers import LIFETIME_UNIT, MAX_LIFETIME_UNITS, MH_TYPES


def lifetime_units(seconds: int) -> int:
    """Seconds as the BU/BA Lifetime field: 4-second units in 16 bits (RFC 6275 §6.1.7),
    rounded down and capped at the field's maximum."""
    if seconds < 0:
        raise ValueError(f"lifetime must not be negative, got {seconds}")
    return min(seconds // LIFETIME_UNIT, MAX_LIFETIME_UNITS)


def lifetime_seconds(units: int) -> int:
    """The BU/BA Lifetime field in seconds (RFC 6275 §6.1.7)."""
    return units * LIFETIME_UNIT


def wire_lifetime(seconds: float) -> int:
    """``seconds`` rounded down to what the Lifetime field can carry, in seconds."""
    return lifetime_seconds(lifetime_units(max(int(seconds), 0)))


def is_deregistration(coa: str, hoa: str | None, lifetime: int) -> bool:
    """RFC 6275 §9.5.1, profile §4: a BU with lifetime 0, or whose care-of address is its
    home address, removes the binding; ``hoa`` None is a BU without a Home Address option,
    sent from the home address itself."""
    return lifetime == 0 or hoa is None or addr_bytes(coa) == addr_bytes(hoa)


def signing_endpoints(src: str, dst: str, hoa: str | None, deregistration: bool, *, from_mn: bool) -> tuple[str, str]:
    """(care-of address, correspondent) that a BU's or BA's Signature and BAD cover
    (RFC 4866 §4.5, RFC 6275 §6.2.7, profile §4): a BU (``from_mn``) covers its source and
    destination, a BA its destination and source; for a de-registration the home address
    (the HAO's, or the RH2's) stands in for the care-of address."""
    coa, correspondent = (src, dst) if from_mn else (dst, src)
    if deregistration and hoa is not None:
        coa = hoa
    return coa, correspondent


class once:  # noqa: N801 -- a decorator, named like property
    """``functools.cached_property`` without the lock Python 3.11 takes at every first read: the
    value is computed once and kept in the instance's ``__dict__`` (a frozen dataclass's too).
    A message belongs to one thread; the lock cost a DAR 0.5 us a BU and bought nothing."""

    def __init__(self, compute: Callable[[Any], Any]) -> None:
        self.compute, self.name, self.__doc__ = compute, compute.__name__, compute.__doc__

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.compute(obj)
        return value


def filled_at_once(cls: type) -> type:
    """Give a frozen dataclass an ``__init__`` that fills the instance's ``__dict__`` in one
    update. The generated one sets each field through ``object.__setattr__``: 1.9 us for a
    BA's 17 fields against 0.8 us (a DAR builds a BU and a BA for every refresh it answers).
    Same parameters, order and defaults; the class stays frozen (its ``__setattr__`` still
    refuses) and compares, hashes and prints as before."""
    parts = dataclass_fields(cls)
    if hasattr(cls, "__post_init__") or any(f.default_factory is not MISSING or not f.init for f in parts):
        raise TypeError(f"{cls.__name__}: only plain fields with plain defaults are filled at once")
    params = ", ".join(f.name if f.default is MISSING else f"{f.name}=_default_{f.name}" for f in parts)
    filled = ", ".join(f"{f.name}={f.name}" for f in parts)
    scope: dict[str, Any] = {f"_default_{f.name}": f.default for f in parts if f.default is not MISSING}
    exec(f"def __init__(self, {params}):\n    self.__dict__.update({filled})\n", scope)  # noqa: S102
    init = scope["__init__"]
    init.__qualname__, init.__module__ = f"{cls.__qualname__}.__init__", cls.__module__
    cls.__init__ = init  # type: ignore[misc]
    return cls


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


@filled_at_once
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

    @once  # asked several times per BU on the DAR's hot path
    def deregistration(self) -> bool:
        return is_deregistration(self.src, self.hoa, self.lifetime)

    def endpoints(self) -> tuple[str, str]:
        """(care-of address, correspondent) its Signature and BAD cover."""
        return signing_endpoints(self.src, self.dst, self.home_address, self.deregistration, from_mn=True)


@filled_at_once
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

    def endpoints(self) -> tuple[str, str]:
        """(care-of address, correspondent) its BAD (and DAR Signature) cover."""
        return signing_endpoints(self.src, self.dst, self.hoa or self.dst, self.for_deregistration, from_mn=False)


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
    hoa: str | None = None  # a Home Address option on it (RFC 6275 §9.3.3: the BE names it)


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
# the kinds a person names (breakpoints, intercepts): "??" is what a node received, never sent
SENDABLE_KINDS = tuple(k for k in KINDS.values() if k != KINDS[Undecodable])


def kind(msg: Message) -> str:
    """The short name of a message: its MH type name (BU, BA, CoTI, ...), RS, RA, DATA, TUN."""
    return KINDS[type(msg)]


def kind_named(what: str | int) -> str:
    """A message kind from its name ("BU", any case) or its Mobility Header type (5)."""
    if isinstance(what, bool) or not isinstance(what, (str, int)):
        raise TypeError(
            f"a message kind ({', '.join(SENDABLE_KINDS)}) or a Mobility Header type number, "
            f"not {type(what).__name__} {what!r}"
        )
    names = {k.lower(): k for k in KINDS.values()}
    name = MH_TYPES.get(what, str(what)) if isinstance(what, int) else names.get(what.lower(), what)
    if name not in KINDS.values():
        raise ValueError(f"no message kind {what!r}: one of {', '.join(SENDABLE_KINDS)}")
    return name


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


def fields(msg: Message) -> dict[str, Any]:
    """The fields of ``msg`` worth showing, by name; flags are booleans. Logs write them as JSON,
    and :func:`describe` draws its labels from them."""
    match msg:
        case RouterAdvertisement():
            return {"prefix": msg.prefix, "dar": msg.dar_address, "valid": msg.valid_lifetime}
        case BindingUpdate():
            return {
                "seq": msg.seq, "hoa": msg.hoa, "lifetime": msg.lifetime, "A": msg.ack, "H": msg.home,
                "cga": msg.cga_params is not None, "bad": msg.bad is not None or msg.auth_key is not None,
                "ni": msg.nonce_indices,
            }  # fmt: skip
        case BindingAck():
            return {
                "status": msg.status, "seq": msg.seq, "lifetime": msg.lifetime, "hoa": msg.hoa,
                "phkt": msg.phkt_ciphertext is not None, "signed": msg.cga_params is not None,
                "bad": msg.bad is not None or msg.auth_key is not None,
            }  # fmt: skip
        case BindingError():
            return {"status": msg.status, "hoa": msg.hoa}
        case CareOfTest():
            return {"index": msg.index}
        case Datagram():
            return {"sport": msg.sport, "dport": msg.dport, "bytes": len(msg.payload), "hoa": msg.hoa}
        case Tunnelled():
            return {"inner": f"{kind(msg.inner)} {msg.inner.src} -> {msg.inner.dst}"}
        case UnknownMobility():
            return {"mhtype": msg.mhtype, "hoa": msg.hoa}
        case Undecodable():
            return {"reason": msg.reason}
    return {}


def describe(
    msg: Message, *, route: bool = False, short: bool = False, name: Callable[[str | None], str] = str
) -> str:
    """A one-line label of ``msg`` for logs and verdicts; ``route`` adds its source and
    destination (a datagram and a tunnel always show theirs). ``short`` is the compact form
    of a chart row, addresses shown through ``name`` (an alias such as "mn@dar1")."""
    f = fields(msg)
    if isinstance(msg, Tunnelled):
        inner = describe(msg.inner, short=short, name=name)
        return f"tunnel ({inner})" if short else f"IPv6-in-IPv6 {msg.src} -> {msg.dst} ( {inner} )"
    if isinstance(msg, Datagram):
        if short:
            return f"data {name(msg.src)} -> {name(msg.dst)}"
        return f"UDP {msg.src}:{msg.sport} -> {msg.dst}:{msg.dport} {f['bytes']} B"
    label = _short(msg, f, name) if short else _label(msg, f)
    return f"{label} {msg.src} -> {msg.dst}" if route else label


def _label(msg: Message, f: dict[str, Any]) -> str:
    auth = f" [{' '.join(auth_parts(msg))}]" if isinstance(msg, (BindingUpdate, BindingAck)) and auth_parts(msg) else ""
    match msg:
        case BindingUpdate():
            hoa = f" hoa={f['hoa']}" if f["hoa"] else ""
            return f"BU seq={f['seq']} lifetime={f['lifetime']}{hoa}{auth}"
        case BindingAck():
            return f"BA status={f['status']} seq={f['seq']} lifetime={f['lifetime']}{auth}"
        case RouterAdvertisement():
            return f"RA {f['prefix']} dar={f['dar']}"
        case CareOfTest():
            return f"CoT index={f['index']}"
        case BindingError():
            return f"BE status={f['status']} hoa={f['hoa']}"
    return kind(msg)


def _short(msg: Message, f: dict[str, Any], name: Callable[[str | None], str]) -> str:
    match msg:
        case BindingUpdate():
            dereg = " de-reg" if msg.deregistration else ""
            return f"BU {f['seq']} {name(msg.home_address)}{dereg} {'+'.join(auth_parts(msg))}".rstrip()
        case BindingAck():
            return f"BA {f['status']} seq {f['seq']} {'+'.join(auth_parts(msg))}".rstrip()
        case RouterAdvertisement():
            return f"RA {f['prefix']}"
        case BindingError():
            return f"BE {f['status']} {name(f['hoa'])}"
        case CareOfTest():
            return f"CoT index {f['index']}"
    return kind(msg)
