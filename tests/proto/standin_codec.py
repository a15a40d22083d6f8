"""A stand-in for the codec's signed byte spans, so that the cores can be tested without Scapy.

The real spans come from ``scapy_fama.codec``: ``signed_data`` is the Mobility
Header from its first byte through the last CGA Parameters option (RFC 4866
§4.5) and ``auth_data`` runs up to the BAD's Type and Length (RFC 6275 §6.2.7),
both cut from the wire bytes. Here a simple layout function turns the fields of
a message into bytes in the same spirit: every field the real MH carries before
the signature (or the BAD) is in the span, each length-prefixed so no two
messages share a layout. The signature and the authenticator are computed over
these bytes exactly as the codec does it (same CoA and correspondent rules), so
changing any field in flight breaks them, as it would on the wire::

    sender core --seal()--> (signature, BAD filled in) --cut()--> receiver core
                                                     (signed_data, auth_data filled in)

``carry(msg)`` is ``cut(seal(msg))``: what one core's ``Send`` looks like when
it reaches the other core.
"""

from __future__ import annotations

from dataclasses import replace

from scapy_fama.crypto import bad_authenticator, sign_mh
from scapy_fama.proto.messages import BindingAck, BindingUpdate, Message, Tunnelled


def _part(value: bytes | None) -> bytes:
    return b"\xff\xff" if value is None else len(value).to_bytes(2, "big") + value


def _number(value: int, size: int = 2) -> bytes:
    return value.to_bytes(size, "big")


def signed_layout(msg: BindingUpdate | BindingAck) -> bytes:
    """The stand-in for MH[0 : end of the last CGA Parameters option]."""
    if isinstance(msg, BindingUpdate):
        head = (
            b"\x05" + _number(msg.seq) + bytes([msg.ack << 1 | msg.home]) + _number(msg.lifetime, 4)
        )
        return head + _part(msg.cga_params)
    head = b"\x06" + bytes([msg.status]) + _number(msg.seq) + _number(msg.lifetime, 4)
    return head + _part(msg.phkt_ciphertext) + _part(msg.cga_params)


def auth_layout(msg: BindingUpdate | BindingAck) -> bytes:
    """The stand-in for the MH up to the BAD's Type and Length."""
    tail = _part(msg.signature)
    if isinstance(msg, BindingUpdate):
        tail += bytes([msg.cga_request])
        tail += (
            b""
            if msg.nonce_indices is None
            else _number(msg.nonce_indices[0]) + _number(msg.nonce_indices[1])
        )
    return signed_layout(msg) + tail + b"\x05\x0c"


def _addresses(msg: BindingUpdate | BindingAck) -> tuple[str, str]:
    """(CoA, correspondent) as the codec uses them (scapy_fama.codec._encode_bu / _encode_ba)."""
    if isinstance(msg, BindingUpdate):
        return (msg.home_address if msg.deregistration else msg.src), msg.dst
    return ((msg.hoa or msg.dst) if msg.for_deregistration else msg.dst), msg.src


def seal(msg: Message) -> Message:
    """Apply ``sign_with`` and ``auth_key`` as the codec's encoder does."""
    if isinstance(msg, Tunnelled):
        return replace(msg, inner=seal(msg.inner))
    if not isinstance(msg, (BindingUpdate, BindingAck)):
        return msg
    coa, correspondent = _addresses(msg)
    if msg.sign_with is not None and msg.cga_params is not None and msg.signature is None:
        msg = replace(msg, signature=sign_mh(msg.sign_with, coa, correspondent, signed_layout(msg)))
    if msg.auth_key is not None and msg.bad is None:
        msg = replace(
            msg, bad=bad_authenticator(msg.auth_key, coa, correspondent, auth_layout(msg))
        )
    return replace(msg, sign_with=None, auth_key=None)


def cut(msg: Message) -> Message:
    """Fill in the spans as the codec's decoder does (empty when the option is absent)."""
    if isinstance(msg, Tunnelled):
        return replace(msg, inner=cut(msg.inner))
    if not isinstance(msg, (BindingUpdate, BindingAck)):
        return msg
    return replace(
        msg,
        signed_data=signed_layout(msg) if msg.cga_params is not None else b"",
        auth_data=auth_layout(msg) if msg.bad is not None else b"",
    )


def carry(msg: Message) -> Message:
    return cut(seal(msg))
