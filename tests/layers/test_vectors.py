"""Byte layouts computed by hand from the spec (mipv6-signalling.md §3-§5, §9)."""

from __future__ import annotations

import hashlib
import hmac
import socket

from scapy.layers.inet6 import HAO, IPv6, IPv6ExtHdrDestOpt, in6_chksum

from scapy_fama.craft import phkt_bu
from scapy_fama.layers import BA, BE, BU, RH2, BindingAuthData, NonceIndices, checksum_ok

HOA, HA, COA = "2001:db8:1::100", "2001:db8:1::1", "2001:db8:2::100"
HOA_BYTES = socket.inet_pton(socket.AF_INET6, HOA)


def _bu(**kw: object) -> IPv6:
    return IPv6(src=COA, dst=HA) / IPv6ExtHdrDestOpt(options=[HAO(hoa=HOA)]) / BU(**kw)


def test_bu_bytes_match_spec_vector() -> None:
    # mipv6-signalling.md §9: DestOpt 87020102 0000c910 <HoA>, MH 3b010500 a184 0007 c000 0064 01020000
    raw = bytes(_bu(seq=7, mhtime=100))
    assert raw[40:64] == bytes.fromhex("870201020000c910") + HOA_BYTES
    assert raw[64:] == bytes.fromhex("3b010500a1840007c000006401020000")


def test_ba_bytes_match_spec_vector() -> None:
    # §9: RH 87020201 00000000 <HoA>, MH 3b010600 6085 0000 0007 0064 01020000
    raw = bytes(IPv6(src=HA, dst=COA) / RH2(addresses=[HOA]) / BA(status=0, seq=7, mhtime=100))
    assert raw[40:64] == bytes.fromhex("8702020100000000") + HOA_BYTES
    assert raw[64:] == bytes.fromhex("3b01060060850000000700640102" + "0000")


def test_phkt_bu_matches_self_computed_bad_vector() -> None:
    # §9: PHKT 0102030405060708, zero care-of token, seq 8, A|H, lifetime 100 units, NI(0,0) + BAD
    pkt = phkt_bu(COA, HOA, HA, seq=8, lifetime=400, phkt=bytes.fromhex("0102030405060708"))
    mh = bytes(pkt)[64:]
    assert mh == bytes.fromhex("3b0305003d2f0008c0000064040400000000050c22661804a2bb5b7bd9f7499b")


def test_bad_vector_recomputed_with_hmac_alone() -> None:
    kbm = hashlib.sha1(bytes.fromhex("0102030405060708") + bytes(8)).digest()
    assert kbm.hex() == "3728f3efc260dcc9ae1f2752985890c8f4485720"
    covered = bytes.fromhex("3b0305000000" "0008c0000064" "040400000000" "050c")
    data = socket.inet_pton(socket.AF_INET6, COA) + socket.inet_pton(socket.AF_INET6, HA) + covered
    auth = hmac.new(kbm, data, hashlib.sha1).digest()[:12]
    built = IPv6(bytes(phkt_bu(COA, HOA, HA, seq=8, lifetime=400, phkt=bytes.fromhex("0102030405060708"))))
    assert bytes(built[BindingAuthData].authenticator) == auth


def test_dissected_bu_checksum_uses_hao_after_padn() -> None:
    # Scapy 2.8's own pseudo-header ignores a HAO that follows a PadN: 0xa183 instead of 0xa184.
    dissected = IPv6(bytes(_bu(seq=7, mhtime=100)))
    assert [type(o).__name__ for o in dissected[IPv6ExtHdrDestOpt].options] == ["PadN", "HAO"]
    assert checksum_ok(dissected[BU])
    assert in6_chksum(135, dissected[BU].underlayer, bytes(dissected[BU])[:4] + b"\0\0" + bytes(dissected[BU])[6:]) == 0xA183
    del dissected[BU].cksum
    assert IPv6(bytes(dissected))[BU].cksum == 0xA184


def test_defaults_fixed() -> None:
    assert not BU().flags.K and BU().flags.A and BU().flags.H
    assert not BA().flags.K
    assert bytes(NonceIndices())[:2] == b"\x04\x04"  # RFC 6275 §6.2.6: length 4
    assert bytes(BindingAuthData())[:2] == b"\x05\x0c"  # §6.2.7: 12-byte authenticator
    assert len(bytes(BindingAuthData())) == 14
    assert BE().status == 1 and BE().hoa == "::"


def test_ba_status_names() -> None:
    names = BA().get_field("status").i2s
    assert names[147] == "Permanent home keygen token unavailable"
    assert names[148] == "CGA and signature verification failed"
    assert names[149] == "Permanent home keygen token exists"
    assert names[150] == "Non-null home nonce index expected"
    assert names[174] == "Invalid Care-of Address"


def test_bad_is_aligned_8n_plus_2_and_last() -> None:
    raw = bytes(_bu(seq=1, options=[NonceIndices(), BindingAuthData()]))[64:]
    # NI at 12 (2n, no pad), BAD at 18 = 8*2+2, MH ends at 32 with no trailing pad (§4)
    assert raw[12:14] == b"\x04\x04" and raw[18:20] == b"\x05\x0c" and len(raw) == 32


def test_binding_error_layout() -> None:
    raw = bytes(IPv6(src=HA, dst=COA) / BE(status=2, hoa=HOA))[40:]
    assert raw[:4] == bytes.fromhex("3b020700") and raw[6:8] == b"\x02\x00" and raw[8:24] == HOA_BYTES
