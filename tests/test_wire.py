"""wire.parse gives the same answers as the Scapy layers, packet by packet, on every corpus."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet6 import HAO, IPv6, IPv6ExtHdrRouting
from scapy.packet import Packet
from scapy.utils import rdpcap

from scapy_fama.layers.headers import find_mh
from scapy_fama.layers import BA, BE, BU, CGAParamsOpt
from scapy_fama.layers.spans import OptionSpan, option_spans
from scapy_fama.wire import parse
from tests.corpus import build_corpus


def _tlvs(span: OptionSpan) -> list[tuple[int, int]]:
    """(type, offset) of each TLV of a span: a CGA Parameters block may be several."""
    if not isinstance(span.option, CGAParamsOpt):
        return [(span.otype, span.start)]
    out, pos = [], span.start
    for size in span.option.wire_lengths():
        out.append((12, pos))
        pos += 2 + size
    return out


def _scapy_view(ip: IPv6) -> dict[str, object]:
    """The same fields, read through the Scapy layers."""
    view: dict[str, object] = {"src": ip.src, "dst": ip.dst, "hoa": ip[HAO].hoa if HAO in ip else None}
    rh = ip.getlayer(IPv6ExtHdrRouting)
    view["rh2"] = rh.addresses[0] if rh is not None and rh.type == 2 and rh.len == 2 and rh.addresses else None
    view["tunnelled"] = isinstance(ip.payload, IPv6) or (ip.nh == 41)
    mh = find_mh(ip)
    if mh is not None:
        # both read the BU/BA fixed part wherever the packet has it, Header Len or not
        fixed = isinstance(mh, (BU, BA)) and len(bytes(mh)) >= 12
        view["mhtype"] = int(mh.mhtype)
        view["seq"] = int(mh.seq) if fixed else None
        view["status"] = int(mh.status) if fixed and isinstance(mh, BA) or isinstance(mh, BE) else None
        view["lifetime"] = int(mh.mhtime) if fixed else None
        if fixed and (mh.len + 1) * 8 >= 12:  # options only inside Header Len
            view["options"] = [tlv for s in option_spans(mh) for tlv in _tlvs(s)]
    return view


def _wire_view(raw: bytes) -> dict[str, object]:
    info = parse(raw)
    assert info is not None
    view: dict[str, object] = {"src": info.src, "dst": info.dst, "hoa": info.hoa, "rh2": info.rh2,
                               "tunnelled": info.tunnelled}
    if info.mh is not None:
        mh = info.mh
        view.update(mhtype=mh.mhtype, seq=mh.seq, status=mh.status, lifetime=mh.lifetime_units)
        if mh.mhtype in (5, 6) and mh.seq is not None and mh.length >= 12:
            view["options"] = [(t, o) for t, o, _ in mh.options]
    return view


def _compare(ip: IPv6) -> None:
    wire, scapy = _wire_view(bytes(ip)), _scapy_view(ip)
    for key in scapy:
        if key in wire:
            assert wire[key] == scapy[key], (key, ip.summary())


def _ipv6_packets(pkts: list[Packet]) -> list[IPv6]:
    return [p[IPv6] for p in pkts if IPv6 in p]


def test_shared_captures(shared_pcaps: Path) -> None:
    seen = 0
    for path in sorted(shared_pcaps.glob("*.pcap")):
        for ip in _ipv6_packets(list(rdpcap(str(path)))):
            _compare(ip)
            seen += 1
    assert seen > 500


def test_corpus() -> None:
    for entry in build_corpus():
        _compare(IPv6(entry.raw))


@settings(max_examples=400, deadline=None)
@given(st.binary(min_size=0, max_size=200))
def test_random_bytes_never_raise(tail: bytes) -> None:
    for nh in (0, 43, 60, 135, 41):
        parse(bytes.fromhex("60000000") + len(tail).to_bytes(2, "big") + bytes((nh, 64)) + bytes(32) + tail)
