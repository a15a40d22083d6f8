"""scapy_fama.crypto.keys, checked with raw RSA arithmetic and ``cryptography`` directly."""

import hashlib
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from hypothesis import given
from hypothesis import strategies as st

from scapy_fama.crypto import KeyPair, public_key_from_der, spki_info, spki_length

# RFC 3972 Appendix A: a 512-bit RSA SubjectPublicKeyInfo (94 bytes).
APPENDIX_A_PK = bytes.fromhex(
    "305c300d06092a864886f70d0101010500034b003048024100c2c2f137305454f10bd9cea36844b530"
    "e9211a4b262b16467cb7dfba1f595c0194f275be5a4d386f2c3c2382508773c7867f9b3b9e63a09c"
    "7bc48f7a54ebefaf0203010001"
)
SHA1_DIGEST_INFO = bytes.fromhex("3021300906052b0e03021a05000414")  # RFC 3447 §9.2 note 1


def _der(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_generate_refuses_2048_with_the_reason() -> None:
    with pytest.raises(ValueError) as info:
        KeyPair.generate(2048)
    message = str(info.value)
    assert "\n" not in message
    assert "256-byte" in message and "255-byte mobility option" in message and "RFC 4866" in message


@pytest.mark.parametrize("bits", [3072, 4096])
def test_generate_refuses_every_size_that_does_not_fit(bits: int) -> None:
    with pytest.raises(ValueError, match="does not fit a 255-byte"):
        KeyPair.generate(bits)


@pytest.mark.parametrize("bits", [512, 768, 2040, 0])
def test_generate_names_the_supported_sizes(bits: int) -> None:
    with pytest.raises(ValueError, match="supported sizes are 1024 and 1536"):
        KeyPair.generate(bits)


def test_generate_1024() -> None:
    kp = KeyPair.generate()
    assert kp.bits == 1024
    assert len(kp.public_der) == 162  # cga-and-rfc4866.md §1 table
    assert serialization.load_der_public_key(kp.public_der).public_numbers().e == 65537


def test_a_2048_bit_key_is_refused_when_wrapped() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        KeyPair(rsa.generate_private_key(65537, 2048))


def test_public_der_is_the_spki_of_the_private_key(
    rsa1536: rsa.RSAPrivateKey, kp1536: KeyPair
) -> None:
    assert kp1536.public_der == _der(rsa1536)
    assert kp1536.bits == 1536 and len(kp1536.public_der) == 226


def test_sign_is_pkcs1_v15_sha1_by_raw_arithmetic(
    rsa1024: rsa.RSAPrivateKey, kp1024: KeyPair
) -> None:
    message = b"tag|coa|cn|mh"
    signature = kp1024.sign(message)
    assert len(signature) == 128
    numbers = rsa1024.public_key().public_numbers()
    em = pow(int.from_bytes(signature, "big"), numbers.e, numbers.n).to_bytes(128, "big")
    tail = b"\x00" + SHA1_DIGEST_INFO + hashlib.sha1(message).digest()
    assert em == b"\x00\x01" + b"\xff" * (128 - 3 - len(tail) + 1) + tail


def test_decrypt_reads_a_hand_padded_ciphertext(
    rsa1024: rsa.RSAPrivateKey, kp1024: KeyPair
) -> None:
    numbers = rsa1024.public_key().public_numbers()
    plaintext = b"8 bytes!"
    padding_string = bytes(range(1, 128 - 3 - len(plaintext) + 1))  # non-zero, RFC 3447 §7.2.1
    em = b"\x00\x02" + padding_string + b"\x00" + plaintext
    ciphertext = pow(int.from_bytes(em, "big"), numbers.e, numbers.n).to_bytes(128, "big")
    assert kp1024.decrypt(ciphertext) == plaintext


def test_save_load_round_trip(tmp_path: Path, kp1024: KeyPair) -> None:
    path = tmp_path / "mn.pem"
    path.write_bytes(b"old")
    path.chmod(0o644)
    kp1024.save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8, unencrypted
    loaded = KeyPair.load(path)
    assert loaded.public_der == kp1024.public_der
    public = serialization.load_der_public_key(kp1024.public_der)
    public.verify(loaded.sign(b"m"), b"m", padding.PKCS1v15(), hashes.SHA1())


def test_load_refuses_garbage(tmp_path: Path) -> None:
    path = tmp_path / "junk.pem"
    path.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ValueError, match="junk.pem"):
        KeyPair.load(path)


