"""craft.py against the profile (§4, §5) with independent crypto from `cryptography`/hmac."""

from __future__ import annotations

import hashlib
import hmac
import socket
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from scapy_fama.craft import binding_ack, coti, cot, first_bu, phkt_bu
from scapy_fama.proto.messages import lifetime_units
from scapy_fama.crypto import Cga, KeyPair
from scapy_fama.layers import BU
from scapy_fama.verify import verify_bu

DAR1, DAR2 = "2001:db8:1::1", "2001:db8:2::1"
TAG = bytes.fromhex("5F2705868D6C4C56A2469EBB9B2A2E13")
PHKT = bytes.fromhex("1122334455667788")


def n(a: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6, a)


def test_first_bu_layout_and_signature(mn_key: KeyPair, cgas: tuple[Cga, Cga]) -> None:
    hoa, coa = cgas
    raw = bytes(first_bu(coa.address, hoa.address, DAR1, seq=9, lifetime=400, keypair=mn_key, params=hoa.params))
    assert raw[6] == 60 and raw[8:24] == n(coa.address) and raw[24:40] == n(DAR1)
    assert raw[40] == 135 and raw[46:48] == b"\xc9\x10" and raw[48:64] == n(hoa.address)  # HAO at 8n+6
    mh = raw[64:]
    assert mh[2] == 5 and mh[6:8] == b"\x00\x09" and mh[8:10] == b"\xc0\x00" and mh[10:12] == b"\x00\x64"
    assert mh[12] == 12 and mh[13] == 187 and mh[14:201] == hoa.params  # CGA Parameters
    assert mh[201] == 13 and mh[202] == 128  # Signature right after
    assert len(mh) == (mh[1] + 1) * 8 == 336
    signed = TAG + n(coa.address) + n(DAR1) + mh[:4] + b"\0\0" + mh[6:201]
    pub = serialization.load_der_public_key(hoa.params[25:])
    pub.verify(mh[203:331], signed, padding.PKCS1v15(), hashes.SHA1())  # raises if wrong


def test_first_bu_with_cga_request_and_secure_mode(mn_key: KeyPair, cgas: tuple[Cga, Cga]) -> None:
    hoa, coa = cgas
    token = bytes.fromhex("0a0b0c0d0e0f1011")
    mh = bytes(first_bu(coa.address, hoa.address, DAR1, 1, 100, mn_key, hoa.params,
                        cga_request=True, care_of_token=token, coni=7))[64:]
    assert mh[331:333] == b"\x0b\x00"  # CGA Parameters Request after the Signature
    assert mh[333] == 0 and mh[334:340] == b"\x04\x04\x00\x00\x00\x07"  # Pad1, Nonce Indices (0, 7) at 2n
    assert mh[340:346] == b"\x01\x04" + bytes(4)  # PadN so that the BAD starts at 8n+2
    bad = 346
    assert mh[bad : bad + 2] == b"\x05\x0c" and len(mh) == bad + 14
    kbm = hashlib.sha1(bytes(8) + token).digest()
    covered = mh[:4] + b"\0\0" + mh[6 : bad + 2]
    expect = hmac.new(kbm, n(coa.address) + n(DAR1) + covered, hashlib.sha1).digest()[:12]
    assert mh[bad + 2 :] == expect


def test_ba_with_encrypted_phkt(mn_key: KeyPair, cgas: tuple[Cga, Cga], tmp_path: Path) -> None:
    hoa, coa = cgas
    bu = first_bu(coa.address, hoa.address, DAR1, seq=9, lifetime=400, keypair=mn_key, params=hoa.params)
    raw = bytes(binding_ack(bu, status=0, lifetime=400, phkt=PHKT, mn_public_key=mn_key.public_der))
    assert raw[8:24] == n(DAR1) and raw[24:40] == n(coa.address) and raw[6] == 43
    assert raw[40:48] == bytes.fromhex("8702020100000000") and raw[48:64] == n(hoa.address)
    mh = raw[64:]
    assert mh[2] == 6 and mh[6] == 0 and mh[8:10] == b"\x00\x09" and mh[10:12] == b"\x00\x64"
    assert mh[12] == 14 and mh[13] == 128
    mn_key.save(tmp_path / "mn.pem")
    priv = serialization.load_pem_private_key((tmp_path / "mn.pem").read_bytes(), None)
    assert priv.decrypt(mh[14:142], padding.PKCS1v15()) == PHKT
    assert mh[142:146] == b"\x01\x02\x00\x00" and mh[146:148] == b"\x05\x0c" and len(mh) == 160
    kbm = hashlib.sha1(PHKT + bytes(8)).digest()
    covered = mh[:4] + b"\0\0" + mh[6:148]
    assert mh[148:] == hmac.new(kbm, n(coa.address) + n(DAR1) + covered, hashlib.sha1).digest()[:12]


