"""Profile §6 step 4: is a BU authorised? The DAR's cheapest checks first, RSA last.

Theory of operation
-------------------
A BU proves its right to bind HoA_i in one of two ways: a CGA-signed first BU
(CGA Parameters + Signature over the HoA's CGA, RFC 4866 §4.5), or a BAD keyed
with the PHKT the DAR issued earlier (profile §4). The verdict is data: the
DAR (:mod:`scapy_fama.proto.dar`) turns it into a BA or a silent drop::

    BU --> options present? --CGA--> care-of token (137)? --> key bounds (148)
       |                                                    --> BAD of a CGA BU (drop)
       |                                                    --> CGA budget (130)
       |                                                    --> CGA check, RSA verify (148)
       |                                                    --> Authorised(new_phkt, mn_key)
       +--BAD--> record? (147) --> care-of token (137)? --> BAD (drop) --> Authorised(record)
       +--none-> 149 if a record exists, else 148

Cost before trust (profile §6): nothing that costs an RSA operation happens
before the care-of token, the key's bounds, the CGA BU's own BAD and the CGA
budget have passed. The key is bounded before anything else touches it: an RSA
modulus of 1024 to 1536 bits (profile §2 step 2: 2048 bits do not fit the
255-byte options) and a public exponent 3 <= e < 2^32, odd (RFC 8017 §3.1:
e >= 3 and prime to lambda(n), which is even; 32 bits is the largest exponent
common RSA implementations accept, such as Windows' CNG and Go's crypto/rsa at
2^31 - 1). Verification costs grow with the exponent's bits, so a 2,030-bit
exponent would cost about 30 times a 65537 one; the MN's keys use 65537.

A verified CGA BU brings a new PHKT (``new_phkt``) that is *not* stored here:
the DAR stores it only once steps 5 and 6 accept the BU, so a BU refused later
(130 at capacity, 139) leaves nothing behind (profile §6).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from scapy_fama.crypto import (
    ZERO_TOKEN,
    cga_check,
    cga_public_key,
    check_authenticator,
    kbm,
    new_phkt,
    rsa_shape,
    verify_mh_signature,
)
from scapy_fama.proto.cache import SecurityRecord, key_hash
from scapy_fama.proto.dosguard import SourceLimiter
from scapy_fama.proto.messages import BindingUpdate, filled_at_once
from scapy_fama.proto.nonces import CareOfNonces
from scapy_fama.proto.status import BaStatus

RSA_BITS = (1024, 1536)  # profile §2 step 2: the moduli a CGA key may have
MIN_EXPONENT = 3  # RFC 8017 §3.1
EXPONENT_LIMIT = 2**32  # exclusive: the largest exponents common implementations take

BAD_WRONG = "bad-authenticator: the BAD does not verify with the PHKT"  # profile §6 step 4: silent drop


@lru_cache(maxsize=1024)  # per key, as its parsing (crypto.keys): an MN signs the first BU of each HoA with one
def key_refusal(public_key: bytes) -> str | None:
    """Why an RSA public key (DER) is refused before any RSA operation, or None."""
    try:
        bits, exponent = rsa_shape(public_key)
    except ValueError as exc:
        return str(exc)
    low, high = RSA_BITS
    if not low <= bits <= high:
        return f"an RSA-{bits} key: {low} to {high} bits are taken (profile §2 step 2)"
    if not (MIN_EXPONENT <= exponent < EXPONENT_LIMIT and exponent % 2):
        shown = exponent if exponent < EXPONENT_LIMIT else f"of {exponent.bit_length()} bits"
        return f"public exponent {shown}: an odd 3 <= e < 2^32 is taken (RFC 8017 §3.1)"
    return None


@filled_at_once  # one for every BU that step 4 lets through
@dataclass(frozen=True)
class Authorised:
    """Step 4 passed: the record held before this BU (None before a first CGA BU), the
    validated care-of token, for a CGA BU the PHKT to issue and the key it goes to, and for
    a PHKT BU the Kbm its BAD verified with (the BA's key too, profile §4)."""

    record: SecurityRecord | None
    care_of: bytes | None
    new_phkt: bytes | None = None
    mn_key: bytes | None = None
    kbm: bytes | None = None


@dataclass(frozen=True)
class Refused:
    """Step 4 failed with a BA status (130, 137, 147, 148, 149)."""

    status: int
    why: str = ""


@dataclass(frozen=True)
class Dropped:
    """Step 4 failed silently (a BAD that does not verify); ``reason`` as Drop's."""

    reason: str


Verdict = Authorised | Refused | Dropped


class Authoriser:
    """Step 4 for one DAR: its address, care-of nonces, CGA budget and randomness."""

    def __init__(
        self,
        address: str,
        nonces: CareOfNonces,
        guard: SourceLimiter,
        rand: Callable[[int], bytes],
        *,
        secure: bool,
    ) -> None:
        self._address = address
        self._nonces = nonces
        self._guard = guard
        self._rand = rand
        self._secure = secure

    def check(self, bu: BindingUpdate, record: SecurityRecord | None, now: float) -> Verdict:
        if bu.cga_params is not None or bu.signature is not None:
            if bu.framing or bu.cga_params is None or bu.signature is None:  # RFC 4866 §5.1, §5.2
                problems = "; ".join(bu.framing) or "CGA Parameters and Signature must come together"
                return Refused(BaStatus.CGA_VERIFICATION_FAILED, problems)
        elif bu.bad is not None:
            if record is None:
                return Refused(BaStatus.PHKT_UNAVAILABLE)
        else:
            return Refused(BaStatus.PHKT_EXISTS if record else BaStatus.CGA_VERIFICATION_FAILED)
        care_of, problem = self._care_of_token(bu, now)
        if problem is not None:
            return Refused(BaStatus.EXPIRED_CARE_OF_NONCE, problem)
        if bu.cga_params is not None:
            return self._cga(bu, record, care_of, now)
        assert record is not None and bu.bad is not None
        key = record.kbm(care_of, bu.deregistration)
        if not check_authenticator(bu.bad, key, bu.endpoints()[0], self._address, bu.auth_data):
            return Dropped(BAD_WRONG)
        return Authorised(record, care_of, kbm=key)

    def _care_of_token(self, bu: BindingUpdate, now: float) -> tuple[bytes | None, str | None]:
        """The care-of token a BU proves (profile §5), or why it falls short (BA 137)."""
        if bu.deregistration:  # RFC 6275 §6.2.6: the care-of index is ignored on delete
            return None, None
        index = bu.nonce_indices[1] if bu.nonce_indices else 0
        care_of = self._nonces.token(index, bu.src, now) if index else None
        if index and care_of is None:
            return None, f"care-of nonce index {index} unknown or expired"
        if self._secure and (care_of is None or bu.bad is None):
            return None, "secure mode needs a care-of token"
        return care_of, None

    def _cga(
        self, bu: BindingUpdate, record: SecurityRecord | None, care_of: bytes | None, now: float
    ) -> Verdict:
        assert bu.cga_params is not None and bu.signature is not None
        coa, hoa = bu.endpoints()[0], bu.home_address
        try:
            public_key = cga_public_key(bu.cga_params)
        except ValueError as exc:
            return Refused(BaStatus.CGA_VERIFICATION_FAILED, str(exc))
        if record is not None and record.key_hash != key_hash(public_key):
            return Refused(BaStatus.CGA_VERIFICATION_FAILED, "not the key of the security record")
        refusal = key_refusal(public_key)
        if refusal is not None:
            return Refused(BaStatus.CGA_VERIFICATION_FAILED, refusal)
        if bu.bad is not None:
            key = kbm(ZERO_TOKEN, care_of, deregistration=bu.deregistration)
            if not check_authenticator(bu.bad, key, coa, self._address, bu.auth_data):
                return Dropped("bad-authenticator: the BAD of a CGA BU does not verify")
        spent = self._guard.admit(bu.src, now)
        if spent is not None:
            return Refused(BaStatus.INSUFFICIENT_RESOURCES, f"{spent} CGA budget spent")
        check = cga_check(hoa, bu.cga_params)
        if not check:
            return Refused(BaStatus.CGA_VERIFICATION_FAILED, check.reason)
        if not verify_mh_signature(public_key, coa, self._address, bu.signed_data, bu.signature):
            return Refused(BaStatus.CGA_VERIFICATION_FAILED, "RSA signature does not verify")
        return Authorised(record, care_of, new_phkt(self._rand), public_key)
