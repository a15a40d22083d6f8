"""fama-analyze on captures it did not make (../shared/pcaps, provenance in SOURCES.md).

* Every capture is analysed without an exception; frame counts equal tshark's.
* The BU and BA counts equal tshark's (``mip6.mhtype`` over every frame: tshark also
  dissects the fuzz files' MHs behind next header 62, and so does the analyser).
* The documented defects are findings: tcpdump_ipv6_mobility_1's 16 zero checksums, the
  ns-3 HAO (and RH2) placed after the MH with a Header Len of 0, the fuzz files'
  option lengths and old next header.
* The ns-3 BU and BA pair up (through the misplaced HAO), giving one handover.
* The OAI captures are PMIPv6 (pmip6d's pre-RFC 5213 option numbers): no FAMA MN, one
  mobile node at the LMA, its identifier, prefix, MAGs and PBU/PBA pairs as tshark's fields
  say, the LMA-MAG tunnels as tshark counts them, no sequence regression or malformed option.
* tcpdump_ipv6_mobility_1's HoTI/HoT/CoTI/CoT are address tests and its BUs with a BAD are
  return-routability BUs (H=0), as tshark's flags say.
"""

from __future__ import annotations

from collections import Counter
from functools import cache
from ipaddress import IPv6Address
from pathlib import Path

import pytest

from scapy_fama.analysis.analyze import Analysis, analyze
from tests.corpus import SHARED_PCAPS, TSHARK, TSHARK_MISSING, run_tshark

PCAP_DIR = SHARED_PCAPS
PCAPS = sorted(PCAP_DIR.glob("*.pcap"))
pytestmark = pytest.mark.skipif(not PCAPS, reason=f"no captures in {PCAP_DIR}")


def ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


@cache
def analysed(path: Path) -> Analysis:
    return analyze([path])


@cache
def tshark_types(path: Path) -> tuple[int, Counter[int]]:
    """(frames, MH type counts) as tshark sees them."""
    lines = run_tshark(path, "-T", "fields", "-e", "mip6.mhtype").splitlines()
    return len(lines), Counter(int(v) for line in lines for v in line.split(",") if v)


def kinds(a: Analysis) -> Counter[str]:
    return Counter(f.kind for f in a.findings for _ in range(f.count))


@pytest.mark.parametrize("path", PCAPS, ids=ids(PCAPS))
def test_analysed_without_an_exception(path: Path) -> None:
    a = analysed(path)
    assert a.totals.frames > 0 and not a.warnings


@pytest.mark.tshark
@pytest.mark.skipif(TSHARK is None, reason=TSHARK_MISSING)
@pytest.mark.parametrize("path", PCAPS, ids=ids(PCAPS))
def test_frame_bu_and_ba_counts_match_tshark(path: Path) -> None:
    frames, types = tshark_types(path)
    a = analysed(path)
    assert a.totals.frames == frames
    bus = a.signalling.get("BU", 0) + a.signalling.get("PBU", 0)
    assert (bus, a.signalling.get("BA", 0) + a.signalling.get("PBA", 0)) == (types[5], types[6])


def test_tcpdump_zero_checksums() -> None:
    a = analysed(PCAP_DIR / "tcpdump_ipv6_mobility_1.pcap")
    assert kinds(a)["checksum-zero"] == 16
    assert kinds(a)["checksum-wrong"] == 0


@pytest.mark.parametrize("name", [p.name for p in PCAPS if p.name.startswith("ns3")])
def test_ns3_hao_after_the_mh_and_one_handover(name: str) -> None:
    a = analysed(PCAP_DIR / name)
    messages = [f.message for f in a.findings if f.kind == "framing"]
    assert any("Home Address option placed after the Mobility Header" in m for m in messages)
    assert any("Routing header" in m and "after the Mobility Header" in m for m in messages)
    assert any("Header Len 0 below the minimum" in m for m in messages)
    assert kinds(a)["checksum-zero"] == 2
    (mn,) = a.mns
    (binding,) = mn.bindings
    (exchange,) = binding.exchanges
    assert exchange.status == 0 and exchange.latency is not None and exchange.latency > 0
    (handover,) = mn.handovers
    assert handover.kept == [binding.hoa] and handover.coa == exchange.coa != binding.hoa


