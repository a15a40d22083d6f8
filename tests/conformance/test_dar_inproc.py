"""fama-conformance's DAR cases against our DarCore in-process, and against broken DARs."""

from __future__ import annotations

import json
import random
import subprocess
import threading
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from pathlib import Path
from unittest import mock

import pytest
from scapy.layers.inet import UDP
from scapy.layers.inet6 import HAO, IPv6, IPv6ExtHdrDestOpt
from scapy.utils import rdpcap

from scapy_fama.codec import decode
from scapy_fama.conformance import catalogue
from scapy_fama.conformance.case import Verdict, select
from scapy_fama.conformance.dar_tester import DarTester
from scapy_fama.conformance.executor import TESTER, InprocDar
from scapy_fama.conformance.runner import Outcome, run_all
from scapy_fama.crypto import KeyPair
from scapy_fama.proto import DarConfig, DarCore
from scapy_fama.proto.effects import Effects, Forward, Send
from scapy_fama.proto.messages import (
    BindingError,
    BindingUpdate,
    Message,
    RouterSolicitation,
    Undecodable,
)
from scapy_fama.wire import parse
from scapy_fama.wire.numbers import BAD, BU, CGA_PARAMS, NONCE_INDICES, PAD1, PADN, SIGNATURE
from tests.conformance.planted_dar import SLOW, KeepsRefusedState, NoRaRateLimit, SilentToA0, SlowDar

catalogue.load()


def _run(
    key: KeyPair,
    factory: Callable[..., DarCore] = DarCore,
    patch: AbstractContextManager[object] | None = None,
    wait: float = 2.0,
) -> dict[str, Outcome]:
    tester = DarTester(InprocDar(factory=factory), key, "2001:db8:1::1", "2001:db8:1::/64", wait=wait)
    with patch or nullcontext():
        return {o.case.id: o for o in run_all(select("dar"), tester)}


@pytest.fixture(scope="module")
def ours(mn_key: KeyPair) -> dict[str, Outcome]:
    return _run(mn_key)


def test_the_catalogue_has_at_least_40_dar_cases_with_requirements() -> None:
    cases = select("dar")
    assert len(cases) >= 40
    assert all(c.requirement and ("RFC" in c.requirement or "profile" in c.requirement) for c in cases)
    groups = {c.group for c in cases}
    assert {"mh", "bu", "cga", "phkt", "life", "ba", "data", "secure", "dos", "be", "ra"} <= groups


def test_every_dar_case_passes_against_our_dar(ours: dict[str, Outcome]) -> None:
    bad = {i: (o.verdict.value, o.reason) for i, o in ours.items() if o.verdict is not Verdict.PASS}
    link = "reads the DAR's neighbour cache, which a core has not: run it with --target iface"
    assert bad == {"DAR-ND-001": ("inconclusive", link)}  # a core has no link layer
    assert all(o.frames for i, o in ours.items() if i not in bad)  # every case that ran sent something


class NeverTunnels(DarCore):
    """Forwards traffic for a bound HoA natively instead of into the tunnel."""

    def _route(self, msg: Message) -> Effects:
        return [Forward(msg)]


def _failed(outcomes: dict[str, Outcome]) -> dict[str, str]:
    return {i: o.reason for i, o in outcomes.items() if o.verdict is Verdict.FAIL}


def test_a_dar_that_accepts_any_signature_fails_the_signature_cases(mn_key: KeyPair) -> None:
    broken = _run(mn_key, patch=mock.patch("scapy_fama.proto.authorise.verify_mh_signature", return_value=True))
    failed = _failed(broken)
    assert "expected BA 148" in failed["DAR-CGA-004"] and "got BA 0" in failed["DAR-CGA-004"]
    assert broken["DAR-CGA-001"].verdict is Verdict.PASS and broken["DAR-PHKT-001"].verdict is Verdict.PASS
    assert set(failed) <= {"DAR-CGA-004", "DAR-CGA-002", "DAR-CGA-012"}, failed


