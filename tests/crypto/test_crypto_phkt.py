"""scapy_fama.crypto.phkt against ``cryptography`` directly and raw RSA arithmetic."""

import pytest
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from scapy_fama.crypto import KeyPair, PhktError, decrypt_phkt, encrypt_phkt, new_phkt

TOKEN = bytes.fromhex("0102030405060708")


def test_new_phkt() -> None:
    assert len(new_phkt()) == 8
    assert new_phkt() != new_phkt()
    assert new_phkt(lambda n: bytes(range(1, n + 1))) == TOKEN
    with pytest.raises(ValueError, match="returned 7 bytes"):
        new_phkt(lambda n: bytes(n - 1))


@pytest.mark.parametrize(("fixture", "size"), [("rsa1024", 128), ("rsa1536", 192)])
def test_encrypt_then_decrypt_with_cryptography(
    request: pytest.FixtureRequest, fixture: str, size: int
) -> None:
    key: rsa.RSAPrivateKey = request.getfixturevalue(fixture)
    kp = KeyPair(key)
    ciphertext = encrypt_phkt(kp.public_der, TOKEN)
    assert len(ciphertext) == size
    assert key.decrypt(ciphertext, padding.PKCS1v15()) == TOKEN
    assert decrypt_phkt(kp, ciphertext) == TOKEN
    assert encrypt_phkt(kp.public_der, TOKEN) != ciphertext  # PKCS#1 v1.5 padding is random


def test_ciphertext_is_pkcs1_v15_type_2(rsa1024: rsa.RSAPrivateKey, kp1024: KeyPair) -> None:
    numbers = rsa1024.private_numbers()
    ciphertext = int.from_bytes(encrypt_phkt(kp1024.public_der, TOKEN), "big")
    em_bytes = pow(ciphertext, numbers.d, numbers.public_numbers.n).to_bytes(128, "big")
    padding_string = em_bytes[2:-9]
    assert em_bytes[:2] == b"\x00\x02" and em_bytes[-9:] == b"\x00" + TOKEN
    assert len(padding_string) == 128 - 11 and 0 not in padding_string  # RFC 3447 §7.2.1


def test_decrypts_a_ciphertext_made_by_cryptography(
    rsa1536: rsa.RSAPrivateKey, kp1536: KeyPair
) -> None:
    ciphertext = rsa1536.public_key().encrypt(TOKEN, padding.PKCS1v15())
    assert decrypt_phkt(kp1536, ciphertext) == TOKEN


def test_wrong_key(kp1024: KeyPair, rsa1536: rsa.RSAPrivateKey) -> None:
    other = KeyPair(rsa.generate_private_key(65537, 1024))
    outcomes = []
    for _ in range(20):
        try:
            outcomes.append(decrypt_phkt(other, encrypt_phkt(kp1024.public_der, TOKEN)))
        except PhktError:
            outcomes.append(None)
    # OpenSSL's implicit rejection may yield a wrong 8-byte token (odds ~1/118); never the real one.
    assert TOKEN not in outcomes
    assert outcomes.count(None) >= 15
    with pytest.raises(PhktError, match="does not decrypt with this RSA-1536 key"):
        decrypt_phkt(KeyPair(rsa1536), encrypt_phkt(kp1024.public_der, TOKEN))  # 128 != 192 bytes


def test_a_plaintext_of_another_length_is_not_a_phkt(
    rsa1024: rsa.RSAPrivateKey, kp1024: KeyPair
) -> None:
    ciphertext = rsa1024.public_key().encrypt(TOKEN + b"\x09", padding.PKCS1v15())
    with pytest.raises(PhktError, match="decrypts to 9 bytes"):
        decrypt_phkt(kp1024, ciphertext)
    assert issubclass(PhktError, ValueError)


@pytest.mark.parametrize(
    ("der", "token"), [(b"junk", TOKEN), (None, TOKEN[:7]), (None, TOKEN + b"\x00")]
)
def test_encrypt_rejects(kp1024: KeyPair, der: bytes | None, token: bytes) -> None:
    with pytest.raises(ValueError):
        encrypt_phkt(der if der is not None else kp1024.public_der, token)
