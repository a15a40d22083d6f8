"""fama-analyze's handover breakdown (scapy_fama.latency) on captures another tool made, and on
awkward ones made here whose every moment is written by hand.

ns-3's MIPv6 (../shared/pcaps/ns3mipv6_prefix4-n4-i1.pcap, SOURCES.md): the MN solicits,
gets an RA, sends its BU from the new CoA, gets the BA, and a UDP flow goes through the
HA's tunnel both ways. tshark gives each packet's time; the breakdown must put every step
where tshark sees the packet, counted from the RS (a capture sees no link event).
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console
from scapy.layers.inet import UDP
from scapy.layers.inet6 import HAO, ICMPv6ND_RA, ICMPv6ND_RS, ICMPv6NDOptPrefixInfo, IPv6, IPv6ExtHdrDestOpt
from scapy.packet import Packet, Raw

from scapy_fama.analysis.analyze import analyze
from scapy_fama.latency import AGAIN, BA, BU, COA, COT, COTI, DOWN, RA, REFUSAL, RS, UP, table
from scapy_fama.layers import BA as BAck
from scapy_fama.layers import BU as BUpdate
from scapy_fama.layers import RH2, CoT, CoTI
from tests.analysis.test_analysis_pmip_rr import capture
from tests.corpus import TSHARK, TSHARK_MISSING, run_tshark

PCAP = Path(__file__).resolve().parents[3] / "shared" / "pcaps" / "ns3mipv6_prefix4-n4-i1.pcap"


@pytest.mark.skipif(not PCAP.exists(), reason=f"{PCAP} is missing")
@pytest.mark.skipif(TSHARK is None, reason=TSHARK_MISSING)
def test_an_ns3_handover_step_by_step_puts_every_step_where_tshark_sees_its_packet() -> None:
    fields = ("frame.time_relative", "ipv6.src", "ipv6.dst", "ipv6.nxt", "icmpv6.type", "mip6.mhtype")
    rows = [line.split("\t") for line in run_tshark(PCAP, "-T", "fields", *(x for f in fields for x in ("-e", f)))
            .splitlines()]  # fmt: skip
    frames = [dict(zip(fields, row)) for row in rows]
    rs = next(f for f in frames if f["icmpv6.type"] == "133")
    t0 = float(rs["frame.time_relative"])

    def first(test: object) -> dict[str, str]:
        return next(f for f in frames if float(f["frame.time_relative"]) >= t0 and test(f))  # type: ignore[operator]

    bu = first(lambda f: f["mip6.mhtype"] == "5")
    ba = first(lambda f: f["mip6.mhtype"] == "6")
    coa, ha = bu["ipv6.src"], bu["ipv6.dst"]
    # IPv6-in-IPv6: tshark lists the outer and the inner header's fields, comma-separated
    down = first(lambda f: f["ipv6.nxt"].startswith("41,") and f["ipv6.src"].split(",")[0] == ha)
    up = first(lambda f: f["ipv6.nxt"].startswith("41,") and f["ipv6.src"].split(",")[0] == coa)
    truth = {RS: rs, RA: first(lambda f: f["icmpv6.type"] == "134"), COA: bu, BU: bu, BA: ba, DOWN: down, UP: up}
    expected = {what: round((float(f["frame.time_relative"]) - t0) * 1e3, 3) for what, f in truth.items()}

    (node,) = analyze([PCAP]).mns
    (handover,) = [h for h in node.handovers if h.coa == coa]
    assert handover.breakdown is not None
    steps = handover.breakdown.as_dict()["steps"]
    assert {s["what"]: s["at_ms"] for s in steps} == expected
    assert [s["what"] for s in steps] == [RS, RA, COA, BU, BA, DOWN, UP]
    assert {s["dar"] for s in steps if s["what"] == BA} == {ha}
    assert handover.breakdown.as_dict()["to_data_ms"] == expected[DOWN]  # the only binding's data is back


HOA, COA1, DAR1, DAR2, CN = "2001:db8:1::a", "2001:db8:2::a", "2001:db8:1::1", "2001:db8:2::1", "2001:db8:ff::c"


def _tunnelled(outer: tuple[str, str], inner: tuple[str, str]) -> Packet:
    return IPv6(src=outer[0], dst=outer[1]) / IPv6(src=inner[0], dst=inner[1]) / UDP(sport=7, dport=7) / Raw(bytes(20))


def _attach(at: float) -> list[tuple[float, Packet]]:
    """An RS at ``at`` and DAR2's RA (prefix 2001:db8:2::/64, R bit) 2 ms later."""
    return [(at, IPv6(src="fe80::a", dst="ff02::2", hlim=255) / ICMPv6ND_RS()),
            (at + 0.002, IPv6(src="fe80::2", dst="ff02::1", hlim=255) / ICMPv6ND_RA()
             / ICMPv6NDOptPrefixInfo(prefix=DAR2, prefixlen=64, L=1, A=1, R=1))]  # fmt: skip


