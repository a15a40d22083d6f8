"""scapy_fama.crypto.tokens against the vector of mipv6-signalling.md §9 and the hmac module."""

import hashlib
import hmac
import socket

import pytest

from scapy_fama.crypto import ZERO_TOKEN, bad_authenticator, check_authenticator, kbm, keygen_token

PHKT = bytes.fromhex("0102030405060708")
COA, CN, HOA = "2001:db8:2::100", "2001:db8:1::1", "2001:db8:1::100"
# The BU of mipv6-signalling.md §9: checksum zeroed, up to and including the BAD type and length.
BU_MH = bytes.fromhex("3b030500" "0000" "0008" "c000" "0064" "0404" "0000" "0000" "050c")


def _pton(a: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6, a)


def test_kbm_vector() -> None:
    expected = "3728f3efc260dcc9ae1f2752985890c8f4485720"
    assert kbm(PHKT).hex() == expected
    assert kbm(PHKT, ZERO_TOKEN).hex() == expected
    assert ZERO_TOKEN == bytes(8)


def test_kbm_formulas() -> None:
    care_of = bytes.fromhex("a1a2a3a4a5a6a7a8")
    assert kbm(PHKT, care_of) == hashlib.sha1(PHKT + care_of).digest()
    assert kbm(PHKT, deregistration=True) == hashlib.sha1(PHKT).digest()
    assert kbm(PHKT, care_of, deregistration=True) == hashlib.sha1(PHKT).digest()


@pytest.mark.parametrize(
    ("home", "care_of"), [(PHKT[:7], None), (PHKT, PHKT + b"\x00"), (b"", ZERO_TOKEN)]
)
def test_kbm_rejects_token_lengths(home: bytes, care_of: bytes | None) -> None:
    with pytest.raises(ValueError, match="8 bytes"):
        kbm(home, care_of)


def test_bad_vector() -> None:
    key = bytes.fromhex("3728f3efc260dcc9ae1f2752985890c8f4485720")
    authenticator = bad_authenticator(key, COA, CN, BU_MH)
    assert authenticator.hex() == "22661804a2bb5b7bd9f7499b"
    assert check_authenticator(authenticator, key, COA, CN, BU_MH)
    assert check_authenticator(authenticator, key, _pton(COA), _pton(CN), bytearray(BU_MH))


def test_bad_is_first96_of_hmac_sha1() -> None:
    key = hashlib.sha1(b"homekey1carekey1").digest()
    expected = hmac.new(key, _pton(HOA) + _pton(CN) + BU_MH, hashlib.sha1).digest()[:12]
    assert bad_authenticator(key, HOA, CN, BU_MH) == expected


def test_check_authenticator_rejects() -> None:
    key = kbm(PHKT)
    good = bad_authenticator(key, COA, CN, BU_MH)
    flipped = bytes([good[0] ^ 1]) + good[1:]
    for bad in (flipped, good[:-1], good + b"\x00", b""):
        assert not check_authenticator(bad, key, COA, CN, BU_MH)
    assert not check_authenticator(good, key, HOA, CN, BU_MH)
    assert not check_authenticator(good, kbm(PHKT, deregistration=True), COA, CN, BU_MH)


def test_keygen_tokens() -> None:
    kcn = bytes(range(20))
    nonce = bytes.fromhex("f0f1f2f3f4f5f6f7")
    home = hmac.new(kcn, _pton(HOA) + nonce + b"\x00", hashlib.sha1).digest()[:8]
    care_of = hmac.new(kcn, _pton(COA) + nonce + b"\x01", hashlib.sha1).digest()[:8]
    assert keygen_token(kcn, HOA, nonce, care_of=False) == home
    assert keygen_token(kcn, _pton(COA), nonce, care_of=True) == care_of
    assert keygen_token(kcn, HOA, nonce, care_of=True) != home
