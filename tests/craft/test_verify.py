"""verify.py: every check passes on good packets and fails for the defect it targets."""

from __future__ import annotations

from pathlib import Path

import pytest
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.utils import rdpcap, wrpcap

from scapy_fama.craft import binding_ack, first_bu, phkt_bu
from scapy_fama.crypto import Cga, KeyPair, cga_generate
from scapy_fama.layers import BU, BindingAuthData, SignatureOpt
from scapy_fama.verify import verify_ba, verify_bu

DAR1 = "2001:db8:1::1"
PHKT = bytes.fromhex("0102030405060708")
MAC = "02:00:00:00:00:01"  # a destination MAC given, or Scapy would solicit one for the pcap


@pytest.fixture(scope="module")
def bu1(mn_key: KeyPair, cgas: tuple[Cga, Cga]) -> IPv6:
    hoa, coa = cgas
    return first_bu(coa.address, hoa.address, DAR1, seq=1, lifetime=600, keypair=mn_key, params=hoa.params)


def _flip(pkt: IPv6, offset_from_end: int) -> IPv6:
    raw = bytearray(bytes(pkt))
    raw[-offset_from_end] ^= 0x01
    return IPv6(bytes(raw))


def test_first_bu_verifies(bu1: IPv6) -> None:
    v = verify_bu(bu1)
    assert v and [c.name for c in v.checks] == ["framing", "checksum", "cga", "signature"]


def test_signature_byte_flipped(bu1: IPv6) -> None:
    v = verify_bu(_flip(bu1, 10))  # inside the signature (then 5 bytes of PadN)
    assert not v and not v["signature"].ok and not v["checksum"].ok and v["cga"].ok


def test_cga_of_someone_else(mn_key: KeyPair, cgas: tuple[Cga, Cga]) -> None:
    hoa, coa = cgas
    other = cga_generate("2001:db8:1::/64", KeyPair.generate(1024), sec=0)
    forged = first_bu(coa.address, hoa.address, DAR1, 1, 600, mn_key, other.params)
    v = verify_bu(forged)
    assert not v["cga"].ok and v["checksum"].ok


def test_signature_for_another_dar(bu1: IPv6) -> None:
    moved = bu1.copy()
    moved[IPv6].dst = "2001:db8:1::2"
    del moved[BU].cksum
    v = verify_bu(IPv6(bytes(moved)))
    assert v["checksum"].ok and v["cga"].ok and not v["signature"].ok


def test_phkt_bu(cgas: tuple[Cga, Cga]) -> None:
    hoa, coa = cgas
    pkt = phkt_bu(coa.address, hoa.address, DAR1, seq=2, lifetime=600, phkt=PHKT)
    assert verify_bu(pkt, phkt=PHKT)
    wrong = verify_bu(pkt, phkt=bytes(8))
    assert not wrong and not wrong["bad"].ok
    unknown = verify_bu(pkt)
    assert not unknown and unknown["bad"].ok is None and "PHKT not given" in unknown["bad"].detail


def test_phkt_bu_with_care_of_token(cgas: tuple[Cga, Cga]) -> None:
    hoa, coa = cgas
    tok = b"\x42" * 8
    pkt = phkt_bu(coa.address, hoa.address, DAR1, 3, 600, PHKT, care_of_token=tok, coni=9)
    assert verify_bu(pkt, phkt=PHKT, care_of_token=tok)
    assert not verify_bu(pkt, phkt=PHKT)


def test_the_bad_detail_names_the_key_it_was_checked_with(cgas: tuple[Cga, Cga]) -> None:
    """Without a care-of token Kbm is SHA1(PHKT | 8 zero bytes) (RFC 4866 §4.1): the detail said
    "care-of token" all the same, one the user had not given."""
    hoa, coa = cgas
    plain = phkt_bu(coa.address, hoa.address, DAR1, 2, 600, PHKT)
    secure = phkt_bu(coa.address, hoa.address, DAR1, 3, 600, PHKT, care_of_token=b"\x42" * 8)
    home = phkt_bu(hoa.address, hoa.address, DAR1, 4, 0, PHKT)
    assert "Kbm=SHA1(home token|8 zero bytes) over" in verify_bu(plain, phkt=PHKT)["bad"].detail
    assert "Kbm=SHA1(home token|care-of token) over" in verify_bu(secure, phkt=PHKT, care_of_token=b"\x42" * 8)["bad"].detail
    assert "Kbm=SHA1(token) over" in verify_bu(home, phkt=PHKT)["bad"].detail