def _bu(seq: int) -> Packet:
    return IPv6(src=COA1, dst=DAR1) / IPv6ExtHdrDestOpt(options=[HAO(hoa=HOA)]) / BUpdate(seq=seq, mhtime=100)


def _ba(seq: int, status: int = 0) -> Packet:
    return IPv6(src=DAR1, dst=COA1) / RH2(addresses=[HOA]) / BAck(seq=seq, status=status, mhtime=100)


def test_a_capture_stored_out_of_time_order_is_broken_down_by_its_timestamps(tmp_path: Path) -> None:
    """The MN moves to DAR2's link and keeps HoA at DAR1. The file holds the BA before its BU and a
    later tunnelled packet before the first one (as a pcapng of several interfaces flushed apart
    holds them); tshark orders them by frame.time_epoch, and so must the breakdown. By hand, in ms
    from the RS: RA 2, CoA usable and BU 10, BA 25, first packet DAR1 -> MN 30, MN -> DAR1 40."""
    pcap = capture(tmp_path / "disorder.pcap", [
        *_attach(100.000),
        (100.025, _ba(10)),
        (100.010, _bu(10)),
        (100.060, _tunnelled((DAR1, COA1), (CN, HOA))),
        (100.030, _tunnelled((DAR1, COA1), (CN, HOA))),
        (100.040, _tunnelled((COA1, DAR1), (HOA, CN))),
    ])  # fmt: skip
    expected = {RS: 0.0, RA: 2.0, COA: 10.0, BU: 10.0, BA: 25.0, DOWN: 30.0, UP: 40.0}
    if TSHARK is not None:  # the independent reading of the same frames
        rows = [r.split("\t") for r in run_tshark(pcap, "-T", "fields", "-e", "frame.time_epoch").splitlines()]
        assert [round((float(t) - 100) * 1e3, 3) for (t,) in rows] == [0.0, 2.0, 25.0, 10.0, 60.0, 30.0, 40.0]
    analysis = analyze([pcap])
    assert [f.kind for f in analysis.findings] == []  # the BA answers the BU stamped before it
    (node,) = analysis.mns
    (handover,) = node.handovers
    assert handover.kept == [HOA] and handover.failed == []
    assert handover.breakdown is not None
    found = handover.breakdown.as_dict()
    assert {s["what"]: s["at_ms"] for s in found["steps"]} == expected
    assert (found["to_last_ba_ms"], found["to_data_ms"]) == (25.0, 30.0)


