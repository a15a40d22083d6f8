"""Build complete FAMA signalling packets (profile §4, §5) as Scapy packets, for people and tests.

Theory of operation
-------------------
Every helper builds the protocol message and has :mod:`scapy_fama.codec`
encode it, so a crafted packet is laid out, signed and authenticated exactly
as the roles do it: addresses, HAO or type 2 routing header, options in the
RFC 4866 order, Signature, BAD and checksum::

    MN (CoA)                                             DAR_i
      | first_bu:  HAO=HoA, CGA Params..., Signature      |
      |--------------------------------------------------->|
      | binding_ack: RH2=HoA, PHKT(enc. to MN key), BAD    |
      |<---------------------------------------------------|
      | phkt_bu:   HAO=HoA, Nonce Indices(0, CNI), BAD     |
      |--------------------------------------------------->|

Lifetimes are given in seconds and carried in 4-second units (RFC 6275 §6.1.7): rounded
down and capped at the field's maximum, but 1 to 3 s, 0 there, a de-registration, is refused.
Sequence numbers are taken modulo 2**16, as RFC 6275 §9.5.1 compares them (65536 + 7 is 7).
A de-registration (lifetime 0, or CoA == HoA) authenticates with
Kbm = SHA1(PHKT) and the HoA in place of the CoA (RFC 6275 §5.2.6, profile §4;
:func:`scapy_fama.proto.messages.is_deregistration`).
"""

from __future__ import annotations

import secrets

from scapy.packet import Packet

from scapy_fama.codec import decode, encode
from scapy_fama.crypto import KeyPair, ZERO_TOKEN, addr_bytes, encrypt_phkt, kbm, keygen_token, public_der
from scapy_fama.proto.messages import (
    BindingAck,
    BindingUpdate,
    CareOfTest,
    CareOfTestInit,
    is_deregistration,
)
from scapy_fama.proto.status import REFUSED
from scapy_fama.wire.numbers import LIFETIME_UNIT

STATUS_MAX = 0xFF  # a BA's Status is 8 bits (RFC 6275 §6.1.8)


def _whole(value: object, what: str, unit: str = "") -> int:
    """``value`` as a whole number; TypeError naming ``what`` (a whole number ``unit``) otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} is a whole number{unit}, not {type(value).__name__} {value!r}")
    return value


def _status(value: object) -> int:
    """A BA's Status: 8 bits (the encoder failed with "bytes must be in range(0, 256)")."""
    status = _whole(value, "status")
    if not 0 <= status <= STATUS_MAX:
        raise ValueError(f"status is 8 bits, 0 to {STATUS_MAX} (RFC 6275 §6.1.8), not {status}")
    return status


def _lifetime(seconds: object) -> int:
    """A lifetime in seconds for the Lifetime field: 1 to 3 s is 0 there, a de-registration
    (4-second units, RFC 6275 §6.1.7); longer ones are rounded down and capped (module doc)."""
    seconds = _whole(seconds, "lifetime", " of seconds")  # a negative one: lifetime_units refuses it
    if 0 < seconds < LIFETIME_UNIT:
        raise ValueError(
            f"lifetime {seconds} s is 0 in the field's {LIFETIME_UNIT}-second units (RFC 6275 §6.1.7), "
            "a de-registration: give 0 for one, or 4 s or more"
        )
    return seconds


def _hao(coa: str, hoa: str) -> str | None:
    """The Home Address option's address; None when the BU leaves from home (profile §4)."""
    return None if addr_bytes(coa) == addr_bytes(hoa) else hoa


def first_bu(
    coa: str,
    hoa: str,
    dar: str,
    seq: int,
    lifetime: int,
    keypair: KeyPair,
    params: bytes,
    *,
    cga_request: bool = False,
    care_of_token: bytes | None = None,
    coni: int = 0,
) -> Packet:
    """CGA-authorised BU to DAR_i (profile §4): CGA Parameters + Signature, made with ``keypair``
    and ``params`` (TypeError without them: an unsigned BU is no first BU a DAR takes).

    With ``care_of_token`` (secure mode, profile §5) it also carries Nonce
    Indices (0, ``coni``) and a BAD keyed with the zero home token.
    """
    if not isinstance(keypair, KeyPair) or not isinstance(params, bytes):
        # without them the BU went out unsigned, or with CGA Parameters and no Signature:
        # no first BU a DAR takes (profile §6 step 4); phkt_bu crafts the PHKT-authorised one
        raise TypeError(
            "first_bu signs with the MN's key: keypair is its KeyPair and params its CGA Parameters "
            f"(bytes, e.g. cga.params), not {type(keypair).__name__} and {type(params).__name__}"
        )
    secure = care_of_token is not None
    seq, lifetime = _whole(seq, "seq"), _lifetime(lifetime)
    return encode(
        BindingUpdate(
            coa, dar, _hao(coa, hoa), seq, lifetime, cga_params=params, cga_request=cga_request,
            nonce_indices=(0, coni) if secure else None, sign_with=keypair,
            auth_key=kbm(ZERO_TOKEN, care_of_token) if secure else None,
        )  # fmt: skip
    )