def test_ba_error_status_and_seq_override(mn_key: KeyPair, cgas: tuple[Cga, Cga]) -> None:
    hoa, coa = cgas
    bu = phkt_bu(coa.address, hoa.address, DAR1, seq=5, lifetime=100, phkt=PHKT)
    mh = bytes(binding_ack(bu, status=135, lifetime=100, seq=40))[64:]
    assert mh[6] == 135 and mh[8:10] == b"\x00\x28" and mh[10:12] == b"\x00\x00"
    assert len(mh) == 16  # no PHKT known: no BAD (profile §6 step 7)


def test_deregistration_from_home_has_no_hao(cgas: tuple[Cga, Cga]) -> None:
    hoa, _ = cgas
    raw = bytes(phkt_bu(hoa.address, hoa.address, DAR1, seq=6, lifetime=0, phkt=PHKT))
    assert raw[6] == 135 and raw[8:24] == n(hoa.address)
    mh = raw[40:]
    assert mh[10:12] == b"\x00\x00"
    kbm = hashlib.sha1(PHKT).digest()  # RFC 6275 §5.2.6: delete uses the home token alone
    covered = mh[:4] + b"\0\0" + mh[6:20]
    assert mh[20:] == hmac.new(kbm, n(hoa.address) + n(DAR1) + covered, hashlib.sha1).digest()[:12]


def test_deregistration_from_away_uses_hoa_in_authenticator(cgas: tuple[Cga, Cga]) -> None:
    hoa, coa = cgas
    raw = bytes(phkt_bu(coa.address, hoa.address, DAR1, seq=6, lifetime=0, phkt=PHKT))
    mh = raw[64:]
    kbm = hashlib.sha1(PHKT).digest()
    covered = mh[:4] + b"\0\0" + mh[6:20]
    assert mh[20:] == hmac.new(kbm, n(hoa.address) + n(DAR1) + covered, hashlib.sha1).digest()[:12]


def test_coti_and_cot_token() -> None:
    req = coti("2001:db8:2::7", DAR1, cookie=b"C" * 8)
    kcn, nonce = bytes(range(20)), b"N" * 8
    rep = bytes(cot(req, index=3, kcn=kcn, nonce=nonce))
    assert rep[8:24] == n(DAR1) and rep[24:40] == n("2001:db8:2::7")
    mh = rep[40:]
    assert mh[2] == 4 and mh[6:8] == b"\x00\x03" and mh[8:16] == b"C" * 8
    assert mh[16:24] == hmac.new(kcn, n("2001:db8:2::7") + nonce + b"\x01", hashlib.sha1).digest()[:8]


def test_bad_arguments_are_clear_errors(cgas: tuple[Cga, Cga]) -> None:
    with pytest.raises(ValueError, match="lifetime"):
        lifetime_units(-4)
    with pytest.raises(ValueError, match="Binding Update"):
        binding_ack(coti("2001:db8:2::7", DAR1), 0, 10)
    with pytest.raises(ValueError, match="kcn"):
        cot(coti("2001:db8:2::7", DAR1), 1)


def test_a_binding_ack_half_asked_for_is_refused(cgas: tuple[Cga, Cga], mn_key: KeyPair) -> None:
    """dar_keypair without dar_params (or the reverse) gave a BA without CGA Parameters or Signature,
    mn_public_key without a phkt one without a PHKT option: no word said the option was not there."""
    hoa, coa = cgas
    bu = first_bu(coa.address, hoa.address, DAR1, seq=9, lifetime=400, keypair=mn_key, params=hoa.params)
    with pytest.raises(ValueError, match="dar_keypair and dar_params go together"):
        binding_ack(bu, 0, 400, phkt=PHKT, mn_public_key=mn_key.public_der, dar_keypair=mn_key)
    with pytest.raises(ValueError, match="dar_keypair and dar_params go together"):
        binding_ack(bu, 0, 400, dar_params=hoa.params)
    with pytest.raises(ValueError, match="mn_public_key encrypts a phkt, and none was given"):
        binding_ack(bu, 0, 400, mn_public_key=mn_key.public_der)


