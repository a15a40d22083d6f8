"""A dead IUT is not a failing one: the case during which it stopped answering fails, saying
so, and the cases after it are inconclusive; its silence never passes a case."""

from __future__ import annotations

from collections.abc import Callable

from scapy_fama.codec import decode
from scapy_fama.conformance import catalogue
from scapy_fama.conformance.case import Verdict, select
from scapy_fama.conformance.dar_tester import ALIVE_TRIES, DarTester
from scapy_fama.conformance.executor import IUT, TESTER, Executor, InprocDar
from scapy_fama.conformance.inproc_mn import DrivenMn
from scapy_fama.conformance.mn_tester import MnTester, nd_target
from scapy_fama.conformance.runner import Outcome, run_all
from scapy_fama.crypto import KeyPair
from scapy_fama.proto import DarCore, MnCore
from scapy_fama.proto.effects import Effects
from scapy_fama.proto.messages import (
    BindingAck,
    Datagram,
    Message,
    RouterSolicitation,
    UnknownMobility,
)
from scapy_fama.wire.numbers import NS
from tests.conformance.planted_mn import MnBehindALink

catalogue.load()


def _dar_run(key: KeyPair, factory: Callable[..., DarCore], patterns: list[str] | None = None) -> list[Outcome]:
    tester = DarTester(InprocDar(factory=factory), key, "2001:db8:1::1", "2001:db8:1::/64", wait=2.0)
    return run_all(select("dar", patterns), tester)


class CrashesOnAnUnknownType(DarCore):
    """Raises on Mobility Header type 42 (DAR-MH-005 sends it; DAR-BE-003 another unknown type)."""

    def on_message(self, msg: Message, now: float) -> Effects:
        if isinstance(msg, UnknownMobility) and msg.mhtype == 42:
            raise RuntimeError("planted crash on MH type 42")
        return super().on_message(msg, now)


def test_a_dar_that_crashes_fails_that_case_and_leaves_the_rest_inconclusive(mn_key: KeyPair) -> None:
    outcomes = _dar_run(mn_key, CrashesOnAnUnknownType)
    ids = [o.case.id for o in outcomes]
    crash = ids.index("DAR-MH-005")
    before, crashed, after = outcomes[:crash], outcomes[crash], outcomes[crash + 1 :]
    assert all(o.verdict is Verdict.PASS for o in before), [(o.case.id, o.reason) for o in before if o.verdict is not Verdict.PASS]
    assert crashed.verdict is Verdict.FAIL
    assert crashed.reason.startswith("the IUT stopped answering during this case (it crashed: ")
    assert "RuntimeError: planted crash on MH type 42" in crashed.reason
    assert after and all(
        o.verdict is Verdict.INCONCLUSIVE and o.reason == "the IUT stopped answering after DAR-MH-005"
        and not o.frames
        for o in after
    )


class CrashesOnAHomeAddressOption(DarCore):
    """Raises on a datagram with a Home Address option: DAR-BE-002 expects silence then."""

    def on_message(self, msg: Message, now: float) -> Effects:
        if isinstance(msg, Datagram) and msg.hoa is not None:
            raise ValueError("planted crash on a HAO")
        return super().on_message(msg, now)


def test_the_silence_of_a_crashed_dar_never_passes_a_case(mn_key: KeyPair) -> None:
    silent, later = _dar_run(mn_key, CrashesOnAHomeAddressOption, ["DAR-BE-002", "DAR-BU-001"])
    assert silent.case.id == "DAR-BE-002" and silent.verdict is Verdict.FAIL
    assert "ValueError: planted crash on a HAO" in silent.reason
    assert later.verdict is Verdict.INCONCLUSIVE and "after DAR-BE-002" in later.reason


def _goes_deaf() -> type[DarCore]:
    """A DAR that answers nothing from the first unknown MH type on (DAR-MH-005 sends one)."""
    deaf = {"now": False}

    class GoesDeaf(DarCore):
        def on_message(self, msg: Message, now: float) -> Effects:
            deaf["now"] = deaf["now"] or isinstance(msg, UnknownMobility)
            return [] if deaf["now"] else super().on_message(msg, now)

    return GoesDeaf


def test_a_dar_that_goes_deaf_is_found_by_the_probe(mn_key: KeyPair) -> None:
    """No exception, just silence from a point on (a hung process): the probe finds it."""
    outcomes = {o.case.id: o for o in _dar_run(mn_key, _goes_deaf(), ["mh", "DAR-PHKT-00[12]"])}
    died = outcomes["DAR-MH-005"]
    assert died.verdict is Verdict.FAIL and "no RA to a Router Solicitation" in died.reason
    # ALIVE_TRIES rounds, the first within the wait and LATE
    assert "no BA to a valid CGA-signed BU, 6 times (within 7 s the first)" in died.reason
    assert "the case: expected a Binding Error" in died.reason
    assert outcomes["DAR-PHKT-001"].reason == "the IUT stopped answering after DAR-MH-005"


