"""The oracles: the liveness probe's idea of a correct BA, the time limit, failure signatures."""

from __future__ import annotations

import random
import signal
import time

import pytest
from scapy.layers.inet6 import IPv6

from scapy_fama.codec import decode, encode_bytes
from scapy_fama.fuzz.campaign import Campaign, CampaignConfig
from scapy_fama.fuzz.oracles import Failure, alarm_handler, guarded
from scapy_fama.fuzz.seeds import DAR1, DAR_ROLE, PREFIX1, Seed, World, build_world
from scapy_fama.fuzz.targets import InprocTarget, make_probe, probe_problem
from scapy_fama.proto import DarCore, MnCore
from scapy_fama.proto.effects import Effects, Send
from scapy_fama.proto.messages import BindingAck, BindingUpdate, Message
from scapy_fama.verify import verify_bu
from tests.fuzz.planted import MuteInproc, StallingInproc


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(21)


def test_the_probe_is_a_fresh_mns_valid_first_bu(world: World) -> None:
    probe = make_probe(world, random.Random(3), coa=world.coa, dar=DAR1, prefix=PREFIX1)
    assert probe.hoa != world.hoa and probe.hoa.startswith("2001:db8:1:")  # a new CGA of the DAR's prefix
    bu = decode(probe.raw)
    assert isinstance(bu, BindingUpdate) and bu.hoa == probe.hoa and bu.seq == probe.seq
    assert verify_bu(IPv6(probe.raw))  # CGA, signature, checksum


def test_a_correct_ba_passes_and_each_defect_is_named(world: World) -> None:
    target = InprocTarget()
    target.setup(world)
    probe = make_probe(world, random.Random(4), coa=world.coa, dar=DAR1, prefix=PREFIX1)
    (ba,) = [encode_bytes(e.msg) for e in target.core("dar").on_message(decode(probe.raw), 3.0) if isinstance(e, Send)]
    assert probe_problem([ba], probe, world) is None
    bad = ba[:-1] + bytes((ba[-1] ^ 1,))  # the BAD is the last option: its last byte
    assert "BAD does not verify" in str(probe_problem([bad], probe, world))
    status = bytearray(ba)
    status[40 + 24 + 6] = 148  # BA status behind the 24-byte RH2
    assert "BA 148" in str(probe_problem([bytes(status)], probe, world))
    assert probe_problem([], probe, world) == "no answer to a fresh MN's first BU"


def test_a_hang_becomes_a_failure_and_exceptions_keep_their_place() -> None:
    hang = guarded(lambda: time.sleep(5), 0.2)
    assert isinstance(hang, Failure) and hang.oracle == "hang"
    crash = guarded(lambda: [][1], 1.0)
    assert isinstance(crash, Failure) and crash.kind == "IndexError" and crash.where.startswith("test_oracles.py:")
    assert guarded(lambda: "fine", 1.0) == "fine"


def test_a_campaign_installs_the_alarm_once_and_gives_it_back() -> None:
    before = signal.getsignal(signal.SIGALRM)
    with alarm_handler():
        ours = signal.getsignal(signal.SIGALRM)
        assert ours is not before
        hang = guarded(lambda: time.sleep(5), 0.2)
        assert isinstance(hang, Failure) and hang.detail == "case still running after 0.2 s"
        assert guarded(lambda: "fine", 1.0) == "fine" and signal.getsignal(signal.SIGALRM) is ours
    assert signal.getsignal(signal.SIGALRM) is before


def test_a_core_is_as_built_until_its_state_or_its_generators_change(world: World) -> None:
    template = world.dar_template
    core = world.clone(template)
    assert world.as_built(core, template)
    core.on_message(decode(b"\x60" + bytes(39)), 3.0)  # undecodable: dropped without a trace
    assert world.as_built(core, template)
    phkt_bu = decode(world.seeds["phkt-bu"].raw)  # accepted: the record's sequence number moves on
    assert any(isinstance(e, Send) and isinstance(e.msg, BindingAck) and e.msg.status == 0
               for e in core.on_message(phkt_bu, 3.0))
    assert not world.as_built(core, template)
    again = world.clone(template)
    assert world.as_built(again, template)
    dar_rng, mn_rng = world.rngs
    mn_rng.randbytes(4)  # the MN template's generator drew bytes: nothing the DAR draws from
    assert world.as_built(again, template)
    dar_rng.randbytes(4)  # the DAR's
    assert not world.as_built(again, template)
    assert world.as_built(world.clone(template), template)  # a clone rewinds them


class _AlwaysProbed(InprocTarget):
    """Probes after every case, a fresh core each time, remembering no verdict, and notes which
    cases the real target finds as built (and so neither probes nor clones after)."""

    remembers = False

    def run(self, raw: bytes, seed: Seed, now: float) -> str:
        outcome = super().run(raw, seed, now)
        self.skipped, self._as_built = self._as_built, False
        self._kept.clear()
        return outcome


@pytest.mark.parametrize("keep_valid", [False, True])
def test_a_case_that_leaves_its_core_as_built_passes_the_probe_it_skips(keep_valid: bool) -> None:
    """Skipping those probes and clones changes no verdict and no outcome."""
    config = CampaignConfig(target="inproc", seed=3, cases=400, keep_valid=keep_valid, minimise=False)
    probed = _AlwaysProbed()
    campaign = Campaign(config, target=probed)
    skipped = 0
    for i in range(config.cases):
        _, result, live = campaign.run_case(i)
        assert live and not isinstance(result, Failure), (i, result)
        skipped += probed.skipped
    assert 100 < skipped < config.cases  # most mutants leave no trace, some do
    assert Campaign(config).run().tally() == Campaign(config, target=_AlwaysProbed()).run().tally()


