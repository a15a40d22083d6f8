"""Neither a slow MN nor a lossy link fails an MN case (scapy_fama/conformance/patience.py).

Against our MnCore, every MN case passes (test_mn_inproc); what a slow MN or a lossy link
changes is not the MN's conformance, so no case may fail for it but the ones whose rule is
about time itself: an RS at once on link-up and a BU at once from the optimistic CoA
(MN-RS-001, MN-BU-003, whose rules a 0.7 s late MN does break). The independent truth is
that list, written out here, and the reasons, which must name what happened (how late the
answer came; the probes that went unanswered).
"""

from __future__ import annotations

import pytest

from scapy_fama.conformance import catalogue
from scapy_fama.conformance.case import Verdict, select
from scapy_fama.conformance.inproc_mn import DrivenMn
from scapy_fama.conformance.mn_tester import MnTester
from scapy_fama.conformance.runner import Outcome, run_all
from scapy_fama.crypto import KeyPair
from tests.conformance.planted_mn import MnBehindALink, SlowMn

catalogue.load()
RULED_BY_TIME = {
    "MN-RS-001": "after link-up 1 (at once: within 0.3 s)",
    "MN-BU-003": "as if it waited for DAD",
}


class HalfSlowMn(SlowMn):
    """SlowMn, 0.7 s late: its round trip stays shorter than the 1 s a later BU waits for its
    BA (profile §7), so that no retransmission races the tester's answers."""

    slow = 0.7


def _verdicts(outcomes: list[Outcome]) -> dict[str, tuple[Verdict, str]]:
    return {o.case.id: (o.verdict, o.reason) for o in outcomes}


def test_an_mn_slower_than_the_wait_is_inconclusive_not_failed(mn_key: KeyPair) -> None:
    """Every message of the MN comes 0.7 s late (its round trip still shorter than its 1 s
    back-off, so that its retransmissions do not race the tester's answers), the tester
    waiting 0.5 s: the cases that await an answer at no time a rule sets are inconclusive,
    saying how late it came; retransmission and refresh times, which run from the MN's own
    BUs, still pass."""
    outcomes = _verdicts(run_all(select("mn"), MnTester(DrivenMn(mn_key, factory=HalfSlowMn), wait=0.5)))
    failed = {i: why for i, (v, why) in outcomes.items() if v is Verdict.FAIL}
    assert set(failed) == set(RULED_BY_TIME), failed
    assert all(RULED_BY_TIME[i] in why for i, why in failed.items()), failed
    late = {i: why for i, (v, why) in outcomes.items() if v is Verdict.INCONCLUSIVE and i != "MN-DAD-001"}
    assert outcomes["MN-DAD-001"][1].startswith("set-up: the BU came after DAD")  # a collision needs it before
    assert late and all("s after the tester's packet, past the wait of" in why for why in late.values()), late
    assert "came 0.7 s after the tester's packet, past the wait of 0.5 s" in late["MN-STATUS-002"]
    for case in ("MN-RETX-001", "MN-RETX-004", "MN-REFRESH-001", "MN-KEEP-001"):
        assert outcomes[case][0] is Verdict.PASS, outcomes[case]


@pytest.mark.parametrize("seed", [10, 11])
def test_what_a_lossy_link_loses_makes_an_mn_case_inconclusive_never_failed(mn_key: KeyPair, seed: int) -> None:
    """An MN message lost on the link, or a silence, decides a case only when the link is not
    seen to lose packets (NSs for the MN's address answered, then one not). MN-RS-001 too,
    though it judges RSs before the MN has an address to probe: a lost RS makes the next one
    late (4 s, RFC 4861 §6.3.7), and the MN then makes a handover so that its CoA is probed."""
    outcomes = run_all(select("mn"), MnTester(MnBehindALink(mn_key, loss=0.2, seed=seed)))
    assert not [(o.case.id, o.reason) for o in outcomes if o.verdict is Verdict.FAIL]
    lossy = [o.reason for o in outcomes if "the link loses packets" in o.reason]
    assert lossy and all(": the answer may be lost" in why or ": the silence proves nothing" in why for why in lossy)
    assert all("Neighbour Solicitations for the MN's address went unanswered" in why for why in lossy), lossy


@pytest.mark.parametrize("seed", [1, 3, 6])
def test_what_the_tester_sends_lost_on_the_link_fails_no_mn_case(mn_key: KeyPair, seed: int) -> None:
    """fama-mn --link-loss loses what the tester sends too: a BA 148 lost makes the MN
    retransmit its BU (MN-STATUS-003 then saw a BU after BA 148), a BA 0 lost makes it
    retransmit where a refresh was due (MN-REFRESH-*: refreshed too early). No message of the
    MN's can show that, so a FAIL on a link that may lose packets stands only where the probes
    show it losing none; here they do, and the case is inconclusive, saying so."""
    outcomes = run_all(select("mn"), MnTester(MnBehindALink(mn_key, loss=0.2, seed=seed, lose_sent=True)))
    assert not [(o.case.id, o.reason) for o in outcomes if o.verdict is Verdict.FAIL]
    doubted = [o.reason for o in outcomes if o.reason.endswith(": a packet of the tester's may have been lost")]
    assert doubted and all("Neighbour Solicitations for the MN's address went unanswered" in why
                           or "the link could not be probed (the RA may be lost)" in why for why in doubted)  # fmt: skip
