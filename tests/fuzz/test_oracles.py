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
from scapy_fama.fuzz.seeds import DAR1, PREFIX1, Seed, World, build_world
from scapy_fama.fuzz.targets import InprocTarget, make_probe, probe_problem
from scapy_fama.proto.effects import Send
from scapy_fama.proto.messages import BindingAck, BindingUpdate
from scapy_fama.verify import verify_bu
from tests.fuzz.planted import MuteInproc


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
    next(iter(world.rngs)).randbytes(4)  # a generator the templates share drew bytes
    assert not world.as_built(again, template)
    assert world.as_built(world.clone(template), template)  # a clone rewinds them


class _AlwaysProbed(InprocTarget):
    """Probes after every case, a fresh core each time, and notes which cases the real target
    finds as built (and so neither probes nor clones after)."""

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


def test_a_template_that_fails_the_probe_stops_the_set_up() -> None:
    """Skipping probes relies on the templates passing each of them: checked before any case."""
    with pytest.raises(RuntimeError, match="the DAR template fails probe 0: no answer to a fresh MN's first BU"):
        Campaign(CampaignConfig(target="inproc", seed=3, cases=1), target=MuteInproc())
