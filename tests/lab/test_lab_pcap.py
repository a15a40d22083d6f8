"""pcaps/lab.pcap, captured on the lab's real links (DAR 1's core side) by scripts/make_lab_pcap.py,
against its truth from the MN's own log: fama-analyze finds the same BUs, BA statuses, PHKTs and
handovers, and every CGA signature verifies (no key needed for that)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from scapy_fama.analysis.analyze import analyze

PCAPS = Path(__file__).resolve().parents[2] / "pcaps"


def test_fama_analyze_reads_the_lab_capture_as_its_truth() -> None:
    analysis = analyze([PCAPS / "lab.pcap"])
    truth = json.loads((PCAPS / "lab.truth.json").read_text())
    exchanges = sorted((ex for m in analysis.mns for b in m.bindings for ex in b.exchanges), key=lambda ex: ex.time)
    ours = [{"hoa": ex.hoa, "dar": ex.dar, "seq": ex.seq, "coa": ex.coa, "auth": ex.auth,
             "deregistration": ex.deregistration} for ex in exchanges]  # fmt: skip
    assert ours == truth["bus"]
    assert Counter(str(ex.status) for ex in exchanges if ex.status is not None) == Counter(truth["statuses"])
    assert sum(len(b.phkt_issued) for m in analysis.mns for b in m.bindings) == truth["phkt_issued"]
    assert len(analysis.mns) == 1
    assert [{"coa": h.coa, "kept": sorted(h.kept)} for h in analysis.mns[0].handovers] == truth["handovers"]
    assert all(ex.verified is True for ex in exchanges if ex.auth == "cga")
    assert not [f for f in analysis.findings if f.severity == "error"]
