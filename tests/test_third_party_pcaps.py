"""Captures written by others (../shared/pcaps, provenance in SOURCES.md) as real-world input.

* Every capture reads with ``rdpcap`` after ``import scapy_fama``; every frame
  summarises and rebuilds to its own bytes, and its IPv6 part re-dissects standalone
  to the same bytes.
* The fuzz captures (tcpdump's ASan/over-read regressions) carry their MH behind
  IPv6 next header 62, the pre-RFC 6275 draft number that tshark still shows as
  "Mobile IPv6 (old)" and IANA gives to CFTP. Scapy leaves that payload Raw; the
  tests also force it through our MH layers (next header patched to 135): Raw or
  a clean dissection, never an exception.
* The (frame, MH type, sequence number) list of BU/BA equals tshark's
  (``-Y mipv6``: in tshark 4.0 ``mip6`` is neither a field nor a protocol name).
* Option framing of every MH equals tshark's, including the old PMIPv6-draft
  options of the OAI captures and the ns-3 MHs whose Header Len is too small.
* Checksums: our ``checksum_ok`` equals the test's own RFC 6275 computation on
  every MH; tcpdump_ipv6_mobility_1 (16 MHs with checksum 0) and ns-3 fail it,
  the OAI PBUs/PBAs pass it (SOURCES.md).
"""

from __future__ import annotations

import struct
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from scapy.layers.inet6 import IPv6
from scapy.packet import Packet
from scapy.plist import PacketList
from scapy.utils import PcapReader, rdpcap

import scapy_fama  # noqa: F401  (registers the layers)
from scapy_fama.layers.headers import find_mh
from scapy_fama.layers import BA, BU, checksum_ok
from tests.corpus import (
    SHARED_PCAPS,
    TSHARK,
    TSHARK_MISSING,
    our_options,
    raw_view,
    rfc6275_checksum,
    run_tshark,
    tshark_json,
    tshark_options,
)

PCAP_DIR = SHARED_PCAPS
PCAPS = sorted(PCAP_DIR.glob("*.pcap"))
OLD_MIP6_PROTO = 62  # draft-ietf-mobileip-ipv6 before RFC 3775; IANA: CFTP
LINKTYPE_IPV6 = 229

# SOURCES.md: (BU count, BA count) per capture, carried behind next header 135
DOCUMENTED_BU_BA = {
    "tcpdump_ipv6_mobility_1.pcap": (6, 4),
    "ns3mipv6_prefix4-n4-i1.pcap": (1, 1),
    "ns3mipv6_prefix1-n3-i1.pcap": (1, 1),
    "ns3mipv6_prefix4-n6-i1.pcap": (1, 1),
    "ns3mipv6_prefix2-n2-i1.pcap": (1, 1),
    "oai-pmip6_mag12lma.pcap": (4, 2),
    "oai-pmip6_lma2mags.pcap": (7, 4),
    "oai-pmip6_mag22lma.pcap": (3, 2),
}
FUZZ = [p for p in PCAPS if "asan" in p.name or "oobr" in p.name]

pytestmark = pytest.mark.skipif(not PCAPS, reason=f"no captures in {PCAP_DIR}")


@pytest.fixture
def tshark() -> str:
    """The tshark binary; the test is skipped, with the reason shown, when it is missing."""
    if TSHARK is None:
        pytest.skip(TSHARK_MISSING)
    return TSHARK


def ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


@cache
def read(path: Path) -> PacketList:
    return rdpcap(str(path))


def link_type(path: Path) -> int:
    with PcapReader(str(path)) as r:
        return int(r.linktype)


def ipv6_frames(path: Path) -> list[tuple[int, bytes]]:
    """(frame number, IPv6 bytes) of every frame with an IPv6 layer.

    The pcap link-type field keeps FCS information in its upper bits; Scapy 2.8
    does not mask them and reads such a LINKTYPE_IPV6 capture as Raw, so the
    IPv6 bytes are taken from the Raw frame then.
    """
    out = []
    for n, pkt in enumerate(read(path), 1):
        if IPv6 in pkt:
            out.append((n, bytes(pkt[IPv6])))
        elif link_type(path) & 0xFFFF == LINKTYPE_IPV6 and len(bytes(pkt)) >= 40:
            out.append((n, bytes(pkt)))
    return out


