"""The MN cases against our MnCore in-process, and against deliberately broken ones.

Every MN case must pass against MnCore; each broken MN below breaks one rule of
profile §3/§7 or RFC 4866, and the cases judging that rule must fail with a
reason that names the problem, while unrelated cases still pass. Independent
checks: the signature the suite accepted verifies with the crypto primitives,
and the retransmission times are the profile's numbers written out here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import cache
from itertools import pairwise

import pytest

from scapy_fama.codec import decode
from scapy_fama.conformance import catalogue
from scapy_fama.conformance.case import CATALOGUE, Verdict, select
from scapy_fama.conformance.config import RunConfig
from scapy_fama.conformance.executor import IUT, Executor, InprocMn
from scapy_fama.conformance.inproc_mn import DrivenMn
from scapy_fama.conformance.mn_tester import MnTester, make_tester
from scapy_fama.conformance.runner import Outcome, run_case
from scapy_fama.crypto import CgaParams, KeyPair, cga_check, verify_mh_signature
from scapy_fama.proto import KeepPolicy, MnConfig, MnCore
from scapy_fama.proto.addresses import AddressRecord
from scapy_fama.proto.bul import BulEntry, Due, SentBu
from scapy_fama.proto.effects import Deliver, Effects, Notify, Send
from scapy_fama.proto.keep import KeepRules
from scapy_fama.proto.messages import (
    BindingAck,
    BindingUpdate,
    Datagram,
    Message,
    wire_lifetime,
)
from scapy_fama.proto.retransmit import RateWindow

catalogue.load()
MN_CASES = select("mn")


ECHO = 7  # RFC 862


class EchoingMn(InprocMn):
    """An in-process MN whose host answers UDP Echo on ``ECHO`` as fama-mn --udp-echo does
    (through MnCore.echo), and offers no ``app_send``: the data cases go the interface way."""

    def _apply(self, effects: Effects) -> None:
        super()._apply(effects)
        for effect in effects:
            if isinstance(effect, Deliver):
                self._apply(self.mn.echo(effect.datagram, ECHO, self.virtual))


def run(
    case_id: str, key: KeyPair, factory: type[MnCore] = MnCore, *, echo: bool = False
) -> Outcome:
    executor = EchoingMn(key, factory=factory) if echo else DrivenMn(key, factory=factory)
    tester = make_tester(executor, RunConfig("mn", mn_echo_port=ECHO if echo else None))
    return run_case(CATALOGUE[case_id], tester)


def bus(outcome: Outcome) -> list[tuple[float, BindingUpdate]]:
    out = [(f.time, decode(f.raw)) for f in outcome.frames if f.direction == IUT]
    return [(t, m) for t, m in out if isinstance(m, BindingUpdate)]


# ---------------------------------------------------------------- deliberately broken MNs


class ReusesSeq(MnCore):
    """Retransmits with the sequence number of the BU it repeats."""

    def _fire(self, rec: AddressRecord, now: float) -> Effects:
        if rec.bul.due is Due.TIMEOUT:
            rec.bul.seq = (rec.bul.seq - 1) % 65536
        return super()._fire(rec, now)


class NeverRetransmits(MnCore):
    def _fire(self, rec: AddressRecord, now: float) -> Effects:
        if rec.bul.due is Due.TIMEOUT:
            rec.bul.set_timer(None, None)
            return []
        return super()._fire(rec, now)


class Ignores135(MnCore):
    def _on_status(self, rec: AddressRecord, sent: SentBu, ba: BindingAck, now: float) -> Effects:
        return [] if ba.status == 135 else super()._on_status(rec, sent, ba, now)


class KeepsEverything(MnCore):
    """Registers every earlier address whatever its keep policy says."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._keep = KeepRules(KeepPolicy.ALL)


class NoRateLimit(MnCore):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._rate = RateWindow(limit=1_000_000)


class NoReverseTunnel(MnCore):
    """Sends data from every address natively, kept ones too (profile §8 broken)."""

    def send(
        self, src: str, dst: str, sport: int, dport: int, payload: bytes, now: float
    ) -> Effects:
        return [Send(Datagram(src, dst, sport, dport, payload))]


class NoCareOfTest(MnCore):
    """Never runs the care-of test, whatever a DAR answers (BA 137, profile §5)."""

    def _needs_coa_test(self, e: BulEntry, now: float) -> bool:
        return False