class DeafBehindALink(InprocDar):
    """A DAR that goes deaf at DAR-MH-005, behind a link the tester cannot take for lossless
    (as on an interface), so that a missing answer makes it probe the link."""

    lossless = False

    def __init__(self) -> None:
        super().__init__(factory=_goes_deaf())


def test_a_dead_dar_is_probed_once_then_left_to_the_liveness_check(mn_key: KeyPair) -> None:
    """Each unanswered expectation probed the link with PROBES Router Solicitations, each
    awaited LATE past the wait: a dead DAR cost minutes a case. The first probe unanswered now
    runs the liveness check, which finds the DAR dead: no more probes, in this case or at its
    end, and the verdicts stand (the case fails saying the IUT stopped answering)."""
    tester = DarTester(DeafBehindALink(), mn_key, "2001:db8:1::1", "2001:db8:1::/64", wait=2.0)
    outcomes = {o.case.id: o for o in run_all(select("dar", ["mh", "DAR-PHKT-00[12]"]), tester)}
    died = outcomes["DAR-MH-005"]
    assert died.verdict is Verdict.FAIL and died.reason.startswith("the IUT stopped answering during this case (no RA")
    assert "the case: expected a Binding Error" in died.reason
    rs = [f for f in died.frames if f.direction == TESTER and isinstance(decode(f.raw), RouterSolicitation)]
    assert len(rs) == 1 + ALIVE_TRIES, len(rs)  # one probe, then the liveness check's rounds
    assert outcomes["DAR-PHKT-001"].reason == "the IUT stopped answering after DAR-MH-005"


class CrashesOn148(MnCore):
    """Raises on a BA 148 (MN-STATUS-003 expects silence after it)."""

    def on_message(self, msg: Message, now: float) -> Effects:
        if isinstance(msg, BindingAck) and msg.status == 148:
            raise KeyError("planted crash on BA 148")
        return super().on_message(msg, now)


def test_an_mn_that_crashes_fails_that_case_and_leaves_the_rest_inconclusive(mn_key: KeyPair) -> None:
    executor = DrivenMn(mn_key, factory=CrashesOn148)
    outcomes = {o.case.id: o for o in run_all(select("mn", ["MN-STATUS-00[34]", "MN-BU-001"]), MnTester(executor))}
    assert outcomes["MN-BU-001"].verdict is Verdict.PASS
    crashed = outcomes["MN-STATUS-003"]
    assert crashed.verdict is Verdict.FAIL and "KeyError: 'planted crash on BA 148'" in crashed.reason
    assert outcomes["MN-STATUS-004"].reason == "the IUT stopped answering after MN-STATUS-003"


def test_a_dead_mn_is_probed_once_then_left_to_the_liveness_check(mn_key: KeyPair) -> None:
    """As a DAR: an MN that crashed in MN-STATUS-003 (it expects silence after BA 148), behind a
    link the tester cannot take for lossless, got all PROBES Neighbour Solicitations, each
    unanswered, before its silence passed and the runner found it dead. Now the first
    unanswered probe runs the liveness check: no more probes, and the verdicts stand."""
    executor = MnBehindALink(mn_key, factory=CrashesOn148)
    outcomes = {o.case.id: o for o in run_all(select("mn", ["MN-STATUS-00[34]"]), MnTester(executor))}
    died = outcomes["MN-STATUS-003"]
    assert died.verdict is Verdict.FAIL and "KeyError: 'planted crash on BA 148'" in died.reason
    probes = [f for f in died.frames if f.direction == TESTER and nd_target(f.raw, NS)]
    assert len(probes) == 1, len(probes)
    assert outcomes["MN-STATUS-004"].reason == "the IUT stopped answering after MN-STATUS-003"


def test_the_same_suite_twice_gives_the_same_verdicts(mn_key: KeyPair) -> None:
    first, second = (
        {o.case.id: o.verdict for o in _dar_run(mn_key, CrashesOnAnUnknownType)} for _ in range(2)
    )
    assert first == second


class Bench(Executor):
    """A link whose IUT answers nothing, and a clock set by hand."""

    kind, role = "inproc", "dar"

    def __init__(self) -> None:
        super().__init__()
        self.t = 0.0

    def clock(self) -> float:
        return self.t

    def _deliver(self, raw: bytes) -> None: ...

    def _advance(self, deadline: float) -> bool:
        self.t = deadline
        return False


def test_a_frame_from_before_the_case_began_is_not_the_cases() -> None:
    x = Bench()
    x.t = 10.0
    x.begin(select("dar", ["DAR-BU-001"])[0].setup)
    late = bytes(40)
    assert not x._received(late, at=-0.4)  # e.g. a kernel's NS retry for the last case's CoA
    assert x._received(late, at=0.1) and [(f.time, f.direction) for f in x.frames] == [(0.1, IUT)]
