"""CGA signatures over Mobility Header messages (RFC 4866 §4.5, §5.2; RFC 3972 §6).

Theory of operation: the owner of a CGA proves it holds the key behind the
address by signing the message with RSASSA-PKCS1-v1_5/SHA-1 after a 128-bit
CGA Message Type tag that names the protocol (so a signature made for SEND
cannot be replayed as a mobility signature)::

    M   = tag 5F2705868D6C4C56A2469EBB9B2A2E13 | CoA (16) | correspondent (16)
          | MH from its first byte through the last CGA Parameters option,
            checksum zero, final Header Len
    sig = RSASSA-PKCS1-v1_5-SIGN(private key, M) with SHA-1

The verifier rebuilds M and checks with the public key taken from the CGA
Parameters; the CGA check of the address itself is ``cga.cga_check``.
"""

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from scapy_fama.crypto.addr import addr_bytes
from scapy_fama.crypto.keys import KeyPair, public_key_from_der

# RFC 4866 §7: the CGA Message Type tag of Enhanced Route Optimization.
CGA_TAG_RFC4866 = bytes.fromhex("5F2705868D6C4C56A2469EBB9B2A2E13")


def signed_message(coa: str | bytes, correspondent: str | bytes, mh_upto_last_cga: bytes) -> bytes:
    """The signed message M: tag | CoA | correspondent | MH bytes (RFC 4866 §4.5)."""
    return CGA_TAG_RFC4866 + addr_bytes(coa) + addr_bytes(correspondent) + bytes(mh_upto_last_cga)


def sign_mh(
    keypair: KeyPair, coa: str | bytes, correspondent: str | bytes, mh_upto_last_cga: bytes
) -> bytes:
    """The Signature option data (RFC 4866 §5.2): as long as the modulus."""
    return keypair.sign(signed_message(coa, correspondent, mh_upto_last_cga))


def verify_mh_signature(
    public_der: bytes,
    coa: str | bytes,
    correspondent: str | bytes,
    mh_upto_last_cga: bytes,
    signature: bytes,
) -> bool:
    """True iff ``signature`` is valid over M (RFC 3972 §6 verification, RFC 4866 §4.6).

    False, never an exception, for a malformed key or signature; a malformed
    address (the caller's own data) raises ValueError.
    """
    message = signed_message(coa, correspondent, mh_upto_last_cga)
    try:
        key = public_key_from_der(bytes(public_der))
        key.verify(bytes(signature), message, padding.PKCS1v15(), hashes.SHA1())
    except (ValueError, InvalidSignature):
        return False
    return True