OAI = [p for p in PCAPS if p.name.startswith("oai-")]


@cache
def tshark_mh(path: Path) -> list[dict[str, str]]:
    """Every Mobility Header frame as tshark dissects it (pmip6d's options under the names of the
    options those numbers have at IANA: 7 LLA, 8 MN-ID, 9 AUTH, 10 MESG-ID)."""
    fields = ("frame.number", "ipv6.src", "ipv6.dst", "mip6.mhtype", "mip6.bu.seqnr", "mip6.ba.seqnr",
              "mip6.bu.lifetime", "mip6.ba.status", "mip6.bu.p_flag", "mip6.options.mnid", "mip6.lla",
              "mip6.auth.subtype", "mip6.auth.mobility_spi", "mip6.auth.auth_data")
    args = [a for f in fields for a in ("-e", f)]
    lines = run_tshark(path, "-Y", "mipv6", "-T", "fields", "-E", "separator=|", *args).splitlines()
    return [dict(zip(fields, line.split("|"))) for line in lines]


@pytest.mark.tshark
@pytest.mark.skipif(TSHARK is None, reason=TSHARK_MISSING)
@pytest.mark.parametrize("path", OAI, ids=ids(OAI))
def test_oai_captures_are_pmipv6_as_tshark_reads_them(path: Path) -> None:
    a = analysed(path)
    rows = tshark_mh(path)
    assert a.mns == [] and a.signalling.get("BU", 0) == a.signalling.get("BA", 0) == 0  # no FAMA MN
    (b,) = a.proxy
    # the node: the last 8 bytes of what tshark reads as an RFC 4283 MN-ID option are pmip6d's interface id
    ids = {bytes.fromhex(r["mip6.options.mnid"].replace(":", ""))[-8:] for r in rows}
    assert len(ids) == 1 and bytes.fromhex(b.mn_id.replace(":", "")) == ids.pop()
    # its prefix: what tshark reads as the link-layer address after the option code
    (lla,) = {r["mip6.lla"] for r in rows}
    raw = bytes.fromhex(lla.replace(":", ""))
    assert b.hnps == [f"{IPv6Address(raw[1:17])}/{raw[0]}"] and b.codepoints == "pmip6d (pre-RFC 5213)"
    pbus = [r for r in rows if r["mip6.mhtype"] == "5"]
    assert all(r["mip6.bu.p_flag"] == "0" for r in pbus)  # recognised by its options: pmip6d clears P
    assert [(ex.pbu[1], ex.mag, b.lma, ex.seq, ex.lifetime) for ex in b.exchanges] == [
        (int(r["frame.number"]), r["ipv6.src"], r["ipv6.dst"], int(r["mip6.bu.seqnr"]), 4 * int(r["mip6.bu.lifetime"]))
        for r in pbus]
    pbas = [r for r in rows if r["mip6.mhtype"] == "6"]
    answered = sorted((ex.pba[1], ex.mag, ex.status) for ex in b.exchanges if ex.pba is not None)
    assert answered == [(int(r["frame.number"]), r["ipv6.dst"], int(r["mip6.ba.status"])) for r in pbas]
    # the timestamp (type 9, read by tshark as an AUTH option): eight zero bytes
    assert {(r["mip6.auth.subtype"], r["mip6.auth.mobility_spi"], r["mip6.auth.auth_data"]) for r in rows} == {("0", "0", "00")}
    assert all(ex.timestamp == 0.0 for ex in b.exchanges)
    found = kinds(a)
    assert found["timestamp-window"] == len(pbus) and found["pre-standard"] == len(rows)
    assert found["sequence-regression"] == found["malformed-option"] == 0  # timestamps order PBUs (§5.5)
    assert found["checksum-wrong"] == found["checksum-zero"] == 0  # SOURCES.md: correct checksums