def force_mh(ip: bytes) -> tuple[bytes, int] | None:
    """``ip`` with the Next Header byte naming the MH (135 or 62) set to 135, and that old value."""
    nh_at, pos = 6, 40
    while pos + 2 <= len(ip):
        nh = ip[nh_at]
        if nh in (135, OLD_MIP6_PROTO):
            return ip[:nh_at] + bytes((135,)) + ip[nh_at + 1 :], nh
        if nh not in (0, 43, 60):
            return None
        nh_at, pos = pos, pos + 8 * (ip[pos + 1] + 1)
    return None


def our_mhs(path: Path) -> list[tuple[int, Packet]]:
    """(frame number, MH layer) of every frame whose MH our layers dissect (next header 135)."""
    out = []
    for n, pkt in enumerate(read(path), 1):
        mh = find_mh(pkt)
        if mh is not None:
            out.append((n, mh))
    return out


def dissect_cleanly(raw: bytes) -> Packet:
    """Dissect ``raw`` as IPv6 with our layers; it must summarise, show and rebuild."""
    pkt = IPv6(raw)
    pkt.summary()
    pkt.show(dump=True)
    assert bytes(pkt) == raw
    return pkt


# --- reading and rebuilding -------------------------------------------------------------------


@pytest.mark.parametrize("path", PCAPS, ids=ids(PCAPS))
def test_every_frame_reads_summarises_and_rebuilds(path: Path) -> None:
    packets = read(path)
    assert len(packets) > 0
    for n, pkt in enumerate(packets, 1):
        assert pkt.summary()
        original = bytes(pkt.original or b"")
        if original:  # a zero-length frame (the ICMPv6 fuzz file) has nothing to rebuild
            assert bytes(pkt) == original, f"frame {n} does not rebuild"
    for n, ip in ipv6_frames(path):
        dissect_cleanly(ip)


@pytest.mark.parametrize("path", FUZZ, ids=ids(FUZZ))
def test_fuzz_mh_bytes_give_raw_or_a_clean_dissection(path: Path) -> None:
    """The malformed MHs, forced through our layers (next header 62 patched to 135)."""
    forced = []
    for _, ip in ipv6_frames(path):
        found = force_mh(ip)
        if found is not None:
            dissect_cleanly(found[0])
            forced.append(found[1])
    assert set(forced) == (set() if "icmp6" in path.name else {OLD_MIP6_PROTO})


# --- BU/BA lists against the documentation and tshark -------------------------------------------


def our_bu_ba(path: Path) -> list[tuple[int, int, int | None]]:
    return [(n, int(mh.mhtype), int(mh.seq)) for n, mh in our_mhs(path) if isinstance(mh, (BU, BA))]


@pytest.mark.parametrize("path", PCAPS, ids=ids(PCAPS))
def test_bu_ba_counts_match_sources_md(path: Path) -> None:
    found = our_bu_ba(path)
    bus, bas = (sum(1 for _, t, _ in found if t == k) for k in (5, 6))
    assert (bus, bas) == DOCUMENTED_BU_BA.get(path.name, (0, 0))


def tshark_bu_ba(path: Path) -> tuple[list[tuple[int, int, int | None]], list[int]]:
    """tshark's (frame, MH type, seq) of BU/BA behind next header 135, and the frames behind 62."""
    out = run_tshark(
        path, "-Y", "mipv6", "-T", "fields", "-e", "frame.number", "-e", "mip6.mhtype",
        "-e", "mip6.bu.seqnr", "-e", "mip6.ba.seqnr",
        "-e", "ipv6.nxt", "-e", "ipv6.dstopts.nxt", "-e", "ipv6.routing.nxt",
    )  # fmt: skip
    listed, old_draft = [], []
    for line in out.splitlines():
        frame, mhtype, bu_seq, ba_seq, *chain = line.split("\t")
        next_headers = {int(v) for field in chain for v in field.split(",") if v}
        if 135 not in next_headers:
            assert OLD_MIP6_PROTO in next_headers, line
            old_draft.append(int(frame))
            continue
        if int(mhtype) in (5, 6):
            seq = bu_seq or ba_seq
            listed.append((int(frame), int(mhtype), int(seq) if seq else None))
    return listed, old_draft