def test_a_bu_refused_135_and_sent_again_is_a_refusal_not_a_bu_without_answer(tmp_path: Path) -> None:
    """DAR1 answers the MN's BU (seq 10) with 135, naming its last accepted seq 50; the MN sends
    the BU again with seq 51 (profile §7), accepted. By hand, in ms from the RS: BU 10, BA 135 at
    30 (20 of registration), the BU again at 31 (1 to signal again: it was answered, not lost),
    BA 0 at 50 (19 of registration, from the second BU), the first packet DAR1 -> MN at 60."""
    pcap = capture(tmp_path / "refused135.pcap", [
        *_attach(100.000), (100.010, _bu(10)), (100.030, _ba(50, 135)), (100.031, _bu(51)), (100.050, _ba(51)),
        (100.060, _tunnelled((DAR1, COA1), (CN, HOA))),
    ])  # fmt: skip
    (node,) = analyze([pcap]).mns
    (handover,) = node.handovers
    assert handover.kept == [HOA] and handover.breakdown is not None
    found = handover.breakdown.as_dict()
    table = [(s["what"], s["status"], s["at_ms"], s["since_ms"], s["phase"]) for s in found["steps"] if s["hoa"]]
    assert table == [
        (BU, None, 10.0, 0.0, "to signal"), (REFUSAL, 135, 30.0, 20.0, "registration"),
        (AGAIN, None, 31.0, 1.0, "to signal again"), (BA, 0, 50.0, 19.0, "registration"),
        (DOWN, None, 60.0, 10.0, "resumption DAR -> MN"),
    ]  # fmt: skip
    assert (found["to_last_ba_ms"], found["to_data_ms"]) == (50.0, 60.0)


def test_a_handover_whose_bu_is_refused_148_has_no_time_to_its_last_ba(tmp_path: Path) -> None:
    """The only BU of the handover is answered 148 (profile §7: reported, no retry): its BA step
    says so, and the handover has no time to its last BA, as it has no duration (the registration
    failed); by hand, the BA 148 comes 20 ms after the BU, 30 ms after the RS."""
    pcap = capture(tmp_path / "refused148.pcap", [*_attach(100.000), (100.010, _bu(10)), (100.030, _ba(10, 148))])
    (node,) = analyze([pcap]).mns
    (handover,) = node.handovers
    assert handover.failed == [HOA] and handover.duration is None and handover.breakdown is not None
    found = handover.breakdown.as_dict()
    assert [(s["what"], s["status"], s["at_ms"], s["since_ms"]) for s in found["steps"] if s["hoa"]] == [
        (BU, None, 10.0, 0.0), (BA, 148, 30.0, 20.0)]  # fmt: skip
    assert (found["to_last_ba_ms"], found["to_data_ms"]) == (None, None)


def test_two_mns_soliciting_from_link_local_addresses_get_the_ra_sent_to_each(tmp_path: Path) -> None:
    """Two MNs (not FAMA's: they solicit from their link-local addresses) move to DAR2's link at
    once; DAR2 answers each RS with a unicast RA to its source (RFC 4861 §6.2.6), the second
    MN's first. By hand, in ms from each MN's own RS: A (RS 100.000, RA 100.003) RA 3, BU 10,
    BA 25, down 30, up 40; B (RS 100.001, RA 100.002) RA 1, BU 11, BA 26, down 30, up 44."""
    hoa_b, coa_b = "2001:db8:1::b", "2001:db8:2::b"

    def exchange(hoa: str, coa: str, at: float) -> list[tuple[float, Packet]]:
        return [(at, IPv6(src=coa, dst=DAR1) / IPv6ExtHdrDestOpt(options=[HAO(hoa=hoa)]) / BUpdate(seq=7, mhtime=100)),
                (at + 0.015, IPv6(src=DAR1, dst=coa) / RH2(addresses=[hoa]) / BAck(seq=7, status=0, mhtime=100))]  # fmt: skip

    def ra(to: str, at: float) -> tuple[float, Packet]:
        return (at, IPv6(src="fe80::2", dst=to, hlim=255) / ICMPv6ND_RA()
                / ICMPv6NDOptPrefixInfo(prefix=DAR2, prefixlen=64, L=1, A=1, R=1))  # fmt: skip

    pcap = capture(tmp_path / "two.pcap", sorted([
        (100.000, IPv6(src="fe80::a", dst="ff02::2", hlim=255) / ICMPv6ND_RS()),
        (100.001, IPv6(src="fe80::b", dst="ff02::2", hlim=255) / ICMPv6ND_RS()),
        ra("fe80::b", 100.002), ra("fe80::a", 100.003),
        *exchange(HOA, COA1, 100.010), *exchange(hoa_b, coa_b, 100.012),
        (100.030, _tunnelled((DAR1, COA1), (CN, HOA))), (100.031, _tunnelled((DAR1, coa_b), (CN, hoa_b))),
        (100.040, _tunnelled((COA1, DAR1), (HOA, CN))), (100.045, _tunnelled((coa_b, DAR1), (hoa_b, CN))),
    ], key=lambda frame: frame[0]))  # fmt: skip
    found = {h.coa: h.breakdown.as_dict() for m in analyze([pcap]).mns for h in m.handovers if h.breakdown}
    assert {coa: {s["what"]: s["at_ms"] for s in b["steps"]} for coa, b in found.items()} == {
        COA1: {RS: 0.0, RA: 3.0, COA: 10.0, BU: 10.0, BA: 25.0, DOWN: 30.0, UP: 40.0},
        coa_b: {RS: 0.0, RA: 1.0, COA: 11.0, BU: 11.0, BA: 26.0, DOWN: 30.0, UP: 44.0},
    }