@pytest.mark.tshark
@pytest.mark.skipif(TSHARK is None, reason=TSHARK_MISSING)
@pytest.mark.parametrize("path", OAI, ids=ids(OAI))
def test_oai_tunnels_are_the_mag_lma_tunnels_tshark_counts(path: Path) -> None:
    a = analysed(path)
    counted: Counter[tuple[str, str]] = Counter()
    out = run_tshark(path, "-Y", "ipv6", "-T", "fields", "-e", "ipv6.nxt", "-e", "ipv6.src", "-e", "ipv6.dst")
    for line in out.splitlines():
        nxt, src, dst = (v.split(",")[0] for v in line.split("\t"))  # the outer header (an ICMPv6 error
        if nxt == "41":                                                # quotes a tunnelled packet: not one)
            counted[(src, dst)] += 1
    ours = {}
    for (lma, mag), (down, up) in a.proxy_tunnels.items():
        ours[(lma, mag)], ours[(mag, lma)] = down.packets, up.packets
    assert ours == dict(counted) and a.other_tunnels == []


def test_lma2mags_moves_between_the_two_mags() -> None:
    """MAG1 (::2) and MAG2 (::3) take turns; each de-registration by the MAG the node left comes
    after the other MAG's registration and does not end the binding (RFC 5213 §5.3.5)."""
    (b,) = analysed(PCAP_DIR / "oai-pmip6_lma2mags.pcap").proxy
    frame_of = {ex.time: ex.pbu[1] for ex in b.exchanges}
    assert [(frame_of[h.time], h.previous, h.mag) for h in b.handovers] == [
        (192, "2001:100::2", "2001:100::3"), (227, "2001:100::3", "2001:100::2"), (257, "2001:100::2", "2001:100::3")]
    assert [(ex.pbu[1], ex.ignored_for) for ex in b.exchanges if ex.deregistration] == [
        (194, "2001:100::3"), (228, "2001:100::2"), (260, "2001:100::3")]
    assert (b.state, b.mag) == ("registered", "2001:100::3")
    (alone,) = analysed(PCAP_DIR / "oai-pmip6_mag12lma.pcap").proxy  # one MAG: its de-registrations count
    assert alone.handovers == [] and alone.state == "de-registered"


@pytest.mark.tshark
@pytest.mark.skipif(TSHARK is None, reason=TSHARK_MISSING)
def test_return_routability_is_labelled_rr() -> None:
    path = PCAP_DIR / "tcpdump_ipv6_mobility_1.pcap"
    a = analysed(path)
    (mn,) = a.mns
    lines = run_tshark(path, "-T", "fields", "-e", "frame.number", "-e", "mip6.mhtype", "-e", "mip6.bu.h_flag",
                       "-e", "mip6.options.bad_auth").splitlines()
    rr = {int(f) for f, t, h, bad in (line.split("\t") for line in lines) if t == "5" and h == "0" and bad}
    auth = {ex.bu[1]: ex.auth for b in mn.bindings for ex in b.exchanges}
    assert rr and {f for f, kind in auth.items() if kind == "rr"} == rr and "phkt" not in auth.values()
    tests = {(t.home, t.init[1]) for t in mn.tests}
    typed = {(t == "1", int(f)) for f, t, *_ in (line.split("\t") for line in lines) if t in ("1", "2")}
    assert tests == typed  # HoTI (type 1) home tests, CoTI (type 2) care-of tests
    assert all(t.reply is None and t.index is None for t in mn.tests)  # the replies go the same way: unmatched


FUZZ = [p for p in PCAPS if "asan" in p.name or "oobr" in p.name]


@pytest.mark.parametrize("path", FUZZ, ids=ids(FUZZ))
def test_fuzz_files_give_findings(path: Path) -> None:
    a = analysed(path)
    found = kinds(a)
    if "icmp6" in path.name:
        assert a.signalling == {}  # a Mobile Prefix Advertisement: ICMPv6 that is not ND, data
        return
    assert found["framing"] >= 1 and any("next header 62" in f.message for f in a.findings)
    assert found["truncated-packet"] >= 1


def test_fuzz_malformed_options_reported() -> None:
    total = sum(kinds(analysed(p))["malformed-option"] for p in FUZZ)
    assert total >= 8
