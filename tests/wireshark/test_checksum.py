"""The FAMA plugin's Mobility Header checksum (fama.mh.checksum.*), against RFC 6275 §6.1.1.

Theory of operation
-------------------
The plugin's verdict on each MH is compared with what the test computes on its own: the test's
extension-header walk and RFC 1071 sum (:func:`tests.corpus.raw_view`,
:func:`tests.corpus.rfc6275_checksum`), the values of the worked example in
``../shared/spec/mipv6-signalling.md`` (a BU behind a Home Address option, a BA behind a type 2
Routing header, checksums verified there by hand), and RFC 1624's incremental update for a
message changed by one byte::

    packet --tshark + fama.lua--> status, computed, pseudo-header source and destination
           --the test's reading--> carried == rfc6275_checksum ?  /  the spec's value  /  RFC 1624

* Every MH of the real captures of ../shared/pcaps (OAI's PMIPv6 testbed) is Good; on every
  capture there, the verdict and the computed value are the test's (ns-3 and tcpdump write 0;
  a MH cut short, or under the drafts' protocol number 62, is Unverified).
* The spec's BU (HAO) and BA (RH2) are Good only over the home address; the same messages
  checksummed over the care-of address, or with one byte changed by hand, are Bad with the
  expected value named in a Checksum/Error expert info.
* Extension headers and encapsulations in between: fragments, a tunnel, the packet an ICMPv6
  error quotes; a MH cut by the snap length or behind a type 0 routing header is Unverified.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import struct
from pathlib import Path

import pytest

from scapy_fama.analysis.reader import CaptureReader
from tests.corpus import Node, ones_complement_sum, raw_view, rfc6275_checksum
from tests.wireshark import captures
from tests.wireshark.plugin_view import (
    FamaView,
    lua_skip_reason,
    plugin_views,
    tshark_plugin,
)

ROOT = Path(__file__).resolve().parents[2]
REFCAPS = sorted((ROOT / "pcaps").glob("*.pcap*"))
# the captures SOURCES.md calls "real", with their Proxy BUs + PBAs
REAL_MHS = {"oai-pmip6_mag12lma.pcap": 6, "oai-pmip6_lma2mags.pcap": 11, "oai-pmip6_mag22lma.pcap": 5}
BAD, GOOD, UNVERIFIED = "0", "1", "2"
PI_CHECKSUM, PI_ERROR = 0x01000000, 0x00800000  # expert group and severity (epan/proto.h)
FIELDS = ("fama.mh.checksum.status", "fama.mh.checksum.computed", "fama.mh.pseudo_src", "fama.mh.pseudo_dst",
          "fama.mh.checksum.bad")

pytestmark = [
    pytest.mark.tshark,
    pytest.mark.skipif(lua_skip_reason() is not None, reason=lua_skip_reason() or ""),
]

# ../shared/spec/mipv6-signalling.md, "Scapy-built and checksum-verified by hand"
COA, HA, HOA = "2001:db8:2::100", "2001:db8:1::1", "2001:db8:1::100"
SPEC_HAO = bytes.fromhex("87020102 0000c910") + socket.inet_pton(socket.AF_INET6, HOA)
SPEC_BU = bytes.fromhex("3b010500 a184 0007 c000 0064 01020000")
SPEC_RH2 = bytes.fromhex("87020201 00000000") + socket.inet_pton(socket.AF_INET6, HOA)
SPEC_BA = bytes.fromhex("3b010600 6085 0000 0007 0064 01020000")


def ipv6(src: str, dst: str, next_header: int, payload: bytes) -> bytes:
    """An IPv6 header (RFC 8200 §3) in front of ``payload``, hop limit 64."""
    return (struct.pack("!IHBB", 6 << 28, len(payload), next_header, 64) + socket.inet_pton(socket.AF_INET6, src)
            + socket.inet_pton(socket.AF_INET6, dst) + payload)


SPEC_BU_PACKET = ipv6(COA, HA, 60, SPEC_HAO + SPEC_BU)
SPEC_BA_PACKET = ipv6(HA, COA, 43, SPEC_RH2 + SPEC_BA)


def with_checksum(packet: bytes, value: int) -> bytes:
    """``packet`` with its MH checksum replaced by ``value``."""
    view = raw_view(packet)
    assert view is not None
    at = view.mh_offset + 4
    return packet[:at] + value.to_bytes(2, "big") + packet[at + 2 :]


def changed_byte(packet: bytes, mh_offset: int, value: int) -> tuple[bytes, int]:
    """``packet`` with MH byte ``mh_offset`` set to ``value``, and the checksum RFC 1624 (eqn. 3)
    expects for it from the one carried: HC' = ~(~HC + ~m + m'), m the 16-bit word changed."""
    view = raw_view(packet)
    assert view is not None
    at = view.mh_offset + mh_offset
    word = at & ~1
    changed = packet[:at] + bytes((value,)) + packet[at + 1 :]
    old, new = (int.from_bytes(p[word : word + 2], "big") for p in (packet, changed))
    carried = int.from_bytes(view.mh[4:6], "big")
    total = ~carried & 0xFFFF
    for term in (~old & 0xFFFF, new):
        total += term
        total = (total & 0xFFFF) + (total >> 16)
    return changed, ~total & 0xFFFF


def views(tmp_path: Path, packets: list[bytes], caplens: list[int] | None = None) -> list[FamaView]:
    pcap = tmp_path / "checksum.pcap"
    captures.write_raw(pcap, packets, caplens)
    return plugin_views(pcap, FIELDS)


def verdict(status: str, computed: int, src: str, dst: str) -> FamaView:
    return {"fama.mh.checksum.status": [status], "fama.mh.checksum.computed": [f"0x{computed:04x}"],
            "fama.mh.pseudo_src": [src], "fama.mh.pseudo_dst": [dst]}


def bad(carried: int, computed: int, src: str, dst: str) -> FamaView:
    """A Bad verdict with its expert info's sentence."""
    sentence = (f"MH checksum 0x{carried:04x}, computed 0x{computed:04x} over the pseudo-header {src} -> {dst}: "
                "a receiver silently discards the message (RFC 6275 §6.1.1, §9.2)")
    return verdict(BAD, computed, src, dst) | {"fama.mh.checksum.bad": [sentence]}