def test_a_care_of_test_whose_first_cot_was_lost_runs_to_the_cot_of_the_coti_sent_again(tmp_path: Path) -> None:
    """Secure mode (profile §5): the MN's first CoTI to DAR1 gets no CoT, it sends another a second
    later, whose CoT comes, then the BU. By hand, in ms from the RS: CoTI 10, CoT 1025 (1015 of
    care-of test), BU 1026 (1 to register), BA 1041 (15 of registration)."""
    pcap = capture(tmp_path / "coti-again.pcap", [
        *_attach(100.000),
        (100.010, IPv6(src=COA1, dst=DAR1) / CoTI(cookie=b"cookie01")),
        (101.010, IPv6(src=COA1, dst=DAR1) / CoTI(cookie=b"cookie02")),
        (101.025, IPv6(src=DAR1, dst=COA1) / CoT(index=3, cookie=b"cookie02", token=b"tokentok")),
        (101.026, _bu(10)), (101.041, _ba(10)),
    ])  # fmt: skip
    (node,) = analyze([pcap]).mns
    (handover,) = node.handovers
    assert handover.breakdown is not None
    steps = handover.breakdown.as_dict()["steps"]
    assert [(s["what"], s["at_ms"], s["since_ms"], s["phase"]) for s in steps if s["hoa"]] == [
        (COTI, 10.0, 0.0, "to signal"), (COT, 1025.0, 1015.0, "care-of test"), (BU, 1026.0, 1.0, "to register"),
        (BA, 1041.0, 15.0, "registration"),
    ]  # fmt: skip


def test_a_capture_that_starts_after_the_move_holds_no_handover_breakdown_at_the_first_refresh(tmp_path: Path) -> None:
    """The capture starts as DAR1's BA reaches the MN (its BU was sent before): the tunnel of HoA
    carries a datagram each way every 100 ms from 100.03 s on, and the first BU seen from the CoA
    is the refresh at 110 s. That BU is no handover's: the binding was there 10 s before it, so
    there is no step by step (the refresh is not 'CoA usable, BU, BA 20 ms later')."""
    frames = [(100.025, _ba(10)), (110.000, _bu(11)), (110.020, _ba(11))]
    for n in range(120):
        at = 100.03 + n / 10
        frames += [(at, _tunnelled((DAR1, COA1), (CN, HOA))), (at + 0.005, _tunnelled((COA1, DAR1), (HOA, CN)))]
    pcap = capture(tmp_path / "late.pcap", sorted(frames, key=lambda frame: frame[0]))
    (node,) = analyze([pcap]).mns
    (handover,) = node.handovers
    assert handover.coa == COA1 and handover.breakdown is None