def test_load_refuses_encrypted_and_non_rsa_keys(
    tmp_path: Path, rsa1024: rsa.RSAPrivateKey
) -> None:
    encrypted = tmp_path / "enc.pem"
    encrypted.write_bytes(
        rsa1024.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pw"),
        )
    )
    with pytest.raises(ValueError, match="not an unencrypted PEM"):
        KeyPair.load(encrypted)
    ec_file = tmp_path / "ec.pem"
    ec_file.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(ValueError, match="must be RSA"):
        KeyPair.load(ec_file)


def test_public_key_from_der() -> None:
    key = public_key_from_der(APPENDIX_A_PK)
    assert key.key_size == 512
    assert key.public_numbers().n == int(APPENDIX_A_PK.hex()[-140:-10], 16)


@pytest.mark.parametrize(
    "bad",
    [b"", b"garbage", APPENDIX_A_PK[:-1], APPENDIX_A_PK + b"\x00",
     _der(ec.generate_private_key(ec.SECP256R1()))],
)
def test_public_key_from_der_refuses(bad: bytes) -> None:
    with pytest.raises(ValueError):
        public_key_from_der(bad)


def test_spki_info(kp1024: KeyPair) -> None:
    assert spki_info(APPENDIX_A_PK) == ("rsaEncryption", 512)
    assert spki_info(kp1024.public_der) == ("rsaEncryption", 1024)
    assert spki_info(_der(ec.generate_private_key(ec.SECP256R1()))) == ("id-ecPublicKey", 256)
    assert spki_info(_der(ed25519.Ed25519PrivateKey.generate()))[1] == 0
    with pytest.raises(ValueError):
        spki_info(b"\x30\x03abc")


def test_spki_length_of_real_keys(kp1024: KeyPair, kp1536: KeyPair) -> None:
    for der in (APPENDIX_A_PK, kp1024.public_der, kp1536.public_der):
        assert spki_length(der) == len(der)
        assert spki_length(der + b"extension fields") == len(der)
        assert spki_length(der[:4]) == len(der)  # the header alone is enough


@pytest.mark.parametrize(
    ("header", "total"),
    [(b"\x30\x00", 2), (b"\x30\x7f", 129), (b"\x30\x81\x80", 131), (b"\x30\x82\x01\x26", 298),
     (b"\x30\x83\x01\x00\x00", 5 + 0x10000), (b"\x30\x84\x01\x00\x00\x00", 6 + 0x1000000)],
)
def test_spki_length_x690_forms(header: bytes, total: int) -> None:
    assert spki_length(header) == total


@pytest.mark.parametrize(
    "bad",
    [b"", b"\x30", b"\x31\x05", b"\x02\x01", b"\x30\x80", b"\x30\x81", b"\x30\x82\x01",
     b"\x30\x81\x05", b"\x30\x82\x00\x90", b"\x30\x85\x01\x00\x00\x00\x00"],
)
def test_spki_length_refuses(bad: bytes) -> None:
    assert spki_length(bad) is None


@given(st.binary(max_size=12))
def test_spki_length_never_raises(buf: bytes) -> None:
    n = spki_length(buf)
    assert n is None or n >= 2


@pytest.mark.parametrize("bits", ["1024", 1024.0, None, True])
def test_generate_says_what_a_size_is(bits: object) -> None:
    """KeyPair.generate("x") was "'>' not supported between instances of 'str' and 'int'"."""
    with pytest.raises(TypeError) as info:
        KeyPair.generate(bits)  # type: ignore[arg-type]
    assert str(info.value) == f"an RSA size is a whole number of bits (1024 or 1536), not {type(bits).__name__} {bits!r}"
