"""codec.py: messages survive the trip through Scapy bytes; the MH checks of profile §6 step 1."""

from __future__ import annotations

import hmac
import socket
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet6 import HAO, IPv6, IPv6ExtHdrDestOpt, MIP6OptBRAdvice
from scapy.packet import Packet
from scapy.utils import rdpcap

from scapy_fama.codec import decode, encode, encode_bytes
from scapy_fama.crypto import (
    Cga,
    KeyPair,
    check_authenticator,
    encrypt_phkt,
    kbm,
    verify_mh_signature,
)
from scapy_fama.proto.messages import (
    BindingAck,
    BindingError,
    BindingUpdate,
    CareOfTest,
    CareOfTestInit,
    Datagram,
    RouterAdvertisement,
    RouterSolicitation,
    Tunnelled,
    Undecodable,
    UnknownMobility,
)
from scapy_fama.layers import (
    BA,
    BU,
    RH2,
    BindingAuthData,
    CGAParams,
    CGAParamsOpt,
    CGAParamsRequest,
    NonceIndices,
    PHKTOpt,
    SignatureOpt,
)
from scapy_fama.proto.messages import lifetime_units
from scapy_fama.verify import verify_ba, verify_bu
from scapy_fama.wire import parse
from scapy_fama.wire.write import finish, mobility, sealed
from tests import layer_reader
from tests.corpus import build_corpus

DAR = "2001:db8:1::1"
PHKT = bytes.fromhex("0011223344556677")


@pytest.mark.parametrize(
    "msg",
    [
        RouterSolicitation("fe80::5"),
        RouterAdvertisement("fe80::1", "ff02::1", DAR, "2001:db8:1::/64", 86400, 14400, 1800),
        Datagram("2001:db8:9::9", "2001:db8:1::5", 4000, 5000, b"payload", 61),
        Datagram("2001:db8:2::5", "2001:db8:9::9", 4000, 5000, b"x", 64, hoa="2001:db8:1::5"),
        Tunnelled(DAR, "2001:db8:2::5", Datagram("2001:db8:9::9", "2001:db8:1::5", 1, 2, b"in", 63)),
        BindingError(DAR, "2001:db8:2::5", 1, "2001:db8:1::5"),
        BindingError(DAR, "2001:db8:2::5", 2),
        CareOfTestInit("2001:db8:2::5", DAR, b"cookie!!"),
        CareOfTest(DAR, "2001:db8:2::5", 7, b"cookie!!", b"tokentok"),
        UnknownMobility("2001:db8:2::5", DAR, 42),
    ],
    ids=lambda m: type(m).__name__,
)
def test_round_trip(msg: object) -> None:
    assert decode(bytes(encode(msg))) == msg


def test_first_bu_spans_let_the_core_verify(mn_key: KeyPair, cgas: tuple[Cga, Cga]) -> None:
    hoa, coa = cgas
    msg = BindingUpdate(coa.address, DAR, hoa.address, seq=3, lifetime=400, cga_params=hoa.params,
                        cga_request=True, sign_with=mn_key)
    pkt = encode(msg)
    assert verify_bu(pkt)  # the independent verifier agrees with the layout
    got = decode(bytes(pkt))
    assert isinstance(got, BindingUpdate) and got.framing == () and got.cga_request
    assert (got.seq, got.lifetime, got.hoa, got.ack, got.home) == (3, 400, hoa.address, True, True)
    assert got.cga_params == hoa.params and len(got.signed_data) == 12 + 2 + len(hoa.params)
    assert verify_mh_signature(hoa.params[25:], coa.address, DAR, got.signed_data, got.signature)


def test_ba_with_phkt_and_bad(mn_key: KeyPair, cgas: tuple[Cga, Cga]) -> None:
    hoa, coa = cgas
    key = kbm(PHKT)
    msg = BindingAck(DAR, coa.address, hoa.address, 0, 3, 400, encrypt_phkt(mn_key.public_der, PHKT), auth_key=key)
    pkt = encode(msg)
    assert verify_ba(pkt, mn_keypair=mn_key)
    got = decode(bytes(pkt))
    assert isinstance(got, BindingAck) and got.hoa == hoa.address and got.phkt_ciphertext == msg.phkt_ciphertext
    assert check_authenticator(got.bad, key, coa.address, DAR, got.auth_data)