def test_data_is_back_when_every_kept_binding_s_tunnel_carried_a_packet_a_released_one_has_none(tmp_path: Path) -> None:
    """On DAR3's link the MN keeps HoA at DAR1 and releases HoA2 at DAR2 (a de-registration from
    the new CoA, profile §3: no tunnel after it). By hand, in ms from the RS: BA from DAR1 25, from
    DAR2 26, the first packet DAR1 -> MN 30: data is back at 30 ms, the last BA at 26."""
    hoa2, coa3, dar3 = "2001:db8:2::a", "2001:db8:3::a", "2001:db8:3::1"
    pcap = capture(tmp_path / "release.pcap", [
        (100.000, IPv6(src="fe80::a", dst="ff02::2", hlim=255) / ICMPv6ND_RS()),
        (100.002, IPv6(src="fe80::3", dst="ff02::1", hlim=255) / ICMPv6ND_RA()
         / ICMPv6NDOptPrefixInfo(prefix=dar3, prefixlen=64, L=1, A=1, R=1)),
        (100.010, IPv6(src=coa3, dst=DAR1) / IPv6ExtHdrDestOpt(options=[HAO(hoa=HOA)]) / BUpdate(seq=10, mhtime=100)),
        (100.010, IPv6(src=coa3, dst=DAR2) / IPv6ExtHdrDestOpt(options=[HAO(hoa=hoa2)]) / BUpdate(seq=20, mhtime=0)),
        (100.025, IPv6(src=DAR1, dst=coa3) / RH2(addresses=[HOA]) / BAck(seq=10, status=0, mhtime=100)),
        (100.026, IPv6(src=DAR2, dst=coa3) / RH2(addresses=[hoa2]) / BAck(seq=20, status=0, mhtime=0)),
        (100.030, _tunnelled((DAR1, coa3), (CN, HOA))),
    ])  # fmt: skip
    (node,) = analyze([pcap]).mns
    (handover,) = node.handovers
    assert (handover.kept, handover.released) == ([HOA], [hoa2]) and handover.breakdown is not None
    found = handover.breakdown.as_dict()
    assert (found["to_last_ba_ms"], found["to_data_ms"]) == (26.0, 30.0)


def test_a_later_handover_whose_rs_the_capture_lacks_takes_no_other_mn_s_rs(tmp_path: Path) -> None:
    """MN A solicits (RS 100.000, RA 100.002) and registers from its CoA at 100.010; MN B's first BU
    from DAR2's prefix comes 20 s later, its RS not in the capture. By hand: A counts from its RS
    (RA 2, BU 10 ms); B's breakdown has no RS and counts from its BU."""
    hoa_b, coa_b = "2001:db8:1::b", "2001:db8:2::b"
    pcap = capture(tmp_path / "late-b.pcap", [
        *_attach(100.000), (100.010, _bu(10)), (100.025, _ba(10)),
        (120.000, IPv6(src=coa_b, dst=DAR1) / IPv6ExtHdrDestOpt(options=[HAO(hoa=hoa_b)]) / BUpdate(seq=3, mhtime=100)),
        (120.015, IPv6(src=DAR1, dst=coa_b) / RH2(addresses=[hoa_b]) / BAck(seq=3, status=0, mhtime=100)),
    ])  # fmt: skip
    found = {h.coa: h.breakdown.as_dict() for m in analyze([pcap]).mns for h in m.handovers if h.breakdown}
    assert {coa: {s["what"]: s["at_ms"] for s in b["steps"]} for coa, b in found.items()} == {
        COA1: {RS: 0.0, RA: 2.0, COA: 10.0, BU: 10.0, BA: 25.0},
        coa_b: {COA: 0.0, BU: 0.0, BA: 15.0},
    }


