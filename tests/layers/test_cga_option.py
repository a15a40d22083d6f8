"""CGA Parameters: the RFC 3972 structure and its split over type-12 options (RFC 4866 §5.1)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from scapy.layers.inet6 import IPv6, PadN

from scapy_fama.layers import BU, CGAExtension, CGAParams, CGAParamsOpt, SignatureOpt
from scapy_fama.verify import verify_bu


def _params(total: int, sendd_params: bytes) -> bytes:
    """sendd's RSA-1024 parameters padded to ``total`` bytes with one RFC 4581 extension."""
    ext_len = total - len(sendd_params) - 4
    return sendd_params + struct.pack("!HH", 0xFFFD, ext_len) + bytes(range(256)) * (ext_len // 256) + bytes(ext_len % 256)


@pytest.fixture(scope="module")
def sendd(shared_pcaps: Path) -> bytes:
    return (shared_pcaps / "cga" / "sendd_mn1.cga.params").read_bytes()


def _mh(options: bytes) -> bytes:
    """A BU MH around hand-laid option bytes, padded to 8 with PadN, checksum left 0."""
    body = bytes.fromhex("0001c0000019") + options
    pad = (-(len(body) + 6)) % 8
    if pad == 1:
        body += b"\x00"
    elif pad:
        body += bytes((1, pad - 2)) + bytes(pad - 2)
    return bytes((59, (len(body) + 6) // 8 - 1, 5, 0, 0, 0)) + body


def _dissect(mh: bytes) -> BU:
    return IPv6(bytes(IPv6(src="2001:db8:2::1", dst="2001:db8:1::1", nh=135, plen=len(mh))) + mh)[BU]


def test_params_file_dissects_into_fields(sendd: bytes) -> None:
    p = CGAParams(sendd)
    assert p.modifier == sendd[:16]
    assert p.prefix == "2003::" and p.cc == 0
    assert bytes(p.pubkey) == sendd[25:] and len(p.pubkey) == 162
    assert bytes(p) == sendd
    assert "rsaEncryption 1024 bits, SPKI 162 bytes" in p.show(dump=True)


def test_extension_fields_are_tlvs(sendd: bytes) -> None:
    blob = sendd + struct.pack("!HH", 0x0012, 3) + b"abc" + struct.pack("!HH", 0xFFFE, 0)
    p = CGAParams(blob)
    assert [(e.etype, e.edata) for e in p.ext] == [(0x0012, b"abc"), (0xFFFE, b"")]
    assert bytes(p) == blob


def test_long_block_splits_into_255_byte_pieces(sendd: bytes) -> None:
    blob = _params(600, sendd)
    raw = bytes(CGAParamsOpt(params=CGAParams(blob)))
    # hand layout: 0c ff <255> 0c ff <255> 0c 5a <90>
    assert raw[0:2] == b"\x0c\xff" and raw[257:259] == b"\x0c\xff" and raw[514:516] == b"\x0c\x5a"
    assert raw[2:257] + raw[259:514] + raw[516:] == blob and len(raw) == 606


def test_split_options_from_the_wire_join_into_one_structure(sendd: bytes) -> None:
    blob = _params(300, sendd)
    mh = _mh(b"\x0c\xff" + blob[:255] + b"\x0c\x2d" + blob[255:] + b"\x0d\x04abcd")
    bu = _dissect(mh)
    opt = bu.options[0]
    assert isinstance(opt, CGAParamsOpt) and opt.olens == [255, 45]
    assert bytes(opt.params) == blob and opt.params.cc == 0 and opt.params.ext[0].etype == 0xFFFD
    assert isinstance(bu.options[1], SignatureOpt) and bytes(bu.options[1].sig) == b"abcd"
    assert bytes(bu) == mh


def test_non_canonical_split_is_kept_and_flagged(sendd: bytes) -> None:
    blob = _params(300, sendd)
    mh = _mh(b"\x0c\x64" + blob[:100] + b"\x0c\xc8" + blob[100:])
    bu = _dissect(mh)
    assert len(bu.options) == 2 and bu.options[0].olens == [100, 200]
    assert bytes(bu) == mh  # rebuilds byte for byte
    framing = verify_bu(bu.underlayer)["framing"]
    assert not framing.ok and "every piece but the last must be 255" in framing.detail


def test_pieces_not_back_to_back_are_flagged(sendd: bytes) -> None:
    blob = _params(300, sendd)
    mh = _mh(b"\x0c\xff" + blob[:255] + b"\x01\x00" + b"\x0c\x2d" + blob[255:] + b"\x0d\x00")
    bu = _dissect(mh)
    kinds = [type(o) for o in bu.options[:4]]
    assert kinds == [CGAParamsOpt, PadN, CGAParamsOpt, SignatureOpt]
    assert "not back to back" in verify_bu(bu.underlayer)["framing"].detail


def test_short_block_stays_raw_and_rebuilds() -> None:
    mh = _mh(b"\x0c\x05hello")
    bu = _dissect(mh)
    assert bytes(bu.options[0].params) == b"hello" and bytes(bu) == mh


def test_extension_builds_length() -> None:
    assert bytes(CGAExtension(etype=0xFFFD, edata=b"xyz")) == b"\xff\xfd\x00\x03xyz"
