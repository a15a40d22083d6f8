"""How a message crosses a link: as an object (the default) or as real IPv6 bytes (``wire=True``).

Theory of operation
-------------------
A core's outgoing signalling carries instructions, not results: ``sign_with``
(sign the CGA Parameters, RFC 4866 §4.5) and ``auth_key`` (the Kbm of the BAD,
RFC 6275 §6.2.7). The receiving core wants results: the signature, the BAD and
the byte spans they cover (``signed_data``, ``auth_data``). A carrier turns one
into the other::

    sender core ---Send(BU sign_with, auth_key)---> carrier ---BU(signature, bad, spans)---> receiver
                        WireCarrier:   codec.encode_bytes -> bytes (pcap) -> codec.decode
                        ObjectCarrier: sign / authenticate a canonical span of the fields
                                       that precede the option on the wire; no Scapy

The object carrier's span is not the Mobility Header layout; it is the
``repr`` of the same fields in wire order (fixed part, then the options before
the Signature or the BAD), so a field changed in flight breaks the signature or
the BAD as it would on the wire. It also drops what the wire cannot carry (a
Home Address option naming the source, an RH2 naming the destination, the
sender-side ``for_deregistration`` hint), so both carriers hand the receiver
the same message, signatures and spans aside
(:data:`scapy_fama.net.sim_events.VOLATILE`).

:func:`received` is the object carrier's whole work on a message, and the one
stand-in codec of the cores' own tests (``tests/proto``): a test hands a core a
message it made as a carrier would deliver it, and :func:`signed_span` lets it
re-sign a tampered one.

Both carriers remember the messages they decoded from bytes (the wire
carrier: all it carries; either: a packet a test injects): a router that
forwards such a message unchanged sends the very bytes it received (malformed
or crafted ones included), not a re-encoding, and the object carrier keeps the
spans that were cut from those bytes.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace
from typing import Protocol

from scapy.packet import Packet

from scapy_fama.codec import decode, encode_bytes
from scapy_fama.crypto import bad_authenticator, sign_mh
from scapy_fama.proto.messages import BindingAck, BindingUpdate, Message, Tunnelled

_KEPT = 4096  # messages decoded from bytes that a carrier remembers, for forwarding


class Carrier(Protocol):
    def carry(self, msg: Message) -> tuple[Message, bytes | None]:
        """The message as received, and the bytes on the link (None: no bytes)."""

    def parse(self, packet: Packet | bytes) -> tuple[Message, bytes | None]:
        """A packet built outside the cores (a test's forgery), as a message to send."""


def signed_span(msg: BindingUpdate | BindingAck) -> bytes:
    """What the signature covers: the fixed part and the options up to the CGA Parameters."""
    if isinstance(msg, BindingUpdate):
        fixed = ("BU", msg.seq, msg.ack, msg.home, msg.lifetime)
        return repr(fixed + (msg.cga_params,)).encode()
    fixed = ("BA", msg.status, msg.seq, msg.lifetime)
    return repr(fixed + (msg.phkt_ciphertext, msg.cga_params)).encode()


def auth_span(msg: BindingUpdate | BindingAck) -> bytes:
    """What the BAD covers: everything before it."""
    if isinstance(msg, BindingUpdate):
        after = (msg.signature, msg.cga_request, msg.nonce_indices)
    else:
        after = (msg.signature, msg.refresh_interval)  # the Binding Refresh Advice, RFC 6275 §6.2.4
    return signed_span(msg) + repr(after).encode()


def _seal(msg: BindingUpdate | BindingAck) -> BindingUpdate | BindingAck:
    """Carry out ``sign_with`` and ``auth_key`` (the codec's encoder does it on the bytes)."""
    coa, correspondent = msg.endpoints()
    if msg.sign_with is not None and msg.cga_params is not None and msg.signature is None:
        signature = sign_mh(msg.sign_with, coa, correspondent, signed_span(msg))
        msg = replace(msg, signature=signature)
    if msg.auth_key is not None and msg.bad is None:
        bad = bad_authenticator(msg.auth_key, coa, correspondent, auth_span(msg))
        msg = replace(msg, bad=bad)
    return msg


def received(msg: Message) -> Message:
    """What the receiver of ``msg`` sees: results instead of instructions, wire-only fields."""
    if isinstance(msg, Tunnelled):
        inner = received(msg.inner)
        return msg if inner is msg.inner else replace(msg, inner=inner)
    if isinstance(msg, (BindingUpdate, BindingAck)):
        msg = _seal(msg)
        own = msg.src if isinstance(msg, BindingUpdate) else msg.dst  # RFC 6275 §9.5.4
        hint = {} if isinstance(msg, BindingUpdate) else {"for_deregistration": False}
        return replace(
            msg,
            hoa=None if msg.hoa == own else msg.hoa,
            signed_data=signed_span(msg) if msg.cga_params is not None else b"",
            auth_data=auth_span(msg) if msg.bad is not None else b"",
            sign_with=None,
            auth_key=None,
            **hint,
        )
    return msg


class _Memo:
    """Messages a carrier produced from bytes, by identity, with those bytes (bounded)."""

    def __init__(self) -> None:
        self._items: OrderedDict[int, tuple[Message, bytes | None]] = OrderedDict()

    def put(self, msg: Message, raw: bytes | None) -> tuple[Message, bytes | None]:
        self._items[id(msg)] = (msg, raw)  # the entry holds msg, so its id is not reused
        if len(self._items) > _KEPT:
            self._items.popitem(last=False)
        return msg, raw

    def get(self, msg: Message) -> tuple[Message, bytes | None] | None:
        known = self._items.get(id(msg))
        return known if known is not None and known[0] is msg else None


class ObjectCarrier:
    """Messages cross links as objects: fast, no Scapy on the way.

    A message that came from bytes (:meth:`parse`) keeps the spans cut from
    them as long as it travels unchanged."""

    def __init__(self) -> None:
        self._parsed = _Memo()

    def carry(self, msg: Message) -> tuple[Message, bytes | None]:
        return self._parsed.get(msg) or (received(msg), None)

    def parse(self, packet: Packet | bytes) -> tuple[Message, bytes | None]:
        return self._parsed.put(decode(packet), None)


class WireCarrier:
    """Messages cross links as IPv6 bytes: the codec encodes, the receiver decodes."""

    def __init__(self) -> None:
        self._decoded = _Memo()

    def carry(self, msg: Message) -> tuple[Message, bytes | None]:
        known = self._decoded.get(msg)
        return self.parse(known[1] if known and known[1] else encode_bytes(msg))

    def parse(self, packet: Packet | bytes) -> tuple[Message, bytes | None]:
        raw = bytes(packet)
        return self._decoded.put(decode(raw), raw)