def test_a_dar_that_ignores_sequence_numbers_fails_the_window_cases(mn_key: KeyPair) -> None:
    broken = _run(mn_key, patch=mock.patch("scapy_fama.proto.dar.seq_newer", return_value=True))
    failed = _failed(broken)
    for case_id in ("DAR-BU-001", "DAR-BU-002", "DAR-BU-005", "DAR-PHKT-005"):
        assert "expected BA 135" in failed[case_id], (case_id, failed.get(case_id))
    assert broken["DAR-BU-003"].verdict is Verdict.PASS  # the wrap is accepted either way


def test_a_dar_that_never_tunnels_fails_the_data_plane_cases(mn_key: KeyPair) -> None:
    failed = _failed(_run(mn_key, factory=NeverTunnels))
    assert "tunnelled to" in failed["DAR-DATA-001"] and "got" in failed["DAR-DATA-001"]
    assert "DAR-BU-013" in failed and "DAR-BU-009" in failed
    assert not any(i.startswith(("DAR-CGA", "DAR-PHKT", "DAR-MH")) for i in failed), failed


def test_a_dar_silent_to_an_accepted_a0_bu_fails_that_case_alone(mn_key: KeyPair) -> None:
    failed = _failed(_run(mn_key, factory=SilentToA0))
    assert set(failed) == {"DAR-BU-009"}, failed
    assert failed["DAR-BU-009"].startswith("a home agent answers every registration, A=0 or not: ")
    assert "expected a BA 0 to 2001:db8:ca:" in failed["DAR-BU-009"] and failed["DAR-BU-009"].endswith("got nothing")


class MulticastsEveryRa(DarCore):
    """Answers an RS from a unicast source as if it came from ::, with a multicast RA."""

    def on_message(self, msg: Message, now: float) -> Effects:
        if isinstance(msg, RouterSolicitation):
            msg = RouterSolicitation("::", msg.dst)
        return super().on_message(msg, now)


def test_a_dar_that_multicasts_every_ra_fails_the_unicast_ra_cases(mn_key: KeyPair) -> None:
    failed = _failed(_run(mn_key, factory=MulticastsEveryRa))
    assert set(failed) == {"DAR-RA-001", "DAR-RA-003", "DAR-RA-004"}, failed
    assert all(failed[i].startswith("a valid RS got no RA within 7 s") for i in ("DAR-RA-003", "DAR-RA-004"))
    assert failed["DAR-RA-001"] == "no RA to fe80::7e57 within 0.8 s of its RS (RFC 4861 §6.2.6: MAX_RA_DELAY_TIME 0.5 s)"


def test_a_dar_that_ignores_the_ra_rate_limit_fails_that_case_alone(mn_key: KeyPair) -> None:
    failed = _failed(_run(mn_key, factory=NoRaRateLimit))
    assert set(failed) == {"DAR-RA-002"}, failed
    assert "as little as 0.0 ms apart" in failed["DAR-RA-002"] and "at most one per 30 ms" in failed["DAR-RA-002"]


def test_a_dar_that_keeps_state_for_a_refused_bu_fails_that_case_alone(mn_key: KeyPair) -> None:
    failed = _failed(_run(mn_key, factory=KeepsRefusedState))
    assert set(failed) == {"DAR-BU-014"}, failed
    assert failed["DAR-BU-014"].startswith("the HoA refused for a full cache still has a security record: ")
    # a BAD of another PHKT: dropped
    assert failed["DAR-BU-014"].endswith("within 2 s (and 5 s more for a slow IUT), got nothing")


FRAMING = {"DAR-MH-001", "DAR-MH-002", "DAR-MH-004", "DAR-MH-007", "DAR-MH-008", "DAR-PHKT-008",
           "DAR-CGA-005", "DAR-CGA-006"}  # fmt: skip


def _unchecked(raw: bytes) -> Message:
    """A DAR's reader that checks no framing: the codec's lenient reading, its list of
    problems thrown away."""
    msg = decode(raw, lenient=True)
    return replace(msg, framing=()) if isinstance(msg, BindingUpdate) else msg


