"""scapy_fama.crypto.signature against a message built by hand and ``cryptography`` directly."""

import hashlib
import socket

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from scapy_fama.crypto import CGA_TAG_RFC4866, KeyPair, sign_mh, signed_message, verify_mh_signature

TAG = bytes.fromhex("5f2705868d6c4c56a2469ebb9b2a2e13")  # cga-and-rfc4866.md §5, RFC 4866 §7
SEND_TAG = bytes.fromhex("086fca5e10b200c99c8ce00164277c08")
COA, CN = "2001:db8:2::100", "2001:db8:1::1"
MH = bytes.fromhex("3b1f0500000000080000000a0c0b") + b"\x00" * 11  # any MH prefix with checksum 0


def _pton(a: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6, a)


def _by_hand(tag: bytes = TAG, coa: str = COA, cn: str = CN, mh: bytes = MH) -> bytes:
    return tag + _pton(coa) + _pton(cn) + mh


def test_tag_constant() -> None:
    assert CGA_TAG_RFC4866 == TAG


def test_signed_message_layout() -> None:
    assert signed_message(COA, CN, MH) == _by_hand()
    assert signed_message(_pton(COA), _pton(CN), bytearray(MH)) == _by_hand()


def test_signature_verifies_with_cryptography(rsa1024: rsa.RSAPrivateKey, kp1024: KeyPair) -> None:
    signature = sign_mh(kp1024, COA, CN, MH)
    assert len(signature) == 128
    rsa1024.public_key().verify(signature, _by_hand(), padding.PKCS1v15(), hashes.SHA1())
    with pytest.raises(InvalidSignature):
        rsa1024.public_key().verify(
            signature, _by_hand(tag=SEND_TAG), padding.PKCS1v15(), hashes.SHA1()
        )


def test_signature_is_pkcs1_over_sha1_of_m(rsa1536: rsa.RSAPrivateKey, kp1536: KeyPair) -> None:
    signature = sign_mh(kp1536, COA, CN, MH)
    assert len(signature) == 192
    n = rsa1536.public_key().public_numbers()
    em = pow(int.from_bytes(signature, "big"), n.e, n.n).to_bytes(192, "big")
    digest_info = bytes.fromhex("3021300906052b0e03021a05000414")  # RFC 3447 §9.2 note 1
    assert em.endswith(digest_info + hashlib.sha1(_by_hand()).digest())


def test_verify_accepts_a_signature_made_by_cryptography(
    rsa1024: rsa.RSAPrivateKey, kp1024: KeyPair
) -> None:
    signature = rsa1024.sign(_by_hand(), padding.PKCS1v15(), hashes.SHA1())
    assert verify_mh_signature(kp1024.public_der, COA, CN, MH, signature)


@pytest.mark.parametrize(
    "message",
    [_by_hand(tag=SEND_TAG), _by_hand(coa="2001:db8:2::101"), _by_hand(cn="2001:db8:1::2"),
     _by_hand(mh=MH[:-1]), _by_hand(mh=MH + b"\x00")],
)
def test_verify_rejects_another_message(
    rsa1024: rsa.RSAPrivateKey, kp1024: KeyPair, message: bytes
) -> None:
    signature = rsa1024.sign(message, padding.PKCS1v15(), hashes.SHA1())
    assert not verify_mh_signature(kp1024.public_der, COA, CN, MH, signature)


def test_verify_never_raises_on_bad_keys_or_signatures(kp1024: KeyPair, kp1536: KeyPair) -> None:
    good = sign_mh(kp1024, COA, CN, MH)
    ec_der = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert verify_mh_signature(kp1024.public_der, COA, CN, MH, good)
    for key in (b"", b"garbage", kp1024.public_der[:-1], ec_der, kp1536.public_der):
        assert not verify_mh_signature(key, COA, CN, MH, good)
    for signature in (b"", good[:-1], good + b"\x00", bytes(128), b"\xff" * 128, good[::-1]):
        assert not verify_mh_signature(kp1024.public_der, COA, CN, MH, signature)
