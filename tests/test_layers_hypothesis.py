"""Properties of the FAMA layers over random messages and random bytes (hypothesis).

(a) build -> dissect -> build is byte-identical for random valid messages, and the
    dissected option framing is the layout RFC 6275 §6.2 gives (``tests.corpus.layout``),
    CGA Parameters blocks over 255 bytes split into back-to-back pieces;
(b) random bytes after a valid 6-byte MH common header, and random whole MHs, never
    raise, rebuild to themselves, and are framed as TLVs inside the MH's Header Len;
(c) a random BU with a HAO or BA with an RH2 has a right checksum, and flipping any
    single bit of its MH makes ``checksum_ok`` False.
"""

from __future__ import annotations

import socket
from typing import Any

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from scapy.layers.inet6 import (
    HAO,
    IPv6,
    IPv6ExtHdrDestOpt,
    MIP6OptAltCoA,
    MIP6OptBRAdvice,
    PadN,
)
from scapy.packet import NoPayload, Packet, Raw

import scapy_fama  # noqa: F401  (registers the layers)
from scapy_fama.layers import (
    MH_CLASSES,
    RH2,
    BindingAuthData,
    CareOfTestInitOpt,
    CareOfTestOpt,
    CGAExtension,
    CGAParams,
    CGAParamsOpt,
    CGAParamsRequest,
    GenericMH,
    MobilityOption,
    NonceIndices,
    PHKTOpt,
    SignatureOpt,
    checksum_ok,
)
from tests.corpus import (
    FIXED_PART,
    cga_pieces,
    layout,
    our_options,
    raw_view,
    rfc6275_checksum,
    seeded_keypair,
)

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MH_MAX = 2048  # Header Len is 8 bits: at most 256 units of 8 bytes
SPKIS = [seeded_keypair(1024, "mn-a").public_der, seeded_keypair(1536, "mn-c").public_der]

u8, u16 = st.integers(0, 0xFF), st.integers(0, 0xFFFF)
addresses = st.binary(min_size=16, max_size=16).map(lambda b: socket.inet_ntop(socket.AF_INET6, b))


def _blob(max_size: int) -> st.SearchStrategy[bytes]:
    return st.binary(max_size=max_size)


# --- options: each strategy gives (option, [(type, data length) as laid out on the wire]) -----

cga_params = st.builds(
    lambda mod, prefix, cc, spki, exts: CGAParams(
        modifier=mod, prefix=prefix, cc=cc, pubkey=spki,
        ext=[CGAExtension(etype=t, edata=d) for t, d in exts],
    ),
    st.binary(min_size=16, max_size=16), addresses, st.integers(0, 2), st.sampled_from(SPKIS),
    st.one_of(  # a few large RFC 4581 fields, or many empty ones (more than 100)
        st.lists(st.tuples(u16, _blob(300)), max_size=2),
        st.lists(st.tuples(u16, st.just(b"")), min_size=95, max_size=140),
    ),
)  # fmt: skip


def _cga(params: CGAParams) -> tuple[Packet, list[tuple[int, int]]]:
    return CGAParamsOpt(params=params), [(12, n) for n in cga_pieces(len(bytes(params)))]


def _tlv(cls: Any, otype: int, field: str, data: st.SearchStrategy[bytes]) -> st.SearchStrategy[Any]:
    return data.map(lambda d: (cls(**{field: d}), [(otype, len(d))]))


options = st.one_of(
    st.builds(lambda h, c: (NonceIndices(hni=h, coni=c), [(4, 4)]), u16, u16),
    _tlv(BindingAuthData, 5, "authenticator", _blob(40)),
    cga_params.map(_cga),
    _tlv(SignatureOpt, 13, "sig", _blob(255)),
    _tlv(PHKTOpt, 14, "phkt", _blob(255)),
    _tlv(CareOfTestOpt, 16, "cokt", st.binary(min_size=8, max_size=8)),
    _tlv(PadN, 1, "optdata", _blob(6)),
    st.just((CGAParamsRequest(), [(11, 0)])),
    st.just((CareOfTestInitOpt(), [(15, 0)])),
    st.builds(lambda r: (MIP6OptBRAdvice(rinter=r), [(2, 2)]), u16),
    st.builds(lambda a: (MIP6OptAltCoA(acoa=a), [(3, 16)]), addresses),
    st.builds(
        lambda t, d: (MobilityOption(otype=t, odata=d), [(t, len(d))]), st.integers(17, 255), _blob(40)
    ),
)


