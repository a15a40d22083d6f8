"""Build complete FAMA signalling packets (profile §4, §5).

Theory of operation
-------------------
Every helper returns a finished ``IPv6`` packet: addresses, HAO or type 2
routing header, options in the RFC 4866 order, signature, authenticator and
checksum. Packets are laid out first with placeholders of the final sizes (the
signature covers the final Header Len), then filled in the order of RFC 4866
§4.5: signature, BAD, checksum::

    MN (CoA)                                             DAR_i
      | first_bu:  HAO=HoA, CGA Params..., Signature      |
      |--------------------------------------------------->|
      | binding_ack: RH2=HoA, PHKT(enc. to MN key), BAD    |
      |<---------------------------------------------------|
      | phkt_bu:   HAO=HoA, Nonce Indices(0, CNI), BAD     |
      |--------------------------------------------------->|

Lifetimes are given in seconds and carried in 4-second units (RFC 6275 §6.1.7).
A de-registration (lifetime 0, or CoA == HoA) authenticates with
Kbm = SHA1(PHKT) and the HoA in place of the CoA (RFC 6275 §5.2.6, profile §4).
"""

from __future__ import annotations

import secrets

from scapy.layers.inet6 import HAO, IPerror6, IPv6, IPv6ExtHdrDestOpt, MIP6MH_BU, _MobilityHeader
from scapy.packet import Packet

from scapy_fama.crypto import (
    KeyPair,
    ZERO_TOKEN,
    addr_bytes,
    bad_authenticator,
    encrypt_phkt,
    kbm,
    keygen_token,
    sign_mh,
)
from scapy_fama.layers import (
    BA,
    BU,
    RH2,
    BindingAuthData,
    CGAParams,
    CGAParamsOpt,
    CGAParamsRequest,
    CoT,
    CoTI,
    NonceIndices,
    PHKTOpt,
    SignatureOpt,
)
from scapy_fama.layers.checksum import mh_checksum
from scapy_fama.layers.headers import mh_context
from scapy_fama.wire import parse

MAX_LIFETIME_UNITS = 0xFFFF  # RFC 6275 §6.1.7: 16 bits of 4-second units