def phkt_bu(
    coa: str,
    hoa: str,
    dar: str,
    seq: int,
    lifetime: int,
    phkt: bytes,
    care_of_token: bytes | None = None,
    *,
    coni: int = 0,
) -> Packet:
    """PHKT-authorised BU (profile §4): Nonce Indices (HNI 0) + BAD.

    A de-registration (lifetime 0 or CoA == HoA) uses Kbm = SHA1(PHKT) and the
    HoA in the authenticator; sent from home it has no HAO.
    """
    seq, lifetime = _whole(seq, "seq"), _lifetime(lifetime)
    dereg = is_deregistration(coa, hoa, lifetime)
    return encode(
        BindingUpdate(
            coa, dar, _hao(coa, hoa), seq, 0 if dereg else lifetime,
            nonce_indices=(0, 0 if dereg else coni), auth_key=kbm(phkt, care_of_token, deregistration=dereg),
        )  # fmt: skip
    )


def binding_ack(
    bu: Packet,
    status: int,
    lifetime: int,
    phkt: bytes | None = None,
    mn_public_key: KeyPair | bytes | None = None,
    *,
    seq: int | None = None,
    care_of_token: bytes | None = None,
    dar_keypair: KeyPair | None = None,
    dar_params: bytes | None = None,
) -> Packet:
    """The DAR's BA to ``bu`` (profile §4, §6 step 7).

    Sent to the BU's source with RH2 = HoA when the BU had a HAO; sequence
    number echoed unless ``seq`` is given (BA 135 carries the last accepted one).
    ``phkt`` with ``mn_public_key`` adds the PHKT option encrypted to the MN's
    key: its KeyPair, as :func:`first_bu` takes it, or its public key as DER
    bytes (a SubjectPublicKeyInfo: ``KeyPair.public_der``, or the key of the
    BU's CGA Parameters); ``phkt`` alone just keys the BAD, which goes last
    whenever a PHKT exists.
    ``dar_keypair`` + ``dar_params`` answer a CGA Parameters Request.
    """
    msg = decode(bu, lenient=True)
    if not isinstance(msg, BindingUpdate):
        raise ValueError("binding_ack() needs an IPv6 packet carrying a Binding Update")
    if (dar_keypair is None) != (dar_params is None):  # one alone was an unsigned BA, without a word
        raise ValueError("binding_ack(): dar_keypair and dar_params go together (the DAR's key and its CGA Parameters)")
    if mn_public_key is not None and phkt is None:
        raise ValueError("binding_ack(): mn_public_key encrypts a phkt, and none was given")
    status, lifetime = _status(status), _lifetime(lifetime)
    seq = msg.seq if seq is None else _whole(seq, "seq")
    mn_der = None if mn_public_key is None else public_der(mn_public_key)
    dereg = msg.deregistration
    signed = dar_keypair is not None and dar_params is not None
    return encode(
        BindingAck(
            msg.dst, msg.src, msg.hoa, status, seq,
            0 if status >= REFUSED else lifetime,
            phkt_ciphertext=encrypt_phkt(mn_der, phkt) if phkt is not None and mn_der is not None else None,
            cga_params=dar_params if signed else None, sign_with=dar_keypair if signed else None,
            for_deregistration=dereg,
            auth_key=kbm(phkt, care_of_token, deregistration=dereg) if phkt is not None else None,
        )  # fmt: skip
    )


def coti(coa: str, dar: str, cookie: bytes | None = None) -> Packet:
    """Care-of Test Init from the CoA to DAR_i (profile §5; fresh 64-bit cookie)."""
    return encode(CareOfTestInit(coa, dar, cookie or secrets.token_bytes(8)))


def cot(
    coti_pkt: Packet,
    index: int,
    *,
    token: bytes | None = None,
    kcn: bytes | None = None,
    nonce: bytes | None = None,
) -> Packet:
    """DAR_i's Care-of Test to ``coti_pkt``, cookie echoed (RFC 6275 §6.1.6).

    The care-of keygen token is ``token``, or computed from ``kcn`` and
    ``nonce`` as First64(HMAC_SHA1(Kcn, CoA ‖ nonce ‖ 1)) (RFC 6275 §5.2.5).
    """
    init = decode(coti_pkt, lenient=True)
    if not isinstance(init, CareOfTestInit):
        raise ValueError("cot() needs an IPv6 packet carrying a Care-of Test Init")
    if token is None:
        if kcn is None or nonce is None:
            raise ValueError("cot() needs token=, or kcn= and nonce=")
        token = keygen_token(kcn, init.src, nonce, care_of=True)
    return encode(CareOfTest(init.dst, init.src, index, init.cookie, token))
