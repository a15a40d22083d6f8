"""The reconstruction state machine on hand-made signalling records (no packets needed)."""

from __future__ import annotations

from scapy_fama.analysis.findings import Findings
from scapy_fama.analysis.reconstruct import EXCHANGES_KEPT, Reconstruction
from scapy_fama.analysis.signalling import Signal

DAR, HOA, COA, COA3 = "2001:db8:1::1", "2001:db8:1::a", "2001:db8:2::a", "2001:db8:3::a"
PHKT_BU = (4, 5)  # Nonce Indices + BAD: never verified here (no PHKT known)


class Feed:
    def __init__(self) -> None:
        self.findings = Findings()
        self.recon = Reconstruction(self.findings)
        self.frame = 0

    def bu(self, now: float, seq: int, coa: str = COA, lifetime: int = 400, key: bytes | None = None) -> None:
        self.frame += 1
        sig = Signal("BU", coa, DAR, hoa=HOA if coa != HOA else None, seq=seq, lifetime=lifetime, ack=True,
                     options=PHKT_BU)
        self.recon.add(sig, (0, self.frame), now, 0, b"", key or f"bu{self.frame}".encode())

    def ba(self, now: float, seq: int, status: int = 0, coa: str = COA) -> None:
        self.frame += 1
        sig = Signal("BA", DAR, coa, hoa=HOA if coa != HOA else None, seq=seq, status=status, lifetime=400)
        self.recon.add(sig, (0, self.frame), now, 0, b"", f"ba{self.frame}".encode())

    def kinds(self) -> list[str]:
        return [f.kind for f in self.findings for _ in range(f.count)]


def test_retransmissions_are_counted_and_the_answer_closes_the_attempt() -> None:
    f = Feed()
    f.bu(1.0, 10)
    f.bu(2.5, 11)
    f.bu(5.5, 12)
    f.ba(5.51, 12)
    (mn,) = f.recon.finish({}, {})
    (b,) = mn.bindings
    assert [ex.retransmissions for ex in b.exchanges] == [0, 1, 2] and b.retransmissions == 2
    assert b.exchanges[-1].latency == 5.51 - 5.5 and f.kinds() == []


def test_135_answers_the_newest_pending_bu_and_regressions_are_found() -> None:
    f = Feed()
    f.bu(1.0, 10, key=b"same")
    f.ba(1.1, 10)
    f.bu(5.0, 10, key=b"same")  # the same bytes again: a replay
    f.ba(5.1, 10, status=135)
    f.bu(6.0, 9)  # an older seq, other bytes: a regression
    f.ba(6.1, 10, status=135)
    (mn,) = f.recon.finish({}, {})
    assert [ex.status for ex in mn.bindings[0].exchanges] == [0, 135, 135]
    assert sorted(f.kinds()) == ["error-status", "error-status", "replay", "sequence-regression"]


def test_unanswered_bu_and_ba_without_bu() -> None:
    f = Feed()
    f.ba(0.5, 3)
    f.bu(1.0, 4)
    f.recon.finish({}, {})
    assert sorted(f.kinds()) == ["ba-without-bu", "bu-unanswered"]


def test_handovers_keep_release_and_return_home() -> None:
    f = Feed()
    f.bu(1.0, 1)
    f.ba(1.01, 1)
    f.bu(30.0, 2)  # a refresh from the same CoA: no handover
    f.ba(30.01, 2)
    f.bu(40.0, 3, coa=COA3)
    f.ba(40.02, 3, coa=COA3)
    f.bu(50.0, 4, coa=HOA, lifetime=0)  # back home: de-registration from the address itself
    f.ba(50.01, 4, coa=HOA)
    (mn,) = f.recon.finish({}, {})
    summary = [(h.coa, h.previous, h.home, h.kept, h.released) for h in mn.handovers]
    assert summary == [(COA, HOA, False, [HOA], []), (COA3, COA, False, [HOA], []), (HOA, COA3, True, [], [HOA])]
    assert [round(h.signalling or 0, 3) for h in mn.handovers] == [0.01, 0.02, 0.01]
    assert [d.seq for d in mn.deregistrations] == [4] and mn.bindings[0].state == "de-registered"
    assert set(mn.addresses) == {HOA, COA, COA3}


def test_routine_refreshes_past_the_limit_are_counted_not_kept() -> None:
    f = Feed()
    total = EXCHANGES_KEPT + 200
    for i in range(total):
        f.bu(10.0 * i, i)
        f.ba(10.0 * i + 0.01, i)
    f.bu(10.0 * total, total, coa=COA3)  # a handover after them all is still seen
    f.ba(10.0 * total + 0.01, total, coa=COA3)
    (mn,) = f.recon.finish({}, {})
    (b,) = mn.bindings
    assert b.exchange_count == total + 1 and len(b.exchanges) <= EXCHANGES_KEPT + 2
    assert len(b.exchanges) + len(b.dropped_latencies) == total + 1
    assert [h.coa for h in mn.handovers] == [COA, COA3]


def test_a_retry_after_a_refusal_belongs_to_the_handover() -> None:
    f = Feed()
    f.bu(1.0, 1)
    f.ba(1.01, 1, status=137)  # secure mode learnt from the DAR: CoTI/CoT, then the BU again
    f.bu(1.05, 2)
    f.ba(1.06, 2)
    f.bu(9.0, 3, coa=COA3)
    f.ba(9.01, 3, status=148, coa=COA3)  # refused for good: the address is lost at this handover
    (mn,) = f.recon.finish({}, {})
    assert [(h.kept, h.failed) for h in mn.handovers] == [([HOA], []), ([], [HOA])]
    assert round(mn.handovers[0].signalling or 0, 3) == 0.06