def test_a_dar_that_checks_no_framing_fails_the_framing_cases_alone(mn_key: KeyPair) -> None:
    outcomes = _run(mn_key, patch=mock.patch("scapy_fama.conformance.executor.decode", _unchecked))
    failed = _failed(outcomes)
    assert set(failed) == FRAMING, failed
    assert "a BU of 65 options must be dropped silently, got BA" in failed["DAR-MH-007"]
    assert "a BU 8 bytes shorter than its Payload Length must be dropped silently" in failed["DAR-MH-008"]
    assert "a BU with an option after its BAD must be dropped silently" in failed["DAR-PHKT-008"]
    assert outcomes["DAR-MH-006"].verdict is Verdict.PASS  # 64 options are within the limit


class AnswersInvalidRs(DarCore):
    """Answers an RS that RFC 4861 §6.1.1 says to discard (hop limit, checksum)."""

    def on_message(self, msg: Message, now: float) -> Effects:
        if isinstance(msg, Undecodable) and msg.reason.startswith("invalid ICMPv6 type 133"):
            msg = RouterSolicitation(msg.src, msg.dst)
        return super().on_message(msg, now)


def test_a_dar_that_answers_invalid_rss_fails_those_cases_alone(mn_key: KeyPair) -> None:
    failed = _failed(_run(mn_key, factory=AnswersInvalidRs))
    assert set(failed) == {"DAR-RA-003", "DAR-RA-004"}, failed
    assert "an RS with hop limit 254 must be discarded" in failed["DAR-RA-003"]
    assert "an RS with a wrong checksum must be discarded" in failed["DAR-RA-004"]


class BindingErrorsForNobody(DarCore):
    """Names :: in every Binding Error, whatever Home Address option the packet had."""

    def on_message(self, msg: Message, now: float) -> Effects:
        return [
            Send(replace(e.msg, hoa="::")) if isinstance(e, Send) and isinstance(e.msg, BindingError) else e
            for e in super().on_message(msg, now)
        ]


