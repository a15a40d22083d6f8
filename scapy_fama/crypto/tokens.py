"""Keygen tokens, Kbm and Binding Authorization Data (RFC 6275 §5.2.5, §6.2.7; RFC 4866 §4.1).

Theory of operation: a correspondent (in FAMA the DAR) authenticates a Binding
Update with a MAC keyed by Kbm, a hash of two 64-bit tokens::

    keygen token  = First64(HMAC-SHA1(Kcn, address | nonce | 0 for home, 1 for care-of))
    Kbm           = SHA1(home token | care-of token)        (de-registration: SHA1(home token))
    Authenticator = First96(HMAC-SHA1(Kbm, CoA | correspondent | MH data))

With RFC 4866 the home token is the PHKT; the care-of token is the one from a
Care-of Test, or 8 zero bytes for an early BU (RFC 4866 §4.1, profile §4).
MH data is the message with checksum zero up to and including the Binding
Authorization Data option's type and length bytes.
"""

import hashlib
import hmac

from scapy_fama.crypto.addr import addr_bytes

TOKEN_LEN = 8
ZERO_TOKEN = bytes(TOKEN_LEN)  # RFC 4866 §4.1: the care-of token of an early BU
AUTHENTICATOR_LEN = 12


def _check_token(name: str, token: bytes) -> None:
    if len(token) != TOKEN_LEN:
        raise ValueError(f"a {name} is {TOKEN_LEN} bytes, got {len(token)}")


def keygen_token(kcn: bytes, address: str | bytes, nonce: bytes, care_of: bool) -> bytes:
    """Home (care_of=False) or care-of keygen token (RFC 6275 §5.2.5)."""
    data = addr_bytes(address) + bytes(nonce) + (b"\x01" if care_of else b"\x00")
    return hmac.digest(bytes(kcn), data, "sha1")[:TOKEN_LEN]


def kbm(
    home_token: bytes, care_of_token: bytes | None = None, *, deregistration: bool = False
) -> bytes:
    """The binding management key (RFC 6275 §5.2.5).

    No care-of token means 8 zero bytes (early BU, RFC 4866 §4.1). A
    de-registration hashes the home token alone and ignores the care-of token.
    """
    _check_token("home token", home_token)
    if deregistration:
        return hashlib.sha1(bytes(home_token)).digest()
    care_of = ZERO_TOKEN if care_of_token is None else care_of_token
    _check_token("care-of token", care_of)
    return hashlib.sha1(bytes(home_token) + bytes(care_of)).digest()


def bad_authenticator(
    kbm_key: bytes, coa: str | bytes, correspondent: str | bytes, mh_data: bytes
) -> bytes:
    """The 96-bit Binding Authorization Data authenticator (RFC 6275 §6.2.7)."""
    data = addr_bytes(coa) + addr_bytes(correspondent) + bytes(mh_data)
    return hmac.digest(bytes(kbm_key), data, "sha1")[:AUTHENTICATOR_LEN]  # OpenSSL's one-shot HMAC


def check_authenticator(
    authenticator: bytes,
    kbm_key: bytes,
    coa: str | bytes,
    correspondent: str | bytes,
    mh_data: bytes,
) -> bool:
    """True iff ``authenticator`` is the one for this message, compared in constant time."""
    expected = bad_authenticator(kbm_key, coa, correspondent, mh_data)
    return hmac.compare_digest(expected, bytes(authenticator))