def test_binding_ack_takes_the_mns_key_pair_as_first_bu_does_or_its_der(
    cgas: tuple[Cga, Cga], mn_key: KeyPair, tmp_path: Path
) -> None:
    """first_bu takes the MN's KeyPair: binding_ack does too, for the PHKT it encrypts, and still
    its public key as DER (bytes, or a bytearray); the PHKT option decrypts, with the MN's private
    key through `cryptography` alone, to the PHKT given. Anything else is one line, no traceback."""
    hoa, coa = cgas
    bu = first_bu(coa.address, hoa.address, DAR1, seq=9, lifetime=400, keypair=mn_key, params=hoa.params)
    mn_key.save(tmp_path / "mn.pem")
    private = serialization.load_pem_private_key((tmp_path / "mn.pem").read_bytes(), None)
    for key in (mn_key, mn_key.public_der, bytearray(mn_key.public_der), hoa.params[25:]):
        mh = bytes(binding_ack(bu, 0, 400, phkt=PHKT, mn_public_key=key))[64:]
        assert mh[12] == 14 and mh[13] == 128  # the Permanent Home Keygen Token option, RSA-1024
        assert private.decrypt(mh[14:142], padding.PKCS1v15()) == PHKT  # type: ignore[union-attr]
    with pytest.raises(TypeError, match="^a public key is a KeyPair or DER bytes, not str$"):
        binding_ack(bu, 0, 400, phkt=PHKT, mn_public_key="mn.pem")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="exactly one DER SubjectPublicKeyInfo"):
        binding_ack(bu, 0, 400, phkt=PHKT, mn_public_key=mn_key.public_der + b"\0")


def test_a_number_the_fields_cannot_carry_is_one_line_not_another_message(
    cgas: tuple[Cga, Cga], mn_key: KeyPair
) -> None:
    """A lifetime of 1-3 s is 0 in 4-second units, a de-registration, so a phkt_bu of lifetime 3
    was keyed as a registration and failed its own PHKT; BA status 300 was "bytes must be in
    range(0, 256)", seq 1.5 "unsupported operand type(s) for &", lifetime 60.5 "'float' object
    has no attribute 'to_bytes'". A seq is taken modulo 2**16 (RFC 6275 §9.5.1), as before."""
    hoa, coa = cgas
    bu = phkt_bu(coa.address, hoa.address, DAR1, 2, 600, PHKT)
    bad = {
        "lifetime 3 s is 0 in the field's 4-second units (RFC 6275 §6.1.7), a de-registration: "
        "give 0 for one, or 4 s or more": [
            lambda: first_bu(coa.address, hoa.address, DAR1, 1, 3, mn_key, hoa.params),
            lambda: phkt_bu(coa.address, hoa.address, DAR1, 2, 3, PHKT),
            lambda: binding_ack(bu, 0, 3),
        ],
        "lifetime must not be negative, got -4": [lambda: phkt_bu(coa.address, hoa.address, DAR1, 2, -4, PHKT)],
        "status is 8 bits, 0 to 255 (RFC 6275 §6.1.8), not 300": [lambda: binding_ack(bu, 300, 400)],
    }
    for message, calls in bad.items():
        for call in calls:
            with pytest.raises(ValueError) as refused:
                call()
            assert str(refused.value) == message
    wrong_type = {
        "seq is a whole number, not float 1.5": lambda: phkt_bu(coa.address, hoa.address, DAR1, 1.5, 400, PHKT),
        "lifetime is a whole number of seconds, not float 60.5": lambda: phkt_bu(coa.address, hoa.address, DAR1, 2,
                                                                                 60.5, PHKT),
        "status is a whole number, not str '0'": lambda: binding_ack(bu, "0", 400),
    }
    for message, call in wrong_type.items():
        with pytest.raises(TypeError) as refused:
            call()
        assert str(refused.value) == message
    edge = phkt_bu(coa.address, hoa.address, DAR1, 65536 + 7, 4, PHKT)  # seq wraps; the shortest lifetime
    assert bytes(edge[BU])[6:8] == b"\x00\x07" and bytes(edge[BU])[10:12] == b"\x00\x01"  # RFC 6275 §6.1.7
    assert verify_bu(edge, phkt=PHKT)


def test_first_bu_without_key_or_cga_parameters_is_one_error(mn_key: KeyPair, cgas: tuple[Cga, Cga]) -> None:
    """first_bu is the CGA-authorised BU (profile §4): keypair=None, params=None built a BU with
    neither CGA Parameters nor Signature without a word (a DAR answers it 148, profile §6 step 4),
    and params=the Cga itself failed deep in the encoder."""
    hoa, coa = cgas
    for keypair, params, given in [
        (None, None, "NoneType and NoneType"),
        (mn_key, None, "KeyPair and NoneType"),
        (None, hoa.params, "NoneType and bytes"),
        (mn_key, hoa, "KeyPair and Cga"),
    ]:
        with pytest.raises(TypeError) as refused:
            first_bu(coa.address, hoa.address, DAR1, 1, 600, keypair, params)  # type: ignore[arg-type]
        assert str(refused.value) == (
            "first_bu signs with the MN's key: keypair is its KeyPair and params its CGA Parameters "
            f"(bytes, e.g. cga.params), not {given}"
        )
