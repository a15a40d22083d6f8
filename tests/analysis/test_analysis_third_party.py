"""fama-analyze on captures it did not make (../shared/pcaps, provenance in SOURCES.md).

* Every capture is analysed without an exception; frame counts equal tshark's.
* The BU and BA counts equal tshark's (``mip6.mhtype`` over every frame: tshark also
  dissects the fuzz files' MHs behind next header 62, and so does the analyser).
* The documented defects are findings: tcpdump_ipv6_mobility_1's 16 zero checksums, the
  ns-3 HAO (and RH2) placed after the MH with a Header Len of 0, the OAI captures'
  pre-RFC 5213 option of length 16 where type 10 is defined with 8, the fuzz files'
  option lengths and old next header.
* The ns-3 BU and BA pair up (through the misplaced HAO), giving one handover.
"""

from __future__ import annotations

from collections import Counter
from functools import cache
from pathlib import Path

import pytest

from scapy_fama.analysis.analyze import Analysis, analyze
from tests.corpus import TSHARK, TSHARK_MISSING, run_tshark

PCAP_DIR = Path(__file__).resolve().parents[3] / "shared" / "pcaps"
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
    assert (a.signalling.get("BU", 0), a.signalling.get("BA", 0)) == (types[5], types[6])


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


@pytest.mark.parametrize("name", [p.name for p in PCAPS if p.name.startswith("oai-")])
def test_oai_malformed_option_and_tunnels(name: str) -> None:
    """PMIPv6 proxy BUs (no HAO: they register their own source) and LMA-MAG tunnels."""
    a = analysed(PCAP_DIR / name)
    malformed = [f for f in a.findings if f.kind == "malformed-option"]
    assert malformed and all("length 16, defined as 8" in f.message for f in malformed)
    assert sum(f.count for f in malformed) == a.signalling["BU"] + a.signalling["BA"]
    assert kinds(a)["checksum-wrong"] == kinds(a)["checksum-zero"] == 0  # SOURCES.md: correct checksums
    assert sum(c.packets for _, c in a.other_tunnels) == a.totals.tunnelled  # PMIPv6 tunnels: no FAMA binding


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