BU, BA, BE = 5, 6, 7  # MH types
FIELDS: dict[int, dict[str, st.SearchStrategy[Any]]] = {  # per MH type, beyond the options
    BU: {"seq": u16, "flags": st.integers(0, 0x7F), "reserved": st.integers(0, 0x1FF), "mhtime": u16},
    BA: {"status": u8, "flags": st.integers(0, 7), "res2": st.integers(0, 31), "seq": u16, "mhtime": u16},
    BE: {"status": u8, "hoa": addresses},
    0: {},
    1: {"cookie": st.binary(min_size=8, max_size=8)},
    2: {"cookie": st.binary(min_size=8, max_size=8)},
    3: {"index": u16, "cookie": st.binary(min_size=8, max_size=8), "token": st.binary(min_size=8, max_size=8)},
    4: {"index": u16, "cookie": st.binary(min_size=8, max_size=8), "token": st.binary(min_size=8, max_size=8)},
}  # fmt: skip


@st.composite
def messages(draw: st.DrawFn, mhtypes: tuple[int, ...] = tuple(FIELDS)) -> Any:
    """(IPv6 packet, MH type, wanted option layout) for a random valid message."""
    mhtype = draw(st.sampled_from(mhtypes))
    opts = draw(st.lists(options, max_size=6))
    wanted = [w for _, ws in opts for w in ws]
    assume(FIXED_PART[BU] + sum(2 + n + 7 for _, n in wanted) < MH_MAX)
    fields = {name: draw(strategy) for name, strategy in FIELDS[mhtype].items()}
    mh = MH_CLASSES[mhtype](options=[o for o, _ in opts], **fields)
    ip: Packet = IPv6(src=draw(addresses), dst=draw(addresses))
    if mhtype == BU and draw(st.booleans()):
        ip = ip / IPv6ExtHdrDestOpt(options=[HAO(hoa=draw(addresses))])
    if mhtype == BA and draw(st.booleans()):
        ip = ip / RH2(addresses=[draw(addresses)])
    return ip / mh, mhtype, wanted


def the_mh(pkt: Packet, required: bool = True) -> Any:
    """The Mobility Header layer of a dissected packet (any MH type)."""
    layer = pkt
    while not isinstance(layer, (GenericMH, *MH_CLASSES.values())):
        layer = layer.payload
        if not layer:
            assert not required, f"no MH in {pkt.summary()}"
            return None
    return layer


# --- (a) round trip ---------------------------------------------------------------------------


@SETTINGS
@given(messages())
def test_build_dissect_build_is_identical(msg: tuple[Packet, int, list[tuple[int, int]]]) -> None:
    pkt, mhtype, wanted = msg
    wire = bytes(pkt)
    again = IPv6(wire)
    assert bytes(again) == wire
    mh = the_mh(again)
    assert type(mh) is type(the_mh(pkt)) and int(mh.mhtype) == mhtype
    expected, hlen = layout(mhtype, wanted)
    assert int(mh.len) == hlen
    assert our_options(mh) == [(o.otype, o.olen, o.offset, o.size) for o in expected]


@SETTINGS
@given(st.integers(8, 255), st.integers(0, 40).map(lambda n: 8 * n + 2), st.data())
def test_generic_mh_message_data_fills_the_header_len(mhtype: int, size: int, data: st.DataObject) -> None:
    """An MH of a type without its own class keeps its whole message data (RFC 6275 §6.1.1)."""
    msg = data.draw(st.binary(min_size=size, max_size=size))
    wire = bytes(IPv6(src="2001:db8::1", dst="2001:db8::2") / GenericMH(mhtype=mhtype, msg=msg))
    mh = the_mh(IPv6(wire))
    assert isinstance(mh, GenericMH) and bytes(mh.msg) == msg and int(mh.len) == (6 + size) // 8 - 1
    assert isinstance(mh.payload, NoPayload), f"bytes left after the MH: {mh.payload!r}"


# --- (b) random bytes -------------------------------------------------------------------------


def assert_tlv_framing(mh: Packet, wire_mh: bytes) -> None:
    """The options tile [fixed part, MH end): each is Pad1 or 2 + its length byte (the last may be cut)."""
    region_end = min(8 * (wire_mh[1] + 1), len(wire_mh))
    framed = our_options(mh)
    pos = FIXED_PART[int(mh.mhtype)]
    if pos >= region_end:
        assert framed == [], f"options outside a {region_end}-byte MH: {framed}"
        return
    for i, (otype, _, offset, size) in enumerate(framed):
        last = i == len(framed) - 1
        if last and otype == -1:  # a cut-short last TLV (e.g. a lone type byte) may stay Raw
            otype = wire_mh[pos]
        assert (offset, otype) == (pos, wire_mh[pos]), f"option {i} of {framed}"
        on_wire = 1 if otype == 0 else 2 + wire_mh[pos + 1] if pos + 1 < region_end else None
        if not last:
            assert size == on_wire, f"option {i} of {framed}: {size} bytes, its TLV says {on_wire}"
        else:
            assert on_wire is None or size <= on_wire, f"last option of {framed} overruns its TLV"
        pos += size
    assert pos == region_end, f"options end at {pos}, the MH at {region_end}: {framed}"