def test_a_return_to_an_earlier_coa_takes_no_rs_from_before_the_mn_left_it(tmp_path: Path) -> None:
    """The MN solicits on DAR2's link (RS 100.000, RA 100.002) and registers from CoA1 at 100.010,
    moves to DAR3's link (its BU from there at 102.000) and back to DAR2's at 104.000: the
    capture holds no RS of either later move. The RS of 100.000 came before the MN left CoA1, so
    by hand: the first handover counts from it (RA 2, BU 10, BA 25 ms), the return from its BU
    (BA 15 ms), not 4 s after an RS of another stay."""
    coa3 = "2001:db8:3::a"
    pcap = capture(tmp_path / "return.pcap", [
        *_attach(100.000), (100.010, _bu(10)), (100.025, _ba(10)),
        (102.000, IPv6(src=coa3, dst=DAR1) / IPv6ExtHdrDestOpt(options=[HAO(hoa=HOA)]) / BUpdate(seq=11, mhtime=100)),
        (102.015, IPv6(src=DAR1, dst=coa3) / RH2(addresses=[HOA]) / BAck(seq=11, status=0, mhtime=100)),
        (104.000, _bu(12)), (104.015, _ba(12)),
    ])  # fmt: skip
    (node,) = analyze([pcap]).mns
    steps = [(h.coa, {s.what: round(s.at * 1e3, 3) for s in h.breakdown.steps}) for h in node.handovers if h.breakdown]
    assert steps == [
        (COA1, {RS: 0.0, RA: 2.0, COA: 10.0, BU: 10.0, BA: 25.0}),
        (coa3, {COA: 0.0, BU: 0.0, BA: 15.0}),
        (COA1, {COA: 0.0, BU: 0.0, BA: 15.0}),
    ]


def _tshark_times(pcap: Path, filters: dict[str, str]) -> dict[str, float]:
    """Per name, the time (frame.time_epoch) of the first frame tshark's display filter selects."""
    return {name: float(run_tshark(pcap, "-Y", f, "-T", "fields", "-e", "frame.time_epoch").split()[0])
            for name, f in filters.items()}  # fmt: skip


def test_a_quick_return_to_an_earlier_coa_finds_the_first_tunnelled_packets_of_the_return(tmp_path: Path) -> None:
    """A -> B -> A within half a second: the MN registers CoA1 (DAR2's link), CoA3 (DAR3's) at
    102.0, CoA1 again at 102.3, and a datagram crosses DAR1's tunnel each way every 20 ms, to and
    from whichever CoA is registered. CoA1's streams pause only 0.3 s (less than a silence), so
    their first packets after the return were taken for the old stay's: the return had no
    first-packet steps. By hand, in ms from the return's RS: BA 25, DAR1 -> MN 30, MN -> DAR1 35."""
    coa3, dar3 = "2001:db8:3::a", "2001:db8:3::1"
    stays = [(100.0, COA1, DAR2, 10), (102.0, coa3, dar3, 11), (102.3, COA1, DAR2, 12)]
    frames: list[tuple[float, Packet]] = []
    for k, (at, coa, dar, seq) in enumerate(stays):
        frames += [(at, IPv6(src="::", dst="ff02::2", hlim=255) / ICMPv6ND_RS()),
                   (at + 0.002, IPv6(src="fe80::1", dst="ff02::1", hlim=255) / ICMPv6ND_RA()
                    / ICMPv6NDOptPrefixInfo(prefix=dar, prefixlen=64, L=1, A=1, R=1)),
                   (at + 0.010, IPv6(src=coa, dst=DAR1) / IPv6ExtHdrDestOpt(options=[HAO(hoa=HOA)])
                    / BUpdate(seq=seq, mhtime=100)),
                   (at + 0.025, IPv6(src=DAR1, dst=coa) / RH2(addresses=[HOA]) / BAck(seq=seq, status=0, mhtime=100))]
        until = stays[k + 1][0] + 0.025 if k + 1 < len(stays) else 103.0  # the DAR tunnels to it until the next BA
        frames += [(at + 0.030 + n * 0.02, _tunnelled((DAR1, coa), (CN, HOA)))
                   for n in range(int((until - at - 0.030) / 0.02) + 1)]
        mn_until = stays[k + 1][0] if k + 1 < len(stays) else 103.0  # the MN sends from it until it leaves
        frames += [(at + 0.035 + n * 0.02, _tunnelled((coa, DAR1), (HOA, CN)))
                   for n in range(int((mn_until - at - 0.035) / 0.02))]  # fmt: skip
    pcap = capture(tmp_path / "aba.pcap", sorted(frames, key=lambda frame: frame[0]))
    expected = {RS: 0.0, RA: 2.0, COA: 10.0, BU: 10.0, BA: 25.0, DOWN: 30.0, UP: 35.0}
    if TSHARK is not None:  # the return's packets, read by tshark
        t = _tshark_times(pcap, {
            RS: "icmpv6.type == 133 && frame.time_epoch >= 102.3", RA: "icmpv6.type == 134 && frame.time_epoch >= 102.3",
            BU: f"mip6.mhtype == 5 && ipv6.src == {COA1} && frame.time_epoch >= 102.3",
            BA: f"mip6.mhtype == 6 && ipv6.dst == {COA1} && frame.time_epoch >= 102.3",
            DOWN: f"ipv6.nxt == 41 && ipv6.dst == {COA1} && frame.time_epoch >= 102.3",
            UP: f"ipv6.nxt == 41 && ipv6.src == {COA1} && frame.time_epoch >= 102.3",
        })  # fmt: skip
        assert {w: round((t[w] - t[RS]) * 1e3, 3) for w in t} == {w: v for w, v in expected.items() if w != COA}
    (node,) = analyze([pcap]).mns
    assert [h.coa for h in node.handovers] == [COA1, coa3, COA1]
    found = [h.breakdown.as_dict() for h in node.handovers if h.breakdown is not None]
    assert [{s["what"]: s["at_ms"] for s in b["steps"]} for b in found] == [expected] * 3
    assert found[2]["to_data_ms"] == 30.0