class _CountedCores(InprocTarget):
    """Counts the messages delivered to case cores (not to the soak DAR) and the bytes decoded."""

    played = decoded = 0

    def deliver(self, core: DarCore | MnCore, msg: Message, now: float) -> Effects:
        self.played += core is not self.soak
        return super().deliver(core, msg, now)

    def _decode(self, raw: bytes) -> Message:
        self.decoded += raw not in self._decoded or not self.remembers
        return super()._decode(raw)


@pytest.mark.parametrize("keep_valid", [False, True])
def test_a_case_whose_message_was_met_before_is_answered_from_memory(keep_valid: bool) -> None:
    """A mutant that decodes to the message of an earlier case takes that case's outcome and
    probe verdict: the same counts as decoding and running every case on its core, for far
    fewer cores run and bytes decoded."""
    config = CampaignConfig(target="inproc", seed=5, cases=1500, keep_valid=keep_valid, minimise=False)
    remembered, every = _CountedCores(), _CountedCores()
    every.remembers = False
    assert Campaign(config, target=remembered).run().tally() == Campaign(config, target=every).run().tally()
    assert every.played >= config.cases and remembered.played < every.played * 0.7
    assert every.decoded == config.cases and remembered.decoded < config.cases * 0.85


class _CountedStalling(StallingInproc):
    """The stalling DAR's target, counting the probes that really ran and those that failed."""

    ran = failed = 0

    def _dar_alive(self, index: int, now: float) -> str | None:
        verdict = super()._dar_alive(index, now)
        self.ran += 1
        self.failed += verdict is not None
        return verdict


class _CountedStallingUnremembered(_CountedStalling):
    remembers = False


def test_a_remembered_probe_verdict_is_the_verdict_the_probe_gives() -> None:
    """A probe's verdict is remembered by the probed state, a failing one too (a stalled DAR);
    a campaign counts the same with and without the memory."""
    config = CampaignConfig(target="inproc", seed=1, cases=600, families=("structure",), minimise=False)
    remembered, every = _CountedStalling(), _CountedStallingUnremembered()
    summary = Campaign(config, target=remembered).run()
    assert summary.tally() == Campaign(config, target=every).run().tally()
    assert summary.outcomes["structure"]["FAILED:liveness"] > 0
    assert remembered.ran < every.ran
    fresh = _CountedStalling()
    Campaign(config, target=fresh)  # set up: the world, the templates
    verdicts = []
    for stalled in (True, True, False, True):
        fresh.reset()
        fresh.last_role, fresh.last_outcome = DAR_ROLE, "silent"
        fresh.core(DAR_ROLE).stalled = stalled
        before = fresh.ran
        verdicts.append((fresh.alive(random.Random(5), 3.5), fresh.ran - before))
    mute = "no answer to a fresh MN's first BU"
    assert verdicts == [(mute, 1), (mute, 0), (None, 1), (mute, 0)]  # the same state again: from memory


class _OwnProbe(InprocTarget):
    """A user's target with a probe of its own (here ours): it probes after every case."""

    def alive(self, rng: random.Random, now: float) -> str | None:
        return super().alive(rng, now)


def test_a_target_with_its_own_probe_never_takes_a_core_a_probe_changed() -> None:
    """The next case takes a core left as built only when no probe ran on it (the MN's probe
    registers the real BA: a core taken after it refused the BA of every later case)."""
    summary = Campaign(CampaignConfig(target="mn", seed=1, cases=200, minimise=False), target=_OwnProbe()).run()
    assert not summary.findings, [f.failure.detail for f in summary.findings]


class _LooksAtItsCore(InprocTarget):
    """A probe of its own that reads the case's core: whether the case left it changed."""

    def __init__(self) -> None:
        super().__init__()
        self.changed: list[bool] = []

    def alive(self, rng: random.Random, now: float) -> str | None:
        template = self._template(self.last_role)
        self.changed.append(self.world.snapshot(self.core(self.last_role), template) != self.world.built(template))
        return None


class _LooksAtItsCoreUnremembered(_LooksAtItsCore):
    remembers = False


def test_a_probe_of_its_own_sees_the_core_its_case_left_also_when_the_case_came_from_memory() -> None:
    """A case answered from memory has not run on its core; the core is played when someone
    asks for it, so a subclass's probe sees what the case did (it once saw an untouched
    clone: 187 changed cores against 549 in 3,000 cases)."""
    config = CampaignConfig(target="inproc", seed=5, cases=800, minimise=False)
    remembered, every = _LooksAtItsCore(), _LooksAtItsCoreUnremembered()
    Campaign(config, target=remembered).run()
    Campaign(config, target=every).run()
    assert remembered.changed == every.changed and sum(every.changed) > 50


def test_a_template_that_fails_the_probe_stops_the_set_up() -> None:
    """Skipping probes relies on the templates passing each of them: checked before any case."""
    with pytest.raises(RuntimeError, match="the DAR template fails probe 0: no answer to a fresh MN's first BU"):
        Campaign(CampaignConfig(target="inproc", seed=3, cases=1), target=MuteInproc())