def ipv6_around(mh: bytes) -> bytes:
    return bytes(IPv6(src="2001:db8::1", dst="2001:db8::2", nh=135) / Raw(mh))


@SETTINGS
@given(u8, u8, u16, st.data())
def test_random_body_after_a_valid_common_header(
    mhtype: int, hlen: int, cksum: int, data: st.DataObject
) -> None:
    body_len = data.draw(st.one_of(st.just(8 * (hlen + 1) - 6), st.integers(0, 8 * (hlen + 1) + 16)))
    body = data.draw(st.binary(min_size=body_len, max_size=body_len))
    raw = bytes((59, hlen, mhtype, 0)) + cksum.to_bytes(2, "big") + body
    wire = ipv6_around(raw)
    pkt = IPv6(wire)
    pkt.summary()
    pkt.show(dump=True)
    assert bytes(pkt) == wire
    if len(raw) < FIXED_PART.get(mhtype, 8):
        return  # shorter than its fixed part: Raw or a partial MH, both rebuild (checked above)
    mh = the_mh(pkt)
    assert int(mh.mhtype) == mhtype and int(mh.len) == hlen
    if isinstance(mh, GenericMH):
        assert len(mh.msg) == min(8 * hlen + 2, len(raw) - 6)
    else:
        assert_tlv_framing(mh, raw)


@SETTINGS
@given(st.binary(max_size=300), st.sampled_from(["plain", "hao", "rh2"]))
def test_random_bytes_as_a_whole_mh_never_raise(raw: bytes, shape: str) -> None:
    """A wholly random MH behind IPv6 (and behind a HAO or an RH2) dissects, rebuilds, checksums."""
    ip: Packet = IPv6(src="2001:db8::1", dst="2001:db8::2")
    if shape == "hao":
        ip = ip / IPv6ExtHdrDestOpt(options=[HAO(hoa="2001:db8::3")])
    elif shape == "rh2":
        ip = ip / RH2(addresses=["2001:db8::3"])
    ip.lastlayer().nh = 135
    wire = bytes(ip / Raw(raw))
    pkt = IPv6(wire)
    pkt.summary()
    pkt.show(dump=True)
    assert bytes(pkt) == wire
    mh = the_mh(pkt, required=False)
    if mh is not None:
        checksum_ok(mh)


@SETTINGS
@given(st.one_of(st.integers(1, 16), st.integers(17, 255)), _blob(255))
@example(7, bytes(18)).via("OAI capture: draft MN link-layer id")
@example(10, bytes(16)).via("OAI capture: draft timestamp")
def test_every_option_class_takes_exactly_its_tlv(otype: int, data: bytes) -> None:
    """Whatever class a type dispatches to, it reads Type | Length | Length bytes, no more, no less."""
    tlv = bytes((otype, len(data))) + data
    opt = MobilityOption(tlv + b"\x00")  # a Pad1 after it
    assert bytes(opt) == tlv + b"\x00"
    assert bytes(opt.payload) == b"\x00", (
        f"{type(opt).__name__} read {len(tlv) + 1 - len(bytes(opt.payload))} bytes"
    )


# --- (c) checksum -----------------------------------------------------------------------------


def _with_ext_header(msg: tuple[Packet, int, Any]) -> bool:
    return len(msg[0].layers()) == 3


@SETTINGS
@given(messages((BU, BA)).filter(_with_ext_header), st.data())
def test_checksum_ok_and_single_bit_flips(msg: tuple[Packet, int, Any], data: st.DataObject) -> None:
    pkt = msg[0]
    wire = bytes(pkt)
    mh_start = 64  # IPv6 (40) + DestOpt HAO or RH2 (24)
    assert checksum_ok(the_mh(IPv6(wire)))
    for bit in data.draw(st.lists(st.integers(0, 8 * (len(wire) - mh_start) - 1), min_size=1, max_size=8)):
        flipped = bytearray(wire)
        flipped[mh_start + bit // 8] ^= 0x80 >> (bit % 8)
        mh = the_mh(IPv6(bytes(flipped)), required=False)
        if mh is not None:
            assert not checksum_ok(mh), f"bit {bit} of the MH flipped unnoticed"
        else:  # e.g. BA turned into a BE too short for its fixed part: Raw, still a bad checksum
            view = raw_view(bytes(flipped))
            assert view is not None and int.from_bytes(view.mh[4:6], "big") != rfc6275_checksum(view)