def _ones_complement(data: bytes) -> int:
    """RFC 1071 by the letter: the one's complement of the one's complement sum of 16-bit words."""
    data += bytes(len(data) % 2)
    total = 0
    for i in range(0, len(data), 2):
        total += data[i] << 8 | data[i + 1]
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def test_a_first_bu_s_ba_is_the_rfcs_bytes(mn_key: KeyPair, cgas: tuple[Cga, Cga]) -> None:
    """A DAR's BA for a first BU (written in one pass, wire.sealed), byte for byte as RFC 6275
    §6.1.8, §6.2.7, §6.4 and RFC 4866 §5.3 lay it out, the BAD and checksum computed here with
    hmac and by RFC 1071's word loop."""
    hoa, coa = cgas
    key, ciphertext = kbm(PHKT), encrypt_phkt(mn_key.public_der, PHKT)
    raw = encode_bytes(BindingAck(DAR, coa.address, hoa.address, 0, 0x1234, 400, ciphertext, auth_key=key))
    a = {name: socket.inet_pton(socket.AF_INET6, x) for name, x in (("dar", DAR), ("coa", coa.address), ("hoa", hoa.address))}
    mh_len = 12 + 2 + 128 + 4 + 2 + 12  # fixed part, PHKT, PadN to 8n+2, BAD: 160 bytes
    head = bytes((0x60, 0, 0, 0)) + (24 + mh_len).to_bytes(2, "big") + bytes((43, 64)) + a["dar"] + a["coa"]
    rh2 = bytes((135, 2, 2, 1, 0, 0, 0, 0)) + a["hoa"]  # next header MH, Hdr Ext Len 2, type 2, Segments Left 1
    mh = bytes((59, mh_len // 8 - 1, 6, 0, 0, 0, 0, 0, 0x12, 0x34, 0, 100))  # status 0, seq, 400 s in 4 s units
    mh += bytes((14, 128)) + ciphertext + bytes((1, 2, 0, 0)) + bytes((5, 12))
    mh += hmac.digest(key, a["coa"] + a["dar"] + mh, "sha1")[:12]
    pseudo = a["dar"] + a["hoa"] + mh_len.to_bytes(4, "big") + bytes((0, 0, 0, 135))  # RFC 6275 §6.1.1: RH2's HoA
    mh = mh[:4] + _ones_complement(pseudo + mh).to_bytes(2, "big") + mh[6:]
    assert raw == head + rh2 + mh


@settings(max_examples=200, deadline=None)
@given(
    mhtype=st.sampled_from([5, 6]),
    fixed=st.binary(min_size=6, max_size=6),
    options=st.lists(st.tuples(st.sampled_from([0, 1, 2, 4, 5, 12, 13, 14, 42]), st.binary(max_size=40)), max_size=6),
    hoa=st.booleans(),
    key=st.one_of(st.none(), st.binary(min_size=20, max_size=20)),
)
def test_a_message_sealed_in_one_pass_is_the_finished_frame(
    mhtype: int, fixed: bytes, options: list[tuple[int, bytes]], hoa: bool, key: bytes | None
) -> None:
    """wire.sealed (no Signature to make) writes the bytes finish(mobility(...)) writes, whatever
    the options: a BAD of another size or a second BAD left as laid out, as finish leaves them."""
    where = {"hoa": "2001:db8:1::5"} if hoa and mhtype == 5 else {"rh2": "2001:db8:1::5"} if hoa else {}
    ends = {"coa": "2001:db8:2::5", "correspondent": DAR, "auth_key": key}
    frame = mobility("2001:db8:2::5", DAR, mhtype, fixed, options, **where)
    raw = sealed("2001:db8:2::5", DAR, mhtype, fixed, options, **where, **ends)
    assert raw == finish(frame, **ends)
    info = parse(raw)  # and the options sit where the frame says, as a receiver reads them
    assert info is not None and info.mh is not None and info.mh.malformed is None
    assert [o for o in info.mh.options if o[0] not in (0, 1)] == [o for o in frame.options if o[0] not in (0, 1)]


@pytest.mark.parametrize("pad1", [b"", b"ab"])
def test_a_pad1_option_is_one_byte_and_the_bad_after_it_is_keyed_where_it_is(pad1: bytes) -> None:
    """RFC 6275 §6.2.1: a Pad1 is one octet, whatever data it was given; the BAD after it goes to
    8n+2 (§6.2.7) and is keyed and checksummed where it lies, by hand: HMAC-SHA1 over CoA |
    correspondent | the MH up to the authenticator, RFC 1071's sum over the pseudo-header."""
    mn, fixed, key = "2001:db8:2::5", bytes((0, 7, 0xC0, 0, 0, 100)), bytes(range(20))
    frame = mobility(mn, DAR, 5, fixed, [(0, pad1), (5, bytes(12))])
    raw = finish(frame, coa=mn, correspondent=DAR, auth_key=key)
    assert sealed(mn, DAR, 5, fixed, [(0, pad1), (5, bytes(12))], coa=mn, correspondent=DAR, auth_key=key) == raw
    src, dst = socket.inet_pton(socket.AF_INET6, mn), socket.inet_pton(socket.AF_INET6, DAR)
    mh = bytes((59, 3, 5, 0, 0, 0)) + fixed + b"\0" + bytes((1, 3, 0, 0, 0)) + bytes((5, 12))  # Pad1, PadN 5, BAD
    mh += hmac.digest(key, src + dst + mh, "sha1")[:12]  # 32 bytes: Header Len 3
    pseudo = src + dst + len(mh).to_bytes(4, "big") + bytes((0, 0, 0, 135))
    mh = mh[:4] + _ones_complement(pseudo + mh).to_bytes(2, "big") + mh[6:]
    assert raw == bytes((0x60, 0, 0, 0, 0, 32, 135, 64)) + src + dst + mh


def test_deregistration_ba_authenticates_the_hoa(cgas: tuple[Cga, Cga]) -> None:
    hoa, coa = cgas
    bu = encode(BindingUpdate(coa.address, DAR, hoa.address, 9, 0, nonce_indices=(0, 0),
                              auth_key=kbm(PHKT, deregistration=True)))
    assert verify_bu(bu, phkt=PHKT)
    ba = encode(BindingAck(DAR, coa.address, hoa.address, 0, 9, 0, auth_key=kbm(PHKT, deregistration=True),
                           for_deregistration=True))
    assert verify_ba(ba, phkt=PHKT, bu=bu)


def test_mh_checks_give_undecodable(cgas: tuple[Cga, Cga]) -> None:
    hoa, coa = cgas
    raw = bytearray(bytes(encode(BindingUpdate(coa.address, DAR, hoa.address, 1, 100, nonce_indices=(0, 0),
                                              auth_key=bytes(20)))))
    bad_sum = bytes(raw[:68]) + bytes([raw[68] ^ 0xFF]) + bytes(raw[69:])
    assert "checksum" in decode(bad_sum).reason
    proto = bytearray(raw)
    proto[64] = 6
    assert "Payload Proto" in decode(bytes(proto)).reason
    short = bytearray(raw)
    short[65] = 0
    assert isinstance(decode(bytes(short)), Undecodable)


def test_third_party_captures_decode(shared_pcaps: Path) -> None:
    kinds: dict[str, int] = {}
    for path in sorted(shared_pcaps.glob("*.pcap")):
        for pkt in rdpcap(str(path)):
            name = type(decode(pkt)).__name__
            kinds[name] = kinds.get(name, 0) + 1
    # ns-3 and tcpdump BUs/BAs have checksum 0, OAI's PBUs are good but proxy registrations
    assert kinds.get("Undecodable", 0) > 0 and kinds.get("BindingUpdate", 0) > 0


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_raise(data: bytes) -> None:
    decode(bytes.fromhex("60000000") + len(data).to_bytes(2, "big") + b"\x87\x40" + bytes(32) + data)
    decode(data)


def _agrees_with_layers(raw: bytes) -> bool:
    """The byte reader and a full Scapy dissection (tests/layer_reader.py) read the same message."""
    theirs = layer_reader.read(raw)
    ours = decode(raw)
    if theirs is None:
        assert not isinstance(ours, (BindingUpdate, BindingAck)), (ours, IPv6(raw).summary())
        return False
    assert ours == theirs, (ours, theirs)
    return isinstance(ours, BindingUpdate)


def test_reader_equals_layers_on_corpus() -> None:
    bus = sum(_agrees_with_layers(entry.raw) for entry in build_corpus())
    assert bus >= 60


def test_a_home_address_option_cut_by_its_header_is_no_message() -> None:
    """Hypothesis found it: a BU whose Destination Options header says 8 bytes (Hdr Ext Len 0)
    while its HAO needs 18 (RFC 6275 §6.3); both readers drop it (RFC 8200 §4)."""
    raw = bytearray(next(e.raw for e in build_corpus() if e.mhtype == 5 and e.hao is not None))
    assert raw[6] == 60 and raw[40 + 2] != 0xC9  # a Destination Options header, a pad before the HAO
    raw[41] = 0
    assert not _agrees_with_layers(bytes(raw))
    assert isinstance(decode(bytes(raw)), Undecodable)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_reader_equals_layers_on_mutations(data: st.DataObject) -> None:
    entries = [e for e in build_corpus() if e.mhtype in (5, 6)]
    raw = bytearray(data.draw(st.sampled_from(entries)).raw)
    for _ in range(data.draw(st.integers(1, 3))):
        raw[data.draw(st.integers(40, len(raw) - 1))] = data.draw(st.integers(0, 255))
    _agrees_with_layers(bytes(raw))


def _layers_ba(msg: BindingAck) -> bytes:
    """The BA built by the Scapy layers (RFC 6275 §6.1.8, §9.5.4), placeholders as the codec's."""
    options: list[Packet] = []
    if msg.phkt_ciphertext is not None:
        options.append(PHKTOpt(phkt=msg.phkt_ciphertext))
    if msg.refresh_interval is not None:
        options.append(MIP6OptBRAdvice(rinter=lifetime_units(msg.refresh_interval)))
    if msg.bad is not None:
        options.append(BindingAuthData(authenticator=msg.bad))
    ba = BA(status=msg.status, seq=msg.seq, mhtime=lifetime_units(msg.lifetime), options=options)
    head = IPv6(src=msg.src, dst=msg.dst)
    if msg.hoa is not None:
        head = head / RH2(addresses=[msg.hoa])
    return bytes(head / ba)


def _layers_bu(msg: BindingUpdate, sig_size: int) -> bytes:
    """The BU built by the Scapy layers (RFC 6275 §6.1.7, RFC 4866 §5), placeholders as the codec's."""
    options: list[Packet] = []
    if msg.cga_params is not None:
        options += [CGAParamsOpt(params=CGAParams(msg.cga_params)), SignatureOpt(sig=bytes(sig_size))]
    if msg.cga_request:
        options.append(CGAParamsRequest())
    if msg.nonce_indices is not None:
        options.append(NonceIndices(hni=msg.nonce_indices[0], coni=msg.nonce_indices[1]))
    if msg.bad is not None:
        options.append(BindingAuthData(authenticator=msg.bad))
    flags = ("A" if msg.ack else "") + ("H" if msg.home else "")
    bu = BU(seq=msg.seq, flags=flags, mhtime=lifetime_units(msg.lifetime), options=options)
    head = IPv6(src=msg.src, dst=msg.dst)
    if msg.hoa is not None:
        head = head / IPv6ExtHdrDestOpt(options=[HAO(hoa=msg.hoa)])
    return bytes(head / bu)


def _same_but_checksum(ours: bytes, layers: bytes) -> None:
    """Equal bytes but for the MH checksum (the layers compute it over the placeholders)."""
    off = next(i for i in (40, 64) if ours[i + 2] in (5, 6) and ours[i] == 59)
    assert ours[: off + 4] + ours[off + 6 :] == layers[: off + 4] + layers[off + 6 :]


@settings(max_examples=300, deadline=None)
@given(
    status=st.sampled_from([0, 1, 128, 130, 132, 135, 137, 147, 148, 149, 174]),
    seq=st.integers(0, 0xFFFF),
    lifetime=st.integers(0, 262_140),
    phkt=st.one_of(st.none(), st.binary(min_size=0, max_size=255)),
    refresh=st.one_of(st.none(), st.integers(0, 262_140)),
    bad=st.one_of(st.none(), st.binary(min_size=12, max_size=12)),
    rh2=st.booleans(),
)
def test_ba_writer_equals_the_layers(status: int, seq: int, lifetime: int, phkt: bytes | None,
                                     refresh: int | None, bad: bytes | None, rh2: bool) -> None:
    msg = BindingAck(DAR, "2001:db8:2::5", "2001:db8:1::5" if rh2 else None, status, seq, lifetime,
                     phkt_ciphertext=phkt, refresh_interval=refresh, bad=bad)
    _same_but_checksum(encode_bytes(msg), _layers_ba(msg))


WRITER_KEY = KeyPair.generate(1024)


@settings(max_examples=200, deadline=None)
@given(
    seq=st.integers(0, 0xFFFF),
    lifetime=st.integers(0, 262_140),
    params=st.one_of(st.none(), st.tuples(st.binary(min_size=25, max_size=25), st.integers(0, 600))),
    sig_size=st.sampled_from([128, 192]),
    request=st.booleans(),
    ni=st.one_of(st.none(), st.tuples(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF))),
    bad=st.one_of(st.none(), st.binary(min_size=12, max_size=12)),
    flags=st.tuples(st.booleans(), st.booleans()),
    home=st.booleans(),
)
def test_bu_writer_equals_the_layers(seq: int, lifetime: int, params: tuple[bytes, int] | bytes | None, sig_size: int,
                                     request: bool, ni: tuple[int, int] | None, bad: bytes | None,
                                     flags: tuple[bool, bool], home: bool) -> None:
    if params is not None:  # RFC 3972 §3: modifier, prefix, collision count, key, an extension field
        head, ext = params
        params = head + WRITER_KEY.public_der + (0xFFFD).to_bytes(2, "big") + ext.to_bytes(2, "big") + bytes(ext)
    msg = BindingUpdate("2001:db8:2::5", DAR, None if home else "2001:db8:1::5", seq, lifetime, ack=flags[0],
                        home=flags[1], cga_params=params, signature=bytes(sig_size) if params else None,
                        cga_request=request, nonce_indices=ni, bad=bad)
    _same_but_checksum(encode_bytes(msg), _layers_bu(msg, sig_size))