@pytest.mark.tshark
@pytest.mark.parametrize("path", PCAPS, ids=ids(PCAPS))
def test_bu_ba_list_matches_tshark(path: Path, tshark: str) -> None:
    theirs, old_draft = tshark_bu_ba(path)
    assert our_bu_ba(path) == theirs
    # only the fuzz files use the old protocol number; the real captures are all compared
    assert not old_draft or path in FUZZ


def test_tshark_filter_name_is_mipv6(tshark: str) -> None:
    """``-Y mip6`` is an error in tshark 4.0 (the protocol is ``mipv6``; fields are ``mip6.*``)."""
    done = subprocess.run(
        [tshark, "-r", str(PCAPS[0]), "-Y", "mip6"], check=False, capture_output=True, text=True
    )
    assert done.returncode != 0 and "neither a field nor a protocol name" in done.stderr


# --- option framing and fields against tshark ---------------------------------------------------

WITH_MH = [p for p in PCAPS if p.name in DOCUMENTED_BU_BA]


@cache
def tshark_mh_frames(path: Path) -> dict[int, Any]:
    return {int(f.get("frame").get("frame.number")): f for f in tshark_json(path, "-Y", "mipv6")}


@pytest.mark.tshark
@pytest.mark.parametrize("path", WITH_MH, ids=ids(WITH_MH))
def test_option_framing_matches_tshark(path: Path, tshark: str) -> None:
    """Types, length bytes, MH offsets and sizes of the options of every MH."""
    frames = tshark_mh_frames(path)
    ours = our_mhs(path)
    assert [n for n, _ in ours] == sorted(frames)
    for n, mh in ours:
        mipv6 = frames[n].find("mipv6")
        assert int(mipv6.get("mip6.hlen")) == mh.len
        assert our_options(mh) == tshark_options(mipv6), f"frame {n}"


@pytest.mark.tshark
@pytest.mark.parametrize("path", WITH_MH, ids=ids(WITH_MH))
def test_bu_flags_match_tshark(path: Path, tshark: str) -> None:
    """A/H/L/K/P of every BU; the OAI PBUs set the draft's bit 0x0080 (tshark: T), not P."""
    frames = tshark_mh_frames(path)
    for n, mh in our_mhs(path):
        if not isinstance(mh, BU):
            continue
        theirs = {f for f in "AHLKP" if frames[n].find(f"mip6.bu.{f.lower()}_flag") == "1"}
        assert {f for f in "AHLKP" if getattr(mh.flags, f)} == theirs, f"frame {n}"
        t_flag = frames[n].find("mip6.bu.t_flag") == "1"
        assert bool(mh.reserved & 0x080) == t_flag, f"frame {n}"
        if path.name.startswith("oai-"):
            assert t_flag and not mh.flags.P


# --- checksums ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", WITH_MH, ids=ids(WITH_MH))
def test_checksum_ok_agrees_with_rfc6275(path: Path) -> None:
    """checksum_ok() equals the test's own computation on every MH of the capture."""
    results = []
    for n, mh in our_mhs(path):
        view = raw_view(bytes(mh.firstlayer()[IPv6]))
        assert view is not None, f"frame {n}"
        carried = struct.unpack("!H", view.mh[4:6])[0]
        right = carried == rfc6275_checksum(view)
        assert checksum_ok(mh) == right, f"frame {n}: checksum_ok() {checksum_ok(mh)}, RFC 6275 {right}"
        results.append(right)
    if path.name == "tcpdump_ipv6_mobility_1.pcap":
        assert len(results) == 16 and not any(results)  # every MH checksum is 0x0000
        assert all(mh.cksum == 0 for _, mh in our_mhs(path))
    elif path.name.startswith("ns3"):
        assert results and not any(results)  # checksum 0
    elif path.name.startswith("oai-"):
        assert results and all(results)  # documented as correct