def test_the_first_secure_mode_handover_shows_the_bu_refused_137_before_its_care_of_test(tmp_path: Path) -> None:
    """DAR1 requires a care-of test (profile §5); the MN has not learnt it yet: its first BU (no
    care-of token) is refused 137 (§6 step 4), it runs the CoTI/CoT exchange and sends the BU
    again. The breakdown hid that BU and that refusal, and named the 16 ms from the CoA to the
    CoTI "to signal". By hand, in ms from the RS: BU 10, BA 137 at 25 (15 of registration), CoTI
    26 (1 to test the CoA), CoT 41 (15 of care-of test), BU 42 (1 to register), BA 57, data 60."""
    pcap = capture(tmp_path / "secure-first.pcap", [
        *_attach(100.000), (100.010, _bu(10)), (100.025, _ba(10, 137)),
        (100.026, IPv6(src=COA1, dst=DAR1) / CoTI(cookie=b"cookie01")),
        (100.041, IPv6(src=DAR1, dst=COA1) / CoT(index=3, cookie=b"cookie01", token=b"tokentok")),
        (100.042, _bu(11)), (100.057, _ba(11)), (100.060, _tunnelled((DAR1, COA1), (CN, HOA))),
    ])  # fmt: skip
    if TSHARK is not None:  # MH types as tshark reads them: BU 5, BA 6 (its status), CoTI 2, CoT 4
        rows = run_tshark(pcap, "-Y", "mipv6", "-T", "fields", "-e", "mip6.mhtype", "-e", "mip6.ba.status").split("\n")
        assert [r.split("\t") for r in rows if r] == [["5", ""], ["6", "137"], ["2", ""], ["4", ""], ["5", ""], ["6", "0"]]
    (node,) = analyze([pcap]).mns
    (handover,) = node.handovers
    assert handover.kept == [HOA] and handover.breakdown is not None
    found = handover.breakdown.as_dict()
    assert [(s["what"], s["status"], s["at_ms"], s["since_ms"], s["phase"]) for s in found["steps"] if s["hoa"]] == [
        (BU, None, 10.0, 0.0, "to signal"), (REFUSAL, 137, 25.0, 15.0, "registration"),
        (COTI, None, 26.0, 1.0, "to test the CoA"), (COT, None, 41.0, 15.0, "care-of test"),
        (BU, None, 42.0, 1.0, "to register"), (BA, 0, 57.0, 15.0, "registration"),
        (DOWN, None, 60.0, 3.0, "resumption DAR -> MN"),
    ]  # fmt: skip
    assert (found["to_last_ba_ms"], found["to_data_ms"]) == (57.0, 60.0)
    shown = Console(width=200, record=True, file=io.StringIO())
    shown.print(table(found, "handover"))  # what the user reads: the step by its message and status
    assert [line.split("│")[1].strip() for line in shown.export_text().splitlines() if "2001:db8:1::a" in line][:3] == [
        "BU", "BA refused (137)", "CoTI"]  # fmt: skip


