"""fama-analyze's handover breakdown (scapy_fama.latency) on a capture another tool made.

ns-3's MIPv6 (../shared/pcaps/ns3mipv6_prefix4-n4-i1.pcap, SOURCES.md): the MN solicits,
gets an RA, sends its BU from the new CoA, gets the BA, and a UDP flow goes through the
HA's tunnel both ways. tshark gives each packet's time; the breakdown must put every step
where tshark sees the packet, counted from the RS (a capture sees no link event).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scapy_fama.analysis.analyze import analyze
from scapy_fama.latency import BA, BU, COA, DOWN, RA, RS, UP
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
