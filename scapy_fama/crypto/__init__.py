"""Cryptography of FAMA signalling: pure functions over bytes.

- ``addr``: IPv6 addresses and /64 prefixes as bytes.
- ``keys``: RSA key pairs (1024/1536 bits), DER SubjectPublicKeyInfo helpers.
- ``cga``: CGA generation, modifier reuse, collisions, verification (RFC 3972, 4581, 4982).
- ``signature``: CGA signatures over Mobility Headers (RFC 4866 §4.5).
- ``phkt``: the Permanent Home Keygen Token (RFC 4866 §4.7-4.9).
- ``tokens``: keygen tokens, Kbm, Binding Authorization Data (RFC 6275 §5.2.5, §6.2.7).
- ``files``: input files read with a bound (a key file here; the layers above read theirs with it).

Only ``cryptography``, ``hashlib`` and ``hmac`` do the cryptography; nothing
here imports Scapy.
"""

from scapy_fama.crypto.addr import addr_bytes, addr_text, prefix64
from scapy_fama.crypto.cga import (
    Cga,
    CgaCancelled,
    CgaParams,
    CgaResult,
    CgaStep,
    address_sec,
    cga_check,
    cga_generate,
    cga_public_key,
    cga_verify,
    cga_with_prefix,
    ext_fields,
    hash1,
    hash2,
    next_collision,
)
from scapy_fama.crypto.keys import KeyPair, public_der, public_key_from_der, rsa_shape, spki_info, spki_length
from scapy_fama.crypto.phkt import PhktError, decrypt_phkt, encrypt_phkt, new_phkt
from scapy_fama.crypto.signature import (
    CGA_TAG_RFC4866,
    sign_mh,
    signed_message,
    verify_mh_signature,
)
from scapy_fama.crypto.tokens import (
    ZERO_TOKEN,
    bad_authenticator,
    check_authenticator,
    kbm,
    keygen_token,
)

__all__ = [
    "CGA_TAG_RFC4866",
    "Cga",
    "CgaCancelled",
    "CgaParams",
    "CgaResult",
    "CgaStep",
    "KeyPair",
    "PhktError",
    "ZERO_TOKEN",
    "addr_bytes",
    "addr_text",
    "address_sec",
    "bad_authenticator",
    "cga_check",
    "cga_generate",
    "cga_public_key",
    "cga_verify",
    "cga_with_prefix",
    "check_authenticator",
    "decrypt_phkt",
    "encrypt_phkt",
    "ext_fields",
    "hash1",
    "hash2",
    "kbm",
    "keygen_token",
    "new_phkt",
    "next_collision",
    "prefix64",
    "public_der",
    "public_key_from_der",
    "rsa_shape",
    "sign_mh",
    "signed_message",
    "spki_info",
    "spki_length",
    "verify_mh_signature",
]