# ---------------------------------------------------------------- captures of others


@pytest.mark.parametrize("name", sorted(REAL_MHS))
def test_every_mobility_header_of_the_real_captures_has_a_good_checksum(shared_pcaps: Path, name: str) -> None:
    """OAI's PMIPv6 testbed (MAG1, MAG2, LMA): every Proxy BU and PBA is Good, its computed value
    the one carried (mip6.csum) and the test's own sum over the IPv6 addresses."""
    pcap = shared_pcaps / name
    out = tshark_plugin(pcap, "-Y", "mipv6", "-T", "fields", "-E", "separator=/t", "-e", "frame.number",
                        "-e", "mip6.csum", "-e", "fama.mh.checksum.status", "-e", "fama.mh.checksum.computed")
    assert out.returncode == 0, out.stderr
    rows = [line.split("\t") for line in out.stdout.splitlines()]
    ips = {number: ip for number, _, ip, _, _ in CaptureReader(pcap)}
    assert len(rows) == REAL_MHS[name]
    for number, carried, status, computed in rows:
        view = raw_view(ips[int(number)])  # type: ignore[arg-type]
        assert view is not None and view.hao is None and view.rh_type is None  # proxy signalling: plain IPv6
        assert (status, computed) == (GOOD, carried) and int(carried, 16) == rfc6275_checksum(view), number


def test_every_shared_capture_gets_the_verdict_rfc6275_gives(shared_pcaps: Path) -> None:
    """On every capture of ../shared/pcaps, each MH wholly in its packet is Good exactly when the
    test's sum is the value carried (ns-3's and tcpdump's 0 are Bad) and shows that sum; a MH cut
    short (the tcpdump CVE regressions) or carried as protocol 62 (the drafts' number, which
    tshark dissects as a MH too) is Unverified."""
    checked = {GOOD: 0, BAD: 0, UNVERIFIED: 0}
    for pcap in sorted(shared_pcaps.glob("*.pcap")):
        expected: dict[int, tuple[str, str]] = {}
        for number, _, ip, _, _ in CaptureReader(pcap, lenient=True):
            view = raw_view(ip) if ip is not None and len(ip) >= 40 and ip[0] >> 4 == 6 else None
            if view is None and ip is not None and len(ip) >= 46 and ip[6] == 62:  # the drafts' MH number
                expected[number] = (UNVERIFIED, "")
            if view is None or len(view.mh) < 6:
                continue
            size = 8 * (view.mh[1] + 1)
            in_packet = min(len(ip), 40 + int.from_bytes(ip[4:6], "big")) - view.mh_offset  # type: ignore[arg-type]
            if in_packet < size:
                expected[number] = (UNVERIFIED, "")
            else:
                computed = rfc6275_checksum(view)
                expected[number] = (GOOD if computed == int.from_bytes(view.mh[4:6], "big") else BAD, f"0x{computed:04x}")
        out = tshark_plugin(pcap, "-Y", "fama.mh.checksum.status", "-T", "fields", "-E", "separator=/t",
                            "-e", "frame.number", "-e", "fama.mh.checksum.status", "-e", "fama.mh.checksum.computed")
        assert out.returncode == 0, out.stderr
        shown = {int(n): (s, c) for n, s, c in (line.split("\t") for line in out.stdout.splitlines())}
        assert shown == expected, pcap.name
        for status, _ in shown.values():
            checked[status] += 1
    assert checked[GOOD] == sum(REAL_MHS.values()) and checked[BAD] > 20 and checked[UNVERIFIED] > 5, checked