def lifetime_units(seconds: int) -> int:
    """Seconds to the 4-second units of BU/BA Lifetime (RFC 6275 §6.1.7)."""
    if seconds < 0:
        raise ValueError(f"lifetime must not be negative, got {seconds}")
    return min(seconds // 4, MAX_LIFETIME_UNITS)


def is_deregistration(coa: str, hoa: str, lifetime: int) -> bool:
    """Profile §4 / RFC 6275 §9.5.1: lifetime 0 or CoA == HoA removes the binding."""
    return lifetime == 0 or addr_bytes(coa) == addr_bytes(hoa)


def find_mh(pkt: Packet) -> Packet | None:
    """The (first) Mobility Header layer of ``pkt``."""
    layer: Packet | None = pkt
    while layer is not None and layer.__class__.__name__ != "NoPayload":
        if isinstance(layer, IPerror6):
            return None  # the MH quoted by an ICMPv6 error is not a message (RFC 4443 §2.4)
        if isinstance(layer, _MobilityHeader):
            return layer
        layer = layer.payload
    return None


def _bu_headers(coa: str, hoa: str, dar: str) -> Packet:
    """IPv6 (+ DestOpt HAO unless sent from home), profile §4."""
    if addr_bytes(coa) == addr_bytes(hoa):
        return IPv6(src=hoa, dst=dar)  # de-registration from home: no HAO
    return IPv6(src=coa, dst=dar) / IPv6ExtHdrDestOpt(options=[HAO(hoa=hoa)])


def finish_bytes(
    raw: bytes,
    *,
    coa: str,
    correspondent: str,
    keypair: KeyPair | None = None,
    auth_key: bytes | None = None,
) -> bytes:
    """Fill a laid-out packet's bytes: Signature (RFC 4866 §4.5), BAD (RFC 6275 §6.2.7), checksum.

    ``raw`` is an IPv6 packet whose MH already holds a Signature placeholder of
    the key's size (with ``keypair``) and a BAD last (with ``auth_key``), so
    the layout (and Header Len) is final; the fields are written in place.
    """
    info = parse(raw)
    if info is None or info.mh is None:
        raise ValueError("finish_bytes() needs an IPv6 packet carrying a Mobility Header")
    mh, out = info.mh, bytearray(raw)
    off, end = mh.offset, mh.offset + mh.length
    out[off + 4 : off + 6] = b"\0\0"
    if keypair is not None:
        cga_end = max(o + 2 + n for t, o, n in mh.options if t == 12)
        sig = next(o for t, o, n in mh.options if t == 13)
        signature = sign_mh(keypair, coa, correspondent, bytes(out[off : off + cga_end]))
        out[off + sig + 2 : off + sig + 2 + len(signature)] = signature
    if auth_key is not None:
        otype, bad, _ = mh.options[-1]
        assert otype == 5, "the BAD must be the last option"
        covered = bytes(out[off : off + bad + 2])
        out[off + bad + 2 : off + bad + 14] = bad_authenticator(auth_key, coa, correspondent, covered)
    src = info.hoa or info.src  # RFC 6275 §6.1.1 pseudo-header, as the receiver sees it
    dst = info.rh2 or info.dst
    out[off + 4 : off + 6] = mh_checksum(bytes(out[off:end]), src, dst).to_bytes(2, "big")
    return bytes(out)


def sign_and_authenticate(
    pkt: Packet,
    *,
    coa: str,
    correspondent: str,
    keypair: KeyPair | None = None,
    auth_key: bytes | None = None,
) -> Packet:
    """:func:`finish_bytes` on a Scapy packet; the result is dissected from the finished bytes."""
    return IPv6(finish_bytes(bytes(pkt), coa=coa, correspondent=correspondent, keypair=keypair, auth_key=auth_key))


def _cga_options(params: bytes, keypair: KeyPair) -> list[Packet]:
    """CGA Parameters (split as needed) then a Signature placeholder of the key's size."""
    return [
        CGAParamsOpt(params=CGAParams(params)),
        SignatureOpt(sig=bytes(keypair.bits // 8)),
    ]


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
    """CGA-authorised BU to DAR_i (profile §4): CGA Parameters + Signature.

    With ``care_of_token`` (secure mode, profile §5) it also carries Nonce
    Indices (0, ``coni``) and a BAD keyed with the zero home token.
    """
    options: list[Packet] = _cga_options(params, keypair)
    if cga_request:
        options.append(CGAParamsRequest())
    auth_key = None
    if care_of_token is not None:
        options += [NonceIndices(hni=0, coni=coni), BindingAuthData()]
        auth_key = kbm(ZERO_TOKEN, care_of_token)
    bu = BU(seq=seq & 0xFFFF, flags="HA", mhtime=lifetime_units(lifetime), options=options)
    return sign_and_authenticate(_bu_headers(coa, hoa, dar) / bu, coa=coa, correspondent=dar, keypair=keypair, auth_key=auth_key)


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
    dereg = is_deregistration(coa, hoa, lifetime)
    key = kbm(phkt, care_of_token, deregistration=dereg)
    options = [NonceIndices(hni=0, coni=0 if dereg else coni), BindingAuthData()]
    bu = BU(seq=seq & 0xFFFF, flags="HA", mhtime=0 if dereg else lifetime_units(lifetime), options=options)
    return sign_and_authenticate(_bu_headers(coa, hoa, dar) / bu, coa=hoa if dereg else coa, correspondent=dar, auth_key=key)


def binding_ack(
    bu: Packet,
    status: int,
    lifetime: int,
    phkt: bytes | None = None,
    mn_public_key: bytes | None = None,
    *,
    seq: int | None = None,
    care_of_token: bytes | None = None,
    dar_keypair: KeyPair | None = None,
    dar_params: bytes | None = None,
) -> Packet:
    """The DAR's BA to ``bu`` (profile §4, §6 step 7).

    Sent to the BU's source with RH2 = HoA when the BU had a HAO; sequence
    number echoed unless ``seq`` is given (BA 135 carries the last accepted one).
    ``phkt`` with ``mn_public_key`` adds the PHKT option encrypted to the MN;
    ``phkt`` alone just keys the BAD, which goes last whenever a PHKT exists.
    ``dar_keypair`` + ``dar_params`` answer a CGA Parameters Request.
    """
    mh = find_mh(bu)
    ctx = mh_context(mh) if mh is not None else None
    if mh is None or ctx is None or not isinstance(mh, MIP6MH_BU):
        raise ValueError("binding_ack() needs an IPv6 packet carrying a Binding Update")
    coa, hoa, dar = ctx.ip.src, ctx.src, ctx.ip.dst
    dereg = is_deregistration(coa, hoa, int(mh.mhtime))
    options: list[Packet] = []
    if phkt is not None and mn_public_key is not None:
        options.append(PHKTOpt(phkt=encrypt_phkt(mn_public_key, phkt)))
    if dar_keypair is not None and dar_params is not None:
        options += _cga_options(dar_params, dar_keypair)
    auth_key = None
    if phkt is not None:
        options.append(BindingAuthData())
        auth_key = kbm(phkt, care_of_token, deregistration=dereg)
    ba = BA(
        status=status,
        seq=int(mh.seq) if seq is None else seq & 0xFFFF,
        mhtime=0 if status >= 128 else lifetime_units(lifetime),
        options=options,
    )
    headers = IPv6(src=dar, dst=coa)
    if ctx.hao is not None:
        headers = headers / RH2(addresses=[hoa])  # RFC 6275 §9.5.4
    return sign_and_authenticate(
        headers / ba,
        coa=hoa if dereg else coa,
        correspondent=dar,
        keypair=dar_keypair if dar_params is not None else None,
        auth_key=auth_key,
    )


def coti(coa: str, dar: str, cookie: bytes | None = None) -> Packet:
    """Care-of Test Init from the CoA to DAR_i (profile §5; fresh 64-bit cookie)."""
    return IPv6(bytes(IPv6(src=coa, dst=dar) / CoTI(cookie=cookie or secrets.token_bytes(8))))


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
    req = find_mh(coti_pkt)
    if not isinstance(req, CoTI) or IPv6 not in coti_pkt:
        raise ValueError("cot() needs an IPv6 packet carrying a Care-of Test Init")
    ip = coti_pkt[IPv6]
    if token is None:
        if kcn is None or nonce is None:
            raise ValueError("cot() needs token=, or kcn= and nonce=")
        token = keygen_token(kcn, ip.src, nonce, care_of=True)
    return IPv6(bytes(IPv6(src=ip.dst, dst=ip.src) / CoT(index=index, cookie=req.cookie, token=token)))