def test_a_first_secure_mode_handover_whose_ba_137_the_capture_lacks_times_its_coti_from_the_bu(
        tmp_path: Path) -> None:  # fmt: skip
    """As above, but the capture lacks the BA 137 (the MN got it: it tested the CoA, which it does
    only after a 137, profile §5; a BU with no answer it sends again, §7). The CoTI was labelled
    "to signal" from the refused BU: the 16 ms hold that BU's registration and the MN's turn to
    the test. By hand, in ms from the RS: BU 10, CoTI 26 (16: registration, to test the CoA), CoT
    41 (15), BU 42 (1 to register), BA 57 (15), data 60 (3); tshark gives each packet's time."""
    pcap = capture(tmp_path / "secure-first-no-137.pcap", [
        *_attach(100.000), (100.010, _bu(10)),
        (100.026, IPv6(src=COA1, dst=DAR1) / CoTI(cookie=b"cookie01")),
        (100.041, IPv6(src=DAR1, dst=COA1) / CoT(index=3, cookie=b"cookie01", token=b"tokentok")),
        (100.042, _bu(11)), (100.057, _ba(11)), (100.060, _tunnelled((DAR1, COA1), (CN, HOA))),
    ])  # fmt: skip
    expected = [(BU, None, 10.0), (COTI, None, 26.0), (COT, None, 41.0), (BU, None, 42.0), (BA, 0, 57.0),
                (DOWN, None, 60.0)]  # fmt: skip
    if TSHARK is not None:  # the MH type (BU 5, BA 6, CoTI 2, CoT 4) and BA status of each packet, at its time
        rows = run_tshark(pcap, "-T", "fields", "-e", "frame.time_epoch", "-e", "mip6.mhtype", "-e", "ipv6.nxt",
                          "-e", "mip6.ba.status").splitlines()  # fmt: skip
        t0 = float(rows[0].split("\t")[0])  # the RS
        seen = [(round((float(t) - t0) * 1e3, 3), mh, nxt, status) for t, mh, nxt, status in (r.split("\t") for r in rows)]
        assert [(at, mh, status or None) for at, mh, nxt, status in seen if mh] == [
            (10.0, "5", None), (26.0, "2", None), (41.0, "4", None), (42.0, "5", None), (57.0, "6", "0")]  # fmt: skip
        assert [at for at, _, nxt, _ in seen if nxt.startswith("41")] == [60.0]  # the first tunnelled packet
    (node,) = analyze([pcap]).mns
    (handover,) = node.handovers
    assert handover.kept == [HOA] and handover.breakdown is not None
    found = handover.breakdown.as_dict()
    assert [(s["what"], s["status"], s["at_ms"]) for s in found["steps"] if s["hoa"]] == expected
    assert [(s["since_ms"], s["phase"]) for s in found["steps"] if s["hoa"]] == [
        (0.0, "to signal"), (16.0, "registration, to test the CoA"), (15.0, "care-of test"), (1.0, "to register"),
        (15.0, "registration"), (3.0, "resumption DAR -> MN"),
    ]  # fmt: skip
    assert (found["to_last_ba_ms"], found["to_data_ms"]) == (57.0, 60.0)