@pytest.mark.parametrize("pcap", REFCAPS, ids=lambda p: p.name)
def test_reference_captures_are_checked_over_the_home_address(pcap: Path) -> None:
    """The toolkit's own captures: every BU (HAO) and BA (RH2) is Good, its pseudo-header source
    the HAO's address and its destination the RH2's, as tshark dissects them."""
    out = tshark_plugin(pcap, "-Y", "mipv6", "-T", "fields", "-E", "separator=/t", "-e", "fama.mh.checksum.status",
                        "-e", "ipv6.src", "-e", "ipv6.opt.mipv6.home_address", "-e", "fama.mh.pseudo_src",
                        "-e", "ipv6.dst", "-e", "ipv6.routing.mipv6.home_address", "-e", "fama.mh.pseudo_dst")
    assert out.returncode == 0, out.stderr
    rows = [line.split("\t") for line in out.stdout.splitlines()]
    assert rows and any(row[2] for row in rows) and any(row[5] for row in rows)
    for status, src, hoa, pseudo_src, dst, rh2, pseudo_dst in rows:
        assert status == GOOD and pseudo_src == (hoa or src) and pseudo_dst == (rh2 or dst)


# ---------------------------------------------------------------- the Home Address option, the type 2 Routing header


def test_a_bu_with_a_hao_and_a_ba_with_an_rh2_are_checked_over_the_home_address(tmp_path: Path) -> None:
    """The spec's BU and BA are Good over the HoA. The same messages checksummed over the CoA, as a
    sender ignoring the HAO (or the RH2) would, are Bad, with the spec's value as the computed one."""
    over_coa = {
        packet: rfc6275_checksum(dataclasses.replace(view, hao=None, rh_type=None))
        for packet in (SPEC_BU_PACKET, SPEC_BA_PACKET) if (view := raw_view(packet)) is not None
    }
    assert len(set(over_coa.values()) | {0xA184, 0x6085}) == 4
    shown = views(tmp_path, [SPEC_BU_PACKET, SPEC_BA_PACKET, *(with_checksum(p, c) for p, c in over_coa.items())])
    assert shown == [
        verdict(GOOD, 0xA184, HOA, HA),
        verdict(GOOD, 0x6085, HA, HOA),
        bad(over_coa[SPEC_BU_PACKET], 0xA184, HOA, HA),
        bad(over_coa[SPEC_BA_PACKET], 0x6085, HA, HOA),
    ]


def test_one_byte_changed_by_hand_is_a_bad_checksum(tmp_path: Path) -> None:
    """A body byte changed in the spec's BU (sequence number 7 -> 8) and BA (lifetime 100 -> 101):
    the carried checksum stays, the computed one is RFC 1624's update of it."""
    bu, bu_expected = changed_byte(SPEC_BU_PACKET, 7, 8)
    ba, ba_expected = changed_byte(SPEC_BA_PACKET, 11, 101)
    assert raw_view(bu) is not None and rfc6275_checksum(raw_view(bu)) == bu_expected  # type: ignore[arg-type]
    assert views(tmp_path, [bu, ba]) == [bad(0xA184, bu_expected, HOA, HA), bad(0x6085, ba_expected, HA, HOA)]


def test_a_real_proxy_bu_with_one_checksum_byte_changed_is_flagged(shared_pcaps: Path, tmp_path: Path) -> None:
    """The first Proxy BU of OAI's MAG1 capture with the low byte of its checksum changed: Bad, the
    computed value the one the capture carried, in a Checksum group expert info of Error severity."""
    pcap = shared_pcaps / "oai-pmip6_mag12lma.pcap"
    ip = next(ip for _, _, ip, _, _ in CaptureReader(pcap) if ip is not None and ip[6] == 135 and ip[42] == 5)
    view = raw_view(ip)
    assert view is not None
    carried = int.from_bytes(view.mh[4:6], "big")
    corrupted = with_checksum(ip, carried ^ 0x0001)
    src, dst = (socket.inet_ntop(socket.AF_INET6, a) for a in (view.src, view.dst))
    assert views(tmp_path, [ip, corrupted]) == [verdict(GOOD, carried, src, dst), bad(carried ^ 1, carried, src, dst)]
    frames = json.loads(tshark_plugin(tmp_path / "checksum.pcap", "-T", "json").stdout, object_pairs_hook=Node)
    experts = [(int(v.get("_ws.expert.group")), int(v.get("_ws.expert.severity"))) for f in frames for k, v in f.walk()
               if k == "_ws.expert" and v.get("fama.mh.checksum.bad") is not None]
    assert experts == [(PI_CHECKSUM, PI_ERROR)]


