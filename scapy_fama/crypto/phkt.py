"""The Permanent Home Keygen Token (RFC 4866 §4.7-4.9, §5.3).

Theory of operation: after a CGA-signed Binding Update verifies, the
correspondent (in FAMA the anchoring DAR) draws 64 random bits, keeps them in
the binding cache entry and sends them in the Binding Acknowledgement,
encrypted to the mobile node's CGA public key with RSAES-PKCS1-v1_5 (the
ciphertext is as long as the modulus). Both ends then use the PHKT as the
home keygen token for Kbm (see ``tokens.kbm``).

Decryption with the wrong key does not always fail here: OpenSSL's implicit
rejection (the Marvin-attack defence) turns a padding failure into a
pseudo-random plaintext of pseudo-random length. Such a plaintext is rejected
when it is not 8 bytes long; when it happens to be 8 bytes, the wrong token
shows up as a Binding Authorization Data mismatch, which is the protocol's
real check of the PHKT.
"""

import secrets
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric import padding

from scapy_fama.crypto.keys import KeyPair, public_key_from_der

PHKT_LEN = 8  # RFC 4866 §4.7: 64 bits


class PhktError(ValueError):
    """A PHKT ciphertext that does not decrypt to an 8-byte token."""


def new_phkt(rand: Callable[[int], bytes] = secrets.token_bytes) -> bytes:
    """Draw a fresh 64-bit token (RFC 4866 §4.7); ``rand(n)`` returns n random bytes."""
    token = rand(PHKT_LEN)
    if len(token) != PHKT_LEN:
        raise ValueError(f"rand({PHKT_LEN}) returned {len(token)} bytes")
    return token


def encrypt_phkt(public_der: bytes, phkt: bytes) -> bytes:
    """RSAES-PKCS1-v1_5-encrypt the token to the MN's key (RFC 4866 §5.3; RFC 3447 §7.2.1)."""
    if len(phkt) != PHKT_LEN:
        raise ValueError(f"a PHKT is {PHKT_LEN} bytes, got {len(phkt)}")
    return public_key_from_der(public_der).encrypt(bytes(phkt), padding.PKCS1v15())


def decrypt_phkt(keypair: KeyPair, ciphertext: bytes) -> bytes:
    """Recover the token from a PHKT option (RFC 4866 §4.8); PhktError if it is not one."""
    try:
        token = keypair.decrypt(bytes(ciphertext))
    except ValueError as exc:
        raise PhktError(f"PHKT does not decrypt with this RSA-{keypair.bits} key: {exc}") from None
    if len(token) != PHKT_LEN:
        raise PhktError(
            f"PHKT decrypts to {len(token)} bytes, not {PHKT_LEN}: wrong key or not a PHKT"
        )
    return token