class TrustsItsPhkt(MnCore):
    """Keeps sending PHKT-authorised BUs however many go unanswered (the MN before "Doubted
    PHKTs", proto.bul)."""

    def _fire(self, rec: AddressRecord, now: float) -> Effects:
        rec.bul.unanswered = 0
        return super()._fire(rec, now)


@cache
def stranger() -> KeyPair:
    return KeyPair.generate(1024)


class SignsWithAnotherKey(MnCore):
    """Puts its own CGA Parameters in the BU but signs with a key that is not theirs."""

    def _bu(self, rec: AddressRecord, now: float) -> BindingUpdate:
        bu = super()._bu(rec, now)
        return bu if bu.sign_with is None else replace(bu, sign_with=stranger())


class Pessimistic(MnCore):
    """Waits DAD out before it uses a new address (RFC 4862 without RFC 4429)."""

    def __init__(self, keypair: KeyPair, *, config: MnConfig, rand: Callable[[int], bytes]) -> None:
        super().__init__(keypair, config=replace(config, optimistic=False), rand=rand)


class SolicitsLate(MnCore):
    """Delays its first RS as RFC 4861 §6.3.7 allows, by the longest draw (just under 1 s): every
    16-bit draw of its random source is 0xffff (its other draws are the system's)."""

    def __init__(self, keypair: KeyPair, *, config: MnConfig, rand: Callable[[int], bytes]) -> None:
        def top(n: int) -> bytes:
            return b"\xff\xff" if n == 2 else rand(n)

        super().__init__(keypair, config=replace(config, rs_delay=1.0), rand=top)


class IgnoresCollisions(MnCore):
    """Goes on with an address another node answers for while its DAD runs."""

    def on_dad_collision(self, address: str, now: float) -> Effects:
        return [Notify("dad-collision-ignored", {"address": address})]


class WaitsForHome(MnCore):
    """Back home, sends no BU to another DAR until the home DAR answers the de-registration
    (the hold that profile §7 forbids): such BUs are withheld, retransmissions too."""

    home: str | None = None  # the DAR whose de-registration from home is unanswered

    def _gate(self, effects: Effects) -> Effects:
        out = []
        for e in effects:
            if isinstance(e, Send) and isinstance(e.msg, BindingUpdate):
                if e.msg.hoa is None:  # from home: the de-registration
                    self.home = e.msg.dst
                elif self.home is not None and e.msg.dst != self.home:
                    continue
            out.append(e)
        return out

    def on_message(self, msg: Message, now: float) -> Effects:
        if isinstance(msg, BindingAck) and msg.src == self.home:
            self.home = None
        return self._gate(super().on_message(msg, now))

    def on_timer(self, now: float) -> Effects:
        return self._gate(super().on_timer(now))


class OutlivesItsAddress(MnCore):
    """Asks for its configured binding lifetime whatever the home address's valid lifetime."""

    def _bu(self, rec: AddressRecord, now: float) -> BindingUpdate:
        bu = super()._bu(rec, now)
        return replace(bu, lifetime=wire_lifetime(self.config.binding_lifetime)) if bu.lifetime else bu


class TrustsAnyBad(MnCore):
    """Takes a BA whose BAD does not verify (profile §7 accepts only a valid one)."""

    def _check_ba(self, ba: BindingAck, sent: SentBu) -> tuple[str | None, bytes | None]:
        why, phkt = super()._check_ba(ba, sent)
        return (None, None) if why is not None and why.startswith("bad-") else (why, phkt)


class RetriesAfter148(MnCore):
    """Signs again after BA 148 (profile §7: report, no retry loop)."""

    def _on_status(self, rec: AddressRecord, sent: SentBu, ba: BindingAck, now: float) -> Effects:
        if ba.status == 148:
            return self._signal(rec, now)
        return super()._on_status(rec, sent, ba, now)