def test_a_dar_whose_binding_errors_name_no_home_address_fails_those_cases(mn_key: KeyPair) -> None:
    failed = _failed(_run(mn_key, factory=BindingErrorsForNobody))
    assert set(failed) == {"DAR-BE-001", "DAR-BE-003"}, failed
    assert "expected status 2 for" in failed["DAR-BE-003"] and "the Home Address option's" in failed["DAR-BE-003"]


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scapy_fama.cli.conformance", *args],
        cwd=cwd, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_cli_writes_junit_json_and_a_pcap_per_case(tmp_path: Path) -> None:
    done = _cli("cga", "DAR-BU-00[12]", "--junit", "r.xml", "--json", "r.json", "--pcap", "cases", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    ids = [c["id"] for c in report["cases"]]
    assert report["schema"] == "fama-conformance/1" and ids[:2] == ["DAR-BU-001", "DAR-BU-002"]
    assert all(i.startswith("DAR-CGA-") for i in ids[2:]) and report["counts"]["pass"] == len(ids)
    suite = ET.parse(tmp_path / "r.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == str(len(ids)) and suite.get("failures") == "0"
    names = [tc.get("name", "") for tc in suite.iter("testcase")]
    assert names[0].startswith("DAR-BU-001 ")
    first = report["cases"][0]
    packets = rdpcap(str(tmp_path / first["pcap"]))
    assert len(packets) == first["packets"] == 4  # BU, BA 0, the repeated BU, BA 135


def test_cli_lists_the_cases_of_both_roles(tmp_path: Path) -> None:
    done = _cli("--list", cwd=tmp_path)
    assert done.returncode == 0
    assert "DAR-CGA-004" in done.stdout and "MN-" in done.stdout and "RFC 4866" in done.stdout


def test_all_selects_every_case_of_the_role_as_the_help_says() -> None:
    assert select("dar", ["all"]) == select("dar") and select("mn", ["ALL"]) == select("mn")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--target", "iface"), "--target iface needs --iface IF"),
        (("NO-SUCH-*",), "no DAR case matches NO-SUCH-*"),
        (("--iut-address", "nope"), "not an IPv6 address"),
        (("--prefix", "2001:db8:1::/48"), "a /64 prefix"),
        (("--wait", "0"), "argument --wait: must be positive: '0'"),
        (("--wait", "nan"), "argument --wait: must be positive: 'nan'"),
        (("--max-case-time", "nan"), "argument --max-case-time: must be positive: 'nan'"),
        (("--json", "/nonexistent/r.json"), "--json /nonexistent/r.json: no such directory /nonexistent"),
        (("--junit", "r.out", "--json", "./r.out"), "--junit and --json are both r.out"),  # the JUnit one was lost
    ],
)
def test_cli_bad_input_is_one_line(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    done = _cli(*args, cwd=tmp_path)
    assert done.returncode == 2 and message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr




def test_the_cga_cases_pass_against_a_dar_in_secure_mode_the_split_one_with_its_bad_last(mn_key: KeyPair) -> None:
    """On an interface ``--secure`` runs every case against a DAR that requires the care-of test:
    in-process, the CGA group against such a core. DAR-CGA-007 lays its BU out by hand: the
    two CGA Parameters pieces back to back, the Signature, then Nonce Indices and the BAD that
    secure mode asks for (RFC 6275 §6.2.7: last, at 8n+2), which the core verifies."""
    tester = DarTester(InprocDar(), mn_key, "2001:db8:1::1", "2001:db8:1::/64", wait=2.0)
    secure = [replace(c, setup=replace(c.setup, secure=True)) for c in select("dar", ["cga"])]
    outcomes = {o.case.id: o for o in run_all(secure, tester)}
    assert {i: o.reason for i, o in outcomes.items() if o.verdict is not Verdict.PASS} == {}
    sent = [parse(f.raw) for f in outcomes["DAR-CGA-007"].frames if f.direction == TESTER]
    bu = next(info.mh for info in sent if info is not None and info.mh is not None and info.mh.mhtype == BU)
    options = [(otype, start) for otype, start, _ in bu.options if otype not in (PAD1, PADN)]
    assert [otype for otype, _ in options] == [CGA_PARAMS, CGA_PARAMS, SIGNATURE, NONCE_INDICES, BAD]
    (_, first), (_, second) = options[:2]
    assert second == first + 2 + 255 and options[-1][1] % 8 == 2


SLOWER = "s after the tester's packet, past the wait of 1 s: the IUT is slower than the tester waits"


def test_a_dar_slower_than_the_wait_is_inconclusive_never_failed(mn_key: KeyPair) -> None:
    """A DAR that answers SLOW s late breaks no rule of FAMA: its answers are awaited past the
    wait (the case is then inconclusive, saying so), and it is never taken for a dead one."""
    outcomes = _run(mn_key, factory=SlowDar, wait=1.0)
    verdicts = {i: o.verdict for i, o in outcomes.items()}
    ra_delay = "no RA to fe80::7e57 within 0.8 s of its RS (RFC 4861 §6.2.6: MAX_RA_DELAY_TIME 0.5 s)"
    assert _failed(outcomes) == {"DAR-RA-001": ra_delay}  # the one rule with a deadline
    # DAR-RA-002's window is MIN_DELAY_BETWEEN_RAS long; a late Binding Error is judged as it is
    passed = {i for i, v in verdicts.items() if v is Verdict.PASS}
    assert passed == {"DAR-RA-002", "DAR-BE-001", "DAR-BE-003", "DAR-MH-005"}
    late = {i: o.reason for i, o in outcomes.items() if o.verdict is Verdict.INCONCLUSIVE and i != "DAR-ND-001"}
    assert len(late) == len(outcomes) - 6, late
    assert all(f"came {SLOW} {SLOWER}" in why for i, why in late.items() if i not in ("DAR-RA-003", "DAR-RA-004"))
    for i in ("DAR-RA-003", "DAR-RA-004"):
        assert late[i].startswith(f"the RA to a valid RS came {SLOW} s after it, past the wait of 1 s: "), late[i]
        assert late[i].endswith(f"proves nothing (run again with a --wait above {SLOW})"), late[i]



def test_the_grace_is_how_long_past_the_wait_a_slow_dar_is_told_from_a_silent_one(mn_key: KeyPair) -> None:
    """--grace S: an expected answer that misses the wait is awaited S seconds more. The DAR
    answering SLOW (1.5) s late, the wait 1 s: within a grace of 5 s (the default) its BA comes
    and the case is inconclusive; past a grace of 0.25 s the BA is missing, and on a link that
    loses nothing (in-process) that fails it, the verdict naming the grace."""
    cases = select("dar", ["DAR-CGA-001"])
    for grace, verdict in ((5.0, Verdict.INCONCLUSIVE), (0.25, Verdict.FAIL)):
        tester = DarTester(InprocDar(factory=SlowDar), mn_key, "2001:db8:1::1", "2001:db8:1::/64", wait=1.0, grace=grace)
        (outcome,) = run_all(cases, tester)
        assert outcome.verdict is verdict, outcome.reason
    assert outcome.reason.endswith("within 1 s (and 0.25 s more for a slow IUT), got nothing"), outcome.reason

def test_a_slow_dar_that_answers_what_it_must_drop_fails_never_passes(mn_key: KeyPair) -> None:
    """A slow DAR that checks no framing answers a faulty BU after the silence the case waited:
    that answer comes while the case awaits the BA to the valid BU after it, and is told from it
    by its sequence number (on a real link, it may come while the tester probes the link for
    loss, and is an answer all the same)."""
    unchecked = mock.patch("scapy_fama.conformance.executor.decode", _unchecked)
    outcomes = _run(mn_key, factory=SlowDar, wait=1.0, patch=unchecked)
    failed = _failed(outcomes)
    assert not FRAMING & {i for i, o in outcomes.items() if o.verdict is Verdict.PASS}
    for case_id, what in (("DAR-MH-001", "a BU with a bad checksum"), ("DAR-MH-004", "a BU with Payload Proto 6")):
        assert failed[case_id].startswith(f"{what} must be dropped silently, got BA status=0 "), failed.get(case_id)
        assert failed[case_id].endswith(f"the dropped BU's) {SLOW} s after it, past the wait of 1 s"), failed[case_id]


class LossyLink(InprocDar):
    """Our DarCore behind a link that loses a fifth of the packets each way (seeded)."""

    lossless = False

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.rng = random.Random(seed)

    def _deliver(self, raw: bytes) -> None:
        if self.rng.random() >= 0.2:
            super()._deliver(raw)

    def _received(self, raw: bytes, at: float | None = None, mac: str = "") -> bool:
        return self.rng.random() >= 0.2 and super()._received(raw, at, mac)


@pytest.mark.parametrize("seed", [1, 2])
def test_packets_lost_on_the_link_make_a_case_inconclusive_never_failed(mn_key: KeyPair, seed: int) -> None:
    """What the link loses is not the DAR's fault: an answer that never came, or a silence,
    decides a case only when the link is not seen to lose packets (Router Solicitations
    answered, then one not)."""
    tester = DarTester(LossyLink(seed), mn_key, "2001:db8:1::1", "2001:db8:1::/64", wait=1.0)
    outcomes = run_all(select("dar"), tester)
    assert not [(o.case.id, o.reason) for o in outcomes if o.verdict is Verdict.FAIL]
    lossy = [o.reason for o in outcomes if "the link loses packets" in o.reason]
    assert lossy and all(": the answer may be lost" in why or ": the silence proves nothing" in why for why in lossy)


def _spent_binding_errors(*args: Any, config: DarConfig, **kwargs: Any) -> DarCore:
    """Our DarCore whose Binding Error budget for the tester's /64 an earlier case has spent (on a
    real DAR the cases share one): a BE now, but none for 5 s after it (profile §6, RFC 6275 §9.3.3)."""
    core = DarCore(*args, config=replace(config, binding_error_prefix_burst=1), **kwargs)
    spend = IPv6(src="2001:db8:ca::99", dst="2001:db8:1::1") / IPv6ExtHdrDestOpt(options=[HAO(hoa="2001:db8:1::99")])
    assert any(isinstance(e, Send) for e in core.on_message(decode(bytes(spend / UDP())), 0.0))
    return core


def test_a_rate_limited_binding_error_is_asked_for_again_not_failed(mn_key: KeyPair) -> None:
    """A DAR may rate-limit Binding Errors, per source prefix too, and all the tester's CoAs share
    one: the BE cases ask once more after the limiter's refill, and pass."""
    outcomes = _run(mn_key, factory=_spent_binding_errors)
    for case_id in ("DAR-BE-001", "DAR-BE-003", "DAR-MH-005"):
        assert outcomes[case_id].verdict is Verdict.PASS, (case_id, outcomes[case_id].reason)
        sent = [f for f in outcomes[case_id].frames if f.direction == TESTER]
        assert len(sent) >= 2 and sent[-1].raw == sent[-2].raw  # the same packet, asked twice


class RefusesFloodWith148(DarCore):
    """Answers a BU its DoS guard or a full cache refuses with 148, not 130."""

    def _reply(self, bu: BindingUpdate, status: int, **kwargs: Any) -> Effects:
        return super()._reply(bu, 148 if status == 130 else status, **kwargs)


def test_a_dar_whose_dos_guard_answers_148_fails_the_130_cases(mn_key: KeyPair) -> None:
    """Valid CGA BUs refused with 148 under a flood: DAR-DOS-001 fails, naming the status (it
    said it could not exhaust the budget); DAR-BU-014's 130 at a full cache fails too."""
    failed = _failed(_run(mn_key, factory=RefusesFloodWith148))
    assert set(failed) == {"DAR-DOS-001", "DAR-BU-014"}, failed
    assert failed["DAR-DOS-001"] == "valid CGA-signed BUs in a burst got BA 148: one the DoS guard refuses gets 130"


class ExpiryNeverSettles(DarCore):
    """Its expiry timer comes due and, handled, stays due: a DAR process that would spin."""

    def _expire(self, now: float) -> Effects:
        return []


def test_a_dar_whose_timer_never_settles_fails_the_case_it_hangs_in(mn_key: KeyPair) -> None:
    """In-process time ran to the core's deadline for ever: the run never ended. Now the core has
    hung, as a crashed one has: that case fails saying so, the later ones are inconclusive."""
    outcomes: list[Outcome] = []
    tester = DarTester(InprocDar(factory=ExpiryNeverSettles), mn_key, "2001:db8:1::1", "2001:db8:1::/64")
    cases = select("dar", ["DAR-DATA-00[45]"])
    run = threading.Thread(target=lambda: outcomes.extend(run_all(cases, tester)), daemon=True)
    run.start()
    run.join(120.0)
    assert not run.is_alive(), "the run did not end"
    (passed, hung) = outcomes
    assert passed.verdict is Verdict.PASS and hung.verdict is Verdict.FAIL
    assert hung.reason == (
        "the IUT stopped answering during this case "
        "(it crashed: its timer fires again and again at 8.000 s, never later)"
    )


class AcceptsWithStatus1(DarCore):
    """Accepts every registration with status 1, as a DAR whose prefix will be deprecated
    before the bindings end must (RFC 6275 §10.3.1)."""

    def _reply(self, bu: BindingUpdate, status: int, **kwargs: Any) -> Effects:
        return super()._reply(bu, 1 if status == 0 and kwargs.get("lifetime") else status, **kwargs)


def test_a_dar_that_accepts_with_status_1_passes_as_one_that_accepts_with_0(mn_key: KeyPair) -> None:
    outcomes = _run(mn_key, factory=AcceptsWithStatus1)
    bad = {i: (o.verdict.value, o.reason) for i, o in outcomes.items() if o.verdict is not Verdict.PASS}
    assert set(bad) == {"DAR-ND-001"}, bad
    ba1 = [decode(f.raw) for f in outcomes["DAR-CGA-001"].frames if f.direction != TESTER]
    assert any(getattr(m, "status", None) == 1 for m in ba1)  # the mutation took hold
