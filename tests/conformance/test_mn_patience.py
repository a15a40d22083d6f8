"""Neither a slow MN nor a lossy link fails an MN case (scapy_fama/conformance/patience.py).

Against our MnCore, every MN case passes (test_mn_inproc); what a slow MN or a lossy link
changes is not the MN's conformance, so no case may fail for it but the ones whose rule is
about time itself: an RS at once on link-up and a BU at once from the optimistic CoA
(MN-RS-001, MN-BU-003, whose rules a 0.7 s late MN does break). The independent truth is
that list, written out here, and the reasons, which must name what happened (how late the
answer came; the probes that went unanswered).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from scapy_fama.codec import decode
from scapy_fama.conformance import catalogue
from scapy_fama.conformance.case import Verdict, select
from scapy_fama.conformance.executor import TESTER
from scapy_fama.conformance.inproc_mn import DrivenMn
from scapy_fama.conformance.mn_tester import MnTester, nd_target
from scapy_fama.conformance.patience import PROBES
from scapy_fama.conformance.runner import Outcome, run_all
from scapy_fama.crypto import KeyPair
from scapy_fama.proto import MnCore
from scapy_fama.proto.messages import RouterAdvertisement
from scapy_fama.wire.numbers import NS
from tests.conformance.planted_mn import MnBehindALink, SlowMn
from tests.conformance.test_mn_inproc import NeverRetransmits, RetriesAfter148

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
    show it losing none; here they do, and the case is inconclusive, saying so. (Which cases
    come to the doubt depends on what the link loses: a missing answer is judged by the probes
    the case made, and what they find stands for the doubt too.)"""
    outcomes = run_all(select("mn"), MnTester(MnBehindALink(mn_key, loss=0.2, seed=seed, lose_sent=True)))
    assert not [(o.case.id, o.reason) for o in outcomes if o.verdict is Verdict.FAIL]
    doubted = [o.reason for o in outcomes if o.reason.endswith(": a packet of the tester's may have been lost")]
    assert all("Neighbour Solicitations for the MN's address went unanswered" in why
                           or "the link could not be probed (the RA may be lost)" in why for why in doubted)  # fmt: skip


@pytest.mark.parametrize(
    ("factory", "case_id", "why"),
    [
        (NeverRetransmits, "MN-RETX-001", "expected retransmission 1"),  # a missing answer
        (RetriesAfter148, "MN-STATUS-003", "yet the MN sent"),  # a BU where silence was due
    ],
)
def test_a_failing_case_probes_the_link_once(mn_key: KeyPair, factory: type[MnCore], case_id: str, why: str) -> None:
    """A FAIL on a link the tester cannot take for lossless is judged by one round of probes:
    the case probed the link before it failed (a missing answer, a silence), and the runner's
    doubt of that FAIL takes the same finding instead of probing again (which took twice the
    probes' time, and on a lossy link a second round could see a loss the first did not). Here
    the link loses nothing, so all PROBES Neighbour Solicitations are answered, once."""
    [outcome] = run_all(select("mn", [case_id]), MnTester(MnBehindALink(mn_key, factory=factory)))
    assert outcome.verdict is Verdict.FAIL and why in outcome.reason, outcome.reason
    probes = [f for f in outcome.frames if f.direction == TESTER and nd_target(f.raw, NS)]
    assert len(probes) == PROBES, len(probes)


class LosesByRule(MnBehindALink):
    """Loses nothing but what the tester sends where ``rule`` says so: it is given the
    packet's kind (an NS, the probes, or an RA) and its count of that kind so far."""

    def __init__(self, key: KeyPair, rule: Callable[[str, int], bool], **options: Any) -> None:
        super().__init__(key, **options)
        self.rule, self.seen = rule, Counter[str]()

    def _deliver(self, raw: bytes) -> None:
        kind = "NS" if nd_target(raw, NS) else "RA" if isinstance(decode(raw), RouterAdvertisement) else ""
        self.seen[kind] += 1
        if not (kind and self.rule(kind, self.seen[kind])):
            super()._deliver(raw)


PROBES_SEE_LOSS = "1 of 2 Neighbour Solicitations for the MN's address went unanswered: the link loses packets"
NEVER_REACHED = (
    "the MN, moved by the liveness check, answered no Neighbour Solicitation for its address after it, so the "
    "link could not be probed (the RA may be lost)"
)


@pytest.mark.parametrize(
    ("factory", "case_id", "rule", "tail"),
    [
        # a BU after BA 148 fails MN-STATUS-003 without a probe (it came while the tester
        # waited); the doubt probes the link and finds one of two probes unanswered: a BA 148
        # lost on the way would have made the MN retransmit
        (RetriesAfter148, "MN-STATUS-003", lambda kind, n: kind == "NS" and n % 2 == 0,
         f"but {PROBES_SEE_LOSS}: a packet of the tester's may have been lost"),
        # the retransmission MN-RETX-001 awaits does not come; the first probe is lost, the
        # liveness check moves the MN and finds it alive, and the RA after that move (every
        # one after the attachment and the handover) is lost, so the MN has no address to
        # answer the later probes for: their silence says nothing about the link
        (NeverRetransmits, "MN-RETX-001", lambda kind, n: (kind, n) == ("NS", 1) or (kind == "RA" and n > 2),
         f"but {NEVER_REACHED}: the answer may be lost"),
    ],
)  # fmt: skip
def test_a_fail_on_a_link_the_probes_cannot_clear_is_inconclusive(
    mn_key: KeyPair, factory: type[MnCore], case_id: str, rule: Callable[[str, int], bool], tail: str
) -> None:
    """A FAIL stands only where the probes show the link losing nothing: here they see a loss,
    or never reach the MN, and the case is inconclusive, saying why."""
    [outcome] = run_all(select("mn", [case_id]), MnTester(LosesByRule(mn_key, rule, factory=factory)))
    assert outcome.verdict is Verdict.INCONCLUSIVE and outcome.reason.endswith(tail), outcome.reason