BROKEN: list[tuple[type[MnCore], dict[str, str], list[str]]] = [
    # (the MN, {case that must fail: a word its reason must contain}, cases that must still pass)
    (ReusesSeq, {"MN-RETX-002": "seq"}, ["MN-RETX-001", "MN-BU-002", "MN-HOME-001"]),
    (
        NeverRetransmits,
        {
            "MN-RETX-001": "retransmission 1",
            "MN-RETX-002": "retransmission 1",
            "MN-RETX-003": "retransmission 1",
            "MN-RETX-004": "retransmission 1",
            "MN-STATUS-004": "took ba 0",
            "MN-PHKT-002": "bad of another phkt",
        },
        ["MN-BU-001", "MN-STATUS-001", "MN-REFRESH-001"],
    ),
    (Ignores135, {"MN-STATUS-001": "135"}, ["MN-RETX-001", "MN-STATUS-002"]),
    (
        KeepsEverything,
        {"MN-KEEP-001": "released", "MN-KEEP-002": "later dar"},
        ["MN-BU-001", "MN-RETX-001"],
    ),
    (NoRateLimit, {"MN-RETX-005": "4 bus to dar 1 within"}, ["MN-STATUS-001", "MN-RETX-001"]),
    (NoCareOfTest, {"MN-SEC-001": "coti", "MN-SEC-002": "coti"}, ["MN-BU-002", "MN-STATUS-001"]),
    (
        SignsWithAnotherKey,
        {
            "MN-BU-002": "signature does not verify",
            "MN-STATUS-002": "not cga-signed",
            "MN-PHKT-003": "signed again after 2 unanswered: the signature does not verify",
        },
        ["MN-BU-001", "MN-RETX-002"],
    ),
    (Pessimistic, {"MN-BU-003": "as if it waited for dad"}, ["MN-BU-001", "MN-BU-005", "MN-RS-001"]),
    (SolicitsLate, {"MN-RS-001": "after link-up 1"}, ["MN-BU-001", "MN-BU-003"]),
    (IgnoresCollisions, {"MN-DAD-001": "not from a new address"}, ["MN-BU-003", "MN-HOME-002"]),
    (WaitsForHome, {"MN-HOME-002": "while dar 1 has not answered"}, ["MN-HOME-001", "MN-BU-001"]),
    (OutlivesItsAddress, {"MN-BU-004": "valid for"}, ["MN-BU-001", "MN-REFRESH-001"]),
    (TrustsAnyBad, {"MN-PHKT-002": "bad of another phkt"}, ["MN-PHKT-001", "MN-STATUS-001"]),
    (RetriesAfter148, {"MN-STATUS-003": "yet the mn sent"}, ["MN-STATUS-001", "MN-STATUS-004"]),
]


# ---------------------------------------------------------------- tests


def test_every_mn_case_passes_against_our_mn(mn_key: KeyPair) -> None:
    assert len(MN_CASES) >= 15
    outcomes = [run(c.id, mn_key) for c in MN_CASES]
    bad = [
        (o.case.id, o.verdict.value, o.reason) for o in outcomes if o.verdict is not Verdict.PASS
    ]
    assert not bad, bad
    assert all(c.requirement and c.title for c in MN_CASES)


@pytest.mark.parametrize("broken, fails, passes", BROKEN, ids=[b[0].__name__ for b in BROKEN])
def test_a_broken_mn_fails_the_matching_cases(
    mn_key: KeyPair, broken: type[MnCore], fails: dict[str, str], passes: list[str]
) -> None:
    for case_id, word in fails.items():
        outcome = run(case_id, mn_key, broken)
        assert outcome.verdict is Verdict.FAIL, (case_id, outcome.verdict, outcome.reason)
        assert word in outcome.reason.lower(), (case_id, outcome.reason)
        assert outcome.frames, "a failing case keeps the packets it saw"
    for case_id in passes:
        outcome = run(case_id, mn_key, broken)
        assert outcome.verdict is Verdict.PASS, (case_id, outcome.reason)


def test_an_mn_that_keeps_to_its_phkt_is_not_judged_on_signing_again(mn_key: KeyPair) -> None:
    """The profile asks an MN to sign again only after BA 147: one that never does after
    silent drops is neither failed nor passed by MN-PHKT-003, and passes the other PHKT cases."""
    outcome = run("MN-PHKT-003", mn_key, TrustsItsPhkt)
    assert outcome.verdict is Verdict.INCONCLUSIVE and "kept to its phkt through 3" in outcome.reason.lower(), outcome.reason
    for case_id in ("MN-PHKT-001", "MN-PHKT-002"):
        assert run(case_id, mn_key, TrustsItsPhkt).verdict is Verdict.PASS