def test_deregistration_both_forms(cgas: tuple[Cga, Cga]) -> None:
    hoa, coa = cgas
    home = phkt_bu(hoa.address, hoa.address, DAR1, 4, 0, PHKT)
    away = phkt_bu(coa.address, hoa.address, DAR1, 5, 0, PHKT)
    assert verify_bu(home, phkt=PHKT) and verify_bu(away, phkt=PHKT)


def test_bu_without_authorisation(cgas: tuple[Cga, Cga]) -> None:
    hoa, coa = cgas
    pkt = phkt_bu(coa.address, hoa.address, DAR1, 2, 600, PHKT)
    del pkt[BU].options[-2:]
    del pkt[BU].len, pkt[BU].cksum, pkt[IPv6].plen
    v = verify_bu(IPv6(bytes(pkt)))
    assert not v and not v["auth"].ok and v["checksum"].ok


def test_bad_not_last_is_a_framing_error(cgas: tuple[Cga, Cga]) -> None:
    hoa, coa = cgas
    pkt = phkt_bu(coa.address, hoa.address, DAR1, 2, 600, PHKT)
    pkt[BU].options = [pkt[BindingAuthData], *pkt[BU].options[:-1]]
    del pkt[BU].len, pkt[BU].cksum, pkt[IPv6].plen
    assert "BAD option is not last" in verify_bu(IPv6(bytes(pkt)))["framing"].detail


def test_signature_not_after_cga_parameters(bu1: IPv6) -> None:
    pkt = bu1.copy()
    sig = pkt[SignatureOpt]
    pkt[BU].options = [BindingAuthData(), *[o for o in pkt[BU].options if o is not sig], sig]
    del pkt[BU].len, pkt[BU].cksum, pkt[IPv6].plen
    assert "does not directly follow" in verify_bu(IPv6(bytes(pkt)))["framing"].detail


def test_ba_with_phkt_decrypted(mn_key: KeyPair, bu1: IPv6) -> None:
    ba = binding_ack(bu1, 0, 600, phkt=PHKT, mn_public_key=mn_key.public_der)
    assert verify_ba(ba, mn_keypair=mn_key, bu=bu1)
    held = verify_ba(ba, phkt=PHKT)  # BAD checks with a known PHKT, the option stays unchecked
    assert held["bad"].ok and held["phkt"].ok is None and not held
    nokey = verify_ba(ba)
    assert not nokey and nokey["phkt"].ok is None
    assert not verify_ba(ba, mn_keypair=KeyPair.generate(1024))["phkt"].ok


def test_ba_signed_by_dar(mn_key: KeyPair, dar_key: KeyPair, cgas: tuple[Cga, Cga]) -> None:
    hoa, coa = cgas
    dar_cga = cga_generate("2001:db8:1::/64", dar_key, sec=0)
    req = first_bu(coa.address, hoa.address, dar_cga.address, 1, 600, mn_key, hoa.params, cga_request=True)
    ba = binding_ack(req, 0, 600, phkt=PHKT, mn_public_key=mn_key.public_der,
                     dar_keypair=dar_key, dar_params=dar_cga.params)
    v = verify_ba(ba, mn_keypair=mn_key)
    assert v and v["cga"].ok and v["signature"].ok


def test_verdicts_survive_a_pcap_with_ethernet(tmp_path: Path, mn_key: KeyPair, bu1: IPv6, cgas: tuple[Cga, Cga]) -> None:
    hoa, coa = cgas
    ba = binding_ack(bu1, 0, 600, phkt=PHKT, mn_public_key=mn_key.public_der)
    bu2 = phkt_bu(coa.address, hoa.address, DAR1, 2, 600, PHKT)
    path = tmp_path / "x.pcap"
    wrpcap(str(path), [Ether(dst=MAC) / p for p in (bu1, ba, bu2)])
    a, b, c = rdpcap(str(path))
    assert verify_bu(a) and verify_ba(b, mn_keypair=mn_key, bu=a) and verify_bu(c, phkt=PHKT)


def test_not_a_bu() -> None:
    v = verify_bu(IPv6())
    assert not v and "no Binding Update" in v["framing"].detail
    assert "VERIFIED" in str(v) and v.as_dict()["ok"] is False
