"""Attachments (RS -> RA) across capture points: the interfaces of a pcapng, or files merged.

RSs and RAs are link-scoped (RFC 4861 §6.1.1-6.1.2: hop limit 255, never forwarded) and every
FAMA MN's RS has the same bytes (from ::, profile §2), so an identical RS at another capture
point is one transmission only when both points are on one link, which the RA that answers
shows (the same RA seen at both). Every capture is built here with Scapy; tshark, when
installed, reads each frame's capture point and time independently.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from scapy.layers.inet6 import HAO, ICMPv6ND_RA, ICMPv6ND_RS, ICMPv6NDOptPrefixInfo, IPv6, IPv6ExtHdrDestOpt
from scapy.layers.l2 import Ether
from scapy.packet import Packet
from scapy.utils import PcapNgWriter

from scapy_fama.analysis.analyze import Analysis, analyze
from scapy_fama.analysis.annotate import comments
from scapy_fama.analysis.batch import analyze_set
from scapy_fama.analysis.report import render
from scapy_fama.latency import BA, BU, COA, RA, RS
from scapy_fama.layers import BA as BAck
from scapy_fama.layers import BU as BUpdate
from scapy_fama.layers import RH2
from tests.analysis.test_analysis_pmip_rr import capture
from tests.corpus import TSHARK, run_tshark

DAR1 = "2001:db8:1::1"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "pcaps"
NS3 = [SHARED / "ns3mipv6_prefix1-n3-i1.pcap", SHARED / "ns3mipv6_prefix4-n4-i1.pcap"]
Frame = tuple[float, Packet, str]  # time, packet, the interface that captured it


def _rs() -> Packet:
    return IPv6(src="::", dst="ff02::2", hlim=255) / ICMPv6ND_RS()


def _ra(prefix: str) -> Packet:
    return (IPv6(src="fe80::1", dst="ff02::1", hlim=255) / ICMPv6ND_RA()
            / ICMPv6NDOptPrefixInfo(prefix=prefix, prefixlen=64, L=1, A=1, R=1))  # fmt: skip


def _registration(hoa: str, coa: str, at: float, where: str) -> list[Frame]:
    """A BU from ``coa`` for ``hoa`` at DAR1 and its BA 15 ms later."""
    return [(at, IPv6(src=coa, dst=DAR1) / IPv6ExtHdrDestOpt(options=[HAO(hoa=hoa)]) / BUpdate(seq=5, mhtime=100), where),
            (at + 0.015, IPv6(src=DAR1, dst=coa) / RH2(addresses=[hoa]) / BAck(seq=5, status=0, mhtime=100), where)]  # fmt: skip


def _pcapng(path: Path, frames: list[Frame]) -> Path:
    """Ethernet frames in time order, each on its interface (an Interface Description Block each)."""
    writer = PcapNgWriter(str(path))
    for at, pkt, where in sorted(frames, key=lambda f: f[0]):
        frame = Ether(bytes(Ether(src="02:00:00:00:00:01", dst="33:33:00:00:00:01") / pkt))
        frame.time, frame.sniffed_on = at, where
        writer.write(frame)
    writer.close()
    return path


def _tshark_points(path: Path) -> list[tuple[str, str, str]]:
    """(capture point, ms, ICMPv6 type) of every RS and RA, as tshark reads them."""
    rows = run_tshark(path, "-Y", "icmpv6.type == 133 || icmpv6.type == 134", "-T", "fields",
                      "-e", "frame.interface_name", "-e", "frame.time_epoch", "-e", "icmpv6.type")  # fmt: skip
    return [(w, f"{(float(t) - 100) * 1e3:.1f}", k) for w, t, k in (r.split("\t") for r in rows.splitlines())]


def _steps(paths: list[Path]) -> dict[str, dict[str, float]]:
    return {h.coa: {s.what: round(s.at * 1e3, 3) for s in h.breakdown.steps}
            for m in analyze(paths).mns for h in m.handovers if h.breakdown is not None}  # fmt: skip


HOA_A, COA_A, HOA_B, COA_B = "2001:db8:1::a", "2001:db8:2::a", "2001:db8:1::b", "2001:db8:3::b"
# MN A attaches to DAR2's link, MN B to DAR3's, both RSs from :: (the same bytes)
LINK2 = [(100.000, _rs(), "link2"), (100.002, _ra("2001:db8:2::1"), "link2"),
         *_registration(HOA_A, COA_A, 100.010, "link2")]  # fmt: skip
LINK3 = [(100.001, _rs(), "link3"), (100.003, _ra("2001:db8:3::1"), "link3"),
         *_registration(HOA_B, COA_B, 100.011, "link3")]  # fmt: skip


def _two_files(tmp_path: Path) -> list[Path]:
    """LINK2 and LINK3, a file each."""
    return [capture(tmp_path / f"{name}.pcap", [(t, p) for t, p, _ in frames])
            for name, frames in (("link2", LINK2), ("link3", LINK3))]  # fmt: skip


def _one_link(path: Path) -> Path:
    """MN A's link seen from both ends: "mn0" sees the RS first (0 ms) and the RA last, "dar2" the
    RS at 0.5 ms and the RA first (2 ms, as the DAR sends it); tshark checks where and when."""
    _pcapng(path, [(100.000, _rs(), "mn0"), (100.0005, _rs(), "dar2"), (100.002, _ra("2001:db8:2::1"), "dar2"),
                   (100.0025, _ra("2001:db8:2::1"), "mn0"), *_registration(HOA_A, COA_A, 100.010, "mn0")])  # fmt: skip
    if TSHARK is not None:
        assert _tshark_points(path) == [("mn0", "0.0", "133"), ("dar2", "0.5", "133"), ("dar2", "2.0", "134"),
                                        ("mn0", "2.5", "134")]  # fmt: skip
    return path


def test_an_rs_and_its_ra_captured_on_different_interfaces_are_one_attachment(tmp_path: Path) -> None:
    """The MN's RS is captured on "mn0" (the MN's side of its link) and only there, DAR2's RA on
    "dar2" (the DAR's side) and only there. They were left unpaired: the handover counted from
    its BU. By hand, in ms from the RS: RA 2, BU 10, BA 25."""
    hoa, coa = "2001:db8:1::a", "2001:db8:2::a"
    path = _pcapng(tmp_path / "split.pcapng", [
        (100.000, _rs(), "mn0"), (100.002, _ra("2001:db8:2::1"), "dar2"), *_registration(hoa, coa, 100.010, "mn0")])
    if TSHARK is not None:
        assert _tshark_points(path) == [("mn0", "0.0", "133"), ("dar2", "2.0", "134")]
    assert _steps([path]) == {coa: {RS: 0.0, RA: 2.0, COA: 10.0, BU: 10.0, BA: 25.0}}


def test_the_same_rs_and_ra_on_both_sides_of_one_link_are_one_attachment_from_the_rs_s_first_sighting(
        tmp_path: Path) -> None:  # fmt: skip
    """Both interfaces capture the MN's link: "mn0" sees the RS first (0 ms) and the RA last, "dar2"
    the RS at 0.5 ms and the RA first (2 ms, as the DAR sends it). One attachment, from the RS's
    first sighting: RS 0, RA 2 (its first sighting), BU 10, BA 25; the MN has one attachment."""
    path = _one_link(tmp_path / "both.pcapng")
    analysis = analyze([path])
    (node,) = analysis.mns
    assert len(node.attachments) == 1
    assert _steps([path]) == {COA_A: {RS: 0.0, RA: 2.0, COA: 10.0, BU: 10.0, BA: 25.0}}


def test_identical_rss_of_two_mns_on_two_links_in_merged_files_are_two_attachments(tmp_path: Path) -> None:
    """Two files, one per link: MN A solicits on DAR2's link at 100.000, MN B on DAR3's at 100.001,
    both from :: (the same bytes); each DAR answers on its own link. B's RS was taken for a copy of
    A's (one transmission at two capture points), so B's handover had no RS and no RA. By hand, in
    ms from each MN's own RS: RA 2, BU 10, BA 25 (A); RA 2, BU 10, BA 25 (B)."""
    link2, link3 = _two_files(tmp_path)
    if TSHARK is not None:  # the same RS bytes in both files
        raw = [run_tshark(p, "-Y", "icmpv6.type == 133", "-T", "fields", "-e", "ipv6.src", "-e", "data.data",
                          "-e", "icmpv6.checksum") for p in (link2, link3)]  # fmt: skip
        assert raw[0] == raw[1]
    expected = {RS: 0.0, RA: 2.0, COA: 10.0, BU: 10.0, BA: 25.0}
    assert _steps([link2, link3]) == {COA_A: expected, COA_B: expected}
    merged = analyze_set([link2, link3], 2, None, None, ())  # one process per file, merged: the same
    assert {h.coa: {s.what: round(s.at * 1e3, 3) for s in h.breakdown.steps}
            for m in merged.mns for h in m.handovers if h.breakdown is not None} == {COA_A: expected, COA_B: expected}


@pytest.mark.skipif(not all(p.exists() for p in NS3), reason="../shared/pcaps is missing")
def test_two_unrelated_captures_merged_keep_each_its_own_attachments() -> None:
    """Two ns-3 simulations (SOURCES.md), merged by time: each file is a capture point on its own
    link. The second file's RS (1.009 s) waits until its RA (4.100 s) while the first file sends
    RAs (3.372 s): an RA elsewhere must not answer an RS that gets its own, and no handover counts
    from an RA after its BU. Each MN's steps are those of its file read alone."""
    alone = {coa: steps for path in NS3 for coa, steps in _steps([path]).items()}
    assert len(alone) == 2 and all(RA in steps for steps in alone.values())
    assert _steps(NS3) == alone


def _printed_counts(analysis: Analysis) -> tuple[str, list[str]]:
    """The signalling line and the summary row (frames ... seen twice, not read) fama-analyze prints."""
    console = Console(width=200, record=True, file=io.StringIO())
    render(analysis, console)
    lines = console.export_text().splitlines()
    row = next(line for line in lines if line.startswith("│"))
    return next(line for line in lines if line.startswith("signalling: ")), row.strip("│ ").split()[::2]


def test_identical_rss_on_two_links_count_as_two_rss_and_one_rs_seen_from_both_ends_as_one(tmp_path: Path) -> None:
    """MN A solicits on DAR2's link, MN B on DAR3's, both from :: (the same bytes): two capture
    points, as two pcapng interfaces and as two files merged. The breakdown counted two
    attachments, but the signalling counts said "RS 1" and the summary one RS "seen twice". The
    counts now say two RSs, as many as the attachments, and no copy; the RS of one MN seen from
    both ends of its one link stays one RS, its second sighting a copy. By hand: 8 frames,
    RS 2, RA 2, BU 2, BA 2; A's RS 0 ms, RA 2 ms; B's RS 1 ms, RA 3 ms (from 100 s)."""
    both, files = _pcapng(tmp_path / "two-links.pcapng", LINK2 + LINK3), _two_files(tmp_path)
    if TSHARK is not None:
        assert _tshark_points(both) == [("link2", "0.0", "133"), ("link3", "1.0", "133"), ("link2", "2.0", "134"),
                                        ("link3", "3.0", "134")]  # fmt: skip
    for analysis in (analyze([both]), analyze(files), analyze_set(files, 2, None, None, ())):
        attachments = [(round(a.time * 1e3 - 1e5, 3), round((a.ra_time or 0) * 1e3 - 1e5, 3))
                       for m in analysis.mns for a in m.attachments]  # fmt: skip
        assert sorted(attachments) == [(0.0, 2.0), (1.0, 3.0)]
        assert analysis.signalling == {"RS": 2, "RA": 2, "BU": 2, "BA": 2} == analysis.sightings
        assert (analysis.totals.signalling, analysis.totals.duplicates) == (8, 0)
        assert _printed_counts(analysis) == ("signalling: BA 2, BU 2, RA 2, RS 2", ["8", "8", "8", "0", "0", "0", "0", "0"])

    analysis = analyze([_one_link(tmp_path / "one-link.pcapng")])
    assert [len(m.attachments) for m in analysis.mns] == [1]
    assert analysis.signalling == {"RS": 1, "RA": 1, "BU": 1, "BA": 1}
    assert (analysis.totals.signalling, analysis.totals.duplicates) == (4, 2)


def test_annotate_names_each_rs_by_the_attachment_it_became(tmp_path: Path) -> None:
    """--annotate's comments follow the attachments. Two links merged (files): B's RS on link3 was
    commented as "the same packet as" A's RS, answered by A's RA on link2; it is its own RS,
    answered by link3's RA. One link seen from both ends, the RA first seen on the DAR's side: both
    sightings of the RS said "no RA answered it", though its RA (#3) is seen at both points."""
    notes = comments(analyze(_two_files(tmp_path), index=True))
    assert notes[(0, 1)][:2] == ["fama-analyze: RS :: -> ff02::2",
                                 "attachment: answered by RA 0#2, prefix 2001:db8:2::/64, DAR 2001:db8:2::1"]
    assert notes[(1, 1)][:2] == ["fama-analyze: RS :: -> ff02::2",
                                 "attachment: answered by RA 1#2, prefix 2001:db8:3::/64, DAR 2001:db8:3::1"]
    notes = comments(analyze([_one_link(tmp_path / "one-link.pcapng")], index=True))
    answered = "attachment: answered by RA #3, prefix 2001:db8:2::/64, DAR 2001:db8:2::1"
    assert notes[(0, 1)][:2] == ["fama-analyze: RS :: -> ff02::2", answered]
    assert notes[(0, 2)][:2] == ["fama-analyze: RS :: -> ff02::2 (the same packet as #1, at another capture point)",
                                 answered]  # fmt: skip