def test_the_first_bu_the_suite_accepts_verifies_independently(mn_key: KeyPair) -> None:
    outcome = run("MN-BU-002", mn_key)
    assert outcome.verdict is Verdict.PASS
    (_, bu), *_ = bus(outcome)
    assert bu.cga_params is not None and bu.signature is not None and bu.hoa is not None
    assert cga_check(bu.hoa, bu.cga_params)
    public = CgaParams.decode(bu.cga_params).public_key
    assert public == mn_key.public_der
    assert verify_mh_signature(public, bu.src, bu.dst, bu.signed_data, bu.signature)


def test_retransmission_times_are_the_profiles(mn_key: KeyPair) -> None:
    outcome = run("MN-RETX-004", mn_key)  # virtual time: the whole back-off, then silence
    assert outcome.verdict is Verdict.PASS
    times = [t for t, _ in bus(outcome)]
    gaps = [round(b - a, 6) for a, b in pairwise(times)]
    assert gaps == [1.5, 3.0, 6.0, 12.0, 24.0]  # profile §7; the 32 s step ends in silence
    seqs = [bu.seq for _, bu in bus(outcome)]
    assert all((b - a) % 65536 == 1 for a, b in pairwise(seqs))


def test_refresh_comes_at_80_percent_of_the_granted_lifetime(mn_key: KeyPair) -> None:
    outcome = run("MN-REFRESH-001", mn_key)
    (registered, _), (refresh, _) = bus(outcome)[:2]
    assert refresh - registered == pytest.approx(0.8 * 4)


class Elsewhere(Executor):
    """An MN executor that is neither in-process nor able to send data (like an interface)."""

    kind, role = "iface", "mn"

    def clock(self) -> float:
        return 0.0

    def _deliver(self, raw: bytes) -> None: ...

    def _advance(self, deadline: float) -> bool:
        return False


def test_what_cannot_run_on_an_interface_is_inconclusive_with_a_reason() -> None:
    tester = make_tester(Elsewhere(), RunConfig("mn", "iface", mn_keep="all"))
    reasons = {c.id: tester.applicable(c) for c in MN_CASES}
    assert "cannot make the MN send data" in str(reasons["MN-DATA-001"])
    assert "--udp-echo" in str(reasons["MN-DATA-001"]) and "--mn-echo" in str(reasons["MN-DATA-002"])
    echoing = make_tester(Elsewhere(), RunConfig("mn", "iface", mn_echo_port=ECHO))
    assert echoing.applicable(CATALOGUE["MN-DATA-001"]) is None
    assert "keep=none" in str(reasons["MN-KEEP-001"]) and "keep=all" in str(reasons["MN-KEEP-001"])
    assert reasons["MN-BU-001"] is None and reasons["MN-REFRESH-001"] is None
    patient = MnTester(Elsewhere(), keep="all", patience=30)
    outcome = run_case(CATALOGUE["MN-RETX-004"], patient)
    assert outcome.verdict is Verdict.INCONCLUSIVE and "real time" in outcome.reason
    assert tester.applicable(replace(MN_CASES[0], id="DAR-X", role="dar")) is not None


def test_a_plain_in_process_mn_leaves_only_the_data_cases_inconclusive(mn_key: KeyPair) -> None:
    tester = make_tester(InprocMn(mn_key), RunConfig("mn"))
    inconclusive = {c.id for c in MN_CASES if tester.applicable(c) is not None}
    assert inconclusive == {c.id for c in MN_CASES if c.group == "data"}


@pytest.mark.parametrize("echo", [False, True], ids=["app_send", "udp-echo"])
def test_the_data_cases_judge_the_application_and_the_echo_path_alike(
    mn_key: KeyPair, echo: bool
) -> None:
    for case_id in ("MN-DATA-001", "MN-DATA-002"):
        outcome = run(case_id, mn_key, echo=echo)
        assert outcome.verdict is Verdict.PASS, (case_id, outcome.reason)
    broken = run("MN-DATA-001", mn_key, NoReverseTunnel, echo=echo)
    assert broken.verdict is Verdict.FAIL and "expected TUN" in broken.reason, broken.reason
    assert run("MN-DATA-002", mn_key, NoReverseTunnel, echo=echo).verdict is Verdict.PASS