# ---------------------------------------------------------------- what lies between the IPv6 header and the MH


def _fragments(packet: bytes, unfragmentable: int, cut: int) -> list[bytes]:
    """RFC 8200 §4.5 by hand: ``packet`` (whose last unfragmentable header is a Destination Options
    header ending at ``unfragmentable``) in two fragments cut ``cut`` bytes into the rest."""
    head, rest = bytearray(packet[:unfragmentable]), packet[unfragmentable:]
    next_header, head[40] = head[40], 44
    out = []
    for start, end, more in ((0, cut, 1), (cut, len(rest), 0)):
        fragment = bytes((next_header, 0)) + (start | more).to_bytes(2, "big") + (0x1234).to_bytes(4, "big")
        piece = head + fragment + rest[start:end]
        piece[4:6] = (len(piece) - 40).to_bytes(2, "big")
        out.append(bytes(piece))
    return out


def _icmpv6_error(src: str, dst: str, quoted: bytes) -> bytes:
    """ICMPv6 Parameter Problem, code 2, pointer 48 (RFC 4443 §3.4), checksummed as §2.3 says."""
    body = bytes((4, 2, 0, 0)) + (48).to_bytes(4, "big") + quoted
    pseudo = socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
    checksum = ~ones_complement_sum(pseudo + struct.pack("!I3xB", len(body), 58) + body) & 0xFFFF
    return ipv6(src, dst, 58, body[:2] + checksum.to_bytes(2, "big") + body[4:])


def _hoti(src: str, dst: str) -> tuple[bytes, int]:
    """A Home Test Init (RFC 6275 §6.1.3) from ``src`` to ``dst``, and its checksum by the test's sum."""
    mh = bytes.fromhex("3b010100 0000 0000 0102030405060708")
    view = raw_view(ipv6(src, dst, 135, mh))
    assert view is not None
    checksum = rfc6275_checksum(view)
    return mh[:4] + checksum.to_bytes(2, "big") + mh[6:], checksum


def test_headers_between_the_ipv6_header_and_the_mobility_header(tmp_path: Path) -> None:
    """Each MH takes the addresses of the IPv6 header it follows: the spec's BU reassembled from
    two fragments (its HAO in the unfragmentable part), tunnelled, and quoted by an ICMPv6 error
    (whose own addresses are the DAR's and the CoA); a HoTI tunnelled from a CoA whose outer
    header carries a HAO of its own (not the HoTI's); the spec's BA as its receiver has processed
    the RH2 (RFC 8200 §4.4: Segments Left 0, the HoA now the destination, the CoA in the header).
    A MH cut by the snap length, behind a type 0 routing header with a segment left (final
    destination not read), or carried as the drafts' protocol 62, is Unverified."""
    cn, mn = "2001:db8:ff::1", "2001:db8:1::200"
    hoti, hoti_checksum = _hoti(mn, cn)
    processed_rh2 = bytes.fromhex("87020200 00000000") + socket.inet_pton(socket.AF_INET6, COA)
    rt0 = bytes.fromhex("87020001 00000000") + socket.inet_pton(socket.AF_INET6, HA)
    packets = [
        *_fragments(SPEC_BU_PACKET, 64, 8),
        ipv6("2001:db8:2::1", HA, 41, SPEC_BU_PACKET),
        _icmpv6_error(HA, COA, SPEC_BU_PACKET),
        ipv6(COA, HA, 60, bytes((41,)) + SPEC_HAO[1:] + ipv6(mn, cn, 135, hoti)),  # HAO, then IPv6-in-IPv6
        ipv6(HA, HOA, 43, processed_rh2 + SPEC_BA),
        SPEC_BU_PACKET,
        ipv6(COA, "2001:db8:3::1", 43, rt0 + SPEC_BA),
        ipv6(mn, cn, 62, hoti),
    ]
    caplens = [len(p) for p in packets]
    caplens[-3] = 40 + 24 + 10  # the BU's first 10 bytes
    assert views(tmp_path, packets, caplens) == [
        {},  # the first fragment: reassembled in the second
        verdict(GOOD, 0xA184, HOA, HA),
        verdict(GOOD, 0xA184, HOA, HA),
        verdict(GOOD, 0xA184, HOA, HA),
        verdict(GOOD, hoti_checksum, mn, cn),
        verdict(GOOD, 0x6085, HA, HOA),
        {"fama.mh.checksum.status": [UNVERIFIED]},
        {"fama.mh.checksum.status": [UNVERIFIED]},
        {"fama.mh.checksum.status": [UNVERIFIED]},
    ]
