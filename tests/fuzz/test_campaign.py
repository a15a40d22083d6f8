"""Campaigns: reproducible case by case, silent on our own code, loud on planted defects."""

from __future__ import annotations

import json
import os
import random
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console

from scapy_fama.cli.fuzz import main, render_summary
from scapy_fama.fuzz import findings
from scapy_fama.fuzz.campaign import Campaign, CampaignConfig, replay
from scapy_fama.fuzz.mutators import FAMILIES
from scapy_fama.fuzz.seeds import Seed
from scapy_fama.fuzz.targets import Target


def test_case_i_depends_on_seed_and_i_alone() -> None:
    a = Campaign(CampaignConfig(seed=5, keep_valid=True))
    b = Campaign(CampaignConfig(seed=5, keep_valid=True))
    for i in (0, 1, 17, 999, 123_456):
        ca, cb = a.make_case(i), b.make_case(i)
        assert (ca.raw, ca.chain, ca.family, ca.seed.name) == (cb.raw, cb.chain, cb.family, cb.seed.name)
    # the BA's PHKT ciphertext too (fixed: RSAES-PKCS1-v1_5 pads at random); the same outcome for
    # every mutant of it, in any world (a flipped bit once decrypted to other garbage in each)
    flips = [i for i in range(600) if a.make_case(i).seed.name == "ba" and a.make_case(i).family == "crypto"]
    assert len(flips) > 20 and [a.check(a.make_case(i).raw, a.make_case(i).seed, i, True) for i in flips] == \
        [b.check(b.make_case(i).raw, b.make_case(i).seed, i, True) for i in flips]
    assert Campaign(CampaignConfig(seed=6)).make_case(17).chain != a.make_case(17).chain
    assert [a.make_case(i).family for i in range(3)] == list(FAMILIES)


@pytest.mark.parametrize("keep_valid", [False, True])
def test_ten_thousand_cases_find_nothing_in_our_code(keep_valid: bool) -> None:
    """Together 20,000 in-process cases over the three families, liveness after each."""
    summary = Campaign(CampaignConfig(target="inproc", seed=2, cases=10_000, keep_valid=keep_valid)).run()
    assert summary.cases == 10_000
    assert not summary.findings, [f.failure.as_dict() for f in summary.findings]
    for family in FAMILIES:
        assert summary.family_cases[family] > 3000
        assert summary.pair_count(family) > (3 if family == "crypto" else 40)  # crypto: few ways to fail
    outcomes = {part for f in FAMILIES for label in summary.outcomes[f] for part in label.split(", ")}
    assert {"BA 148", "drop:undecodable"} <= outcomes
    if keep_valid:  # re-signed mutants get past authorisation into the deep logic
        assert {"BA 0", "BA 135", "binding-registered"} <= outcomes


def test_a_dissector_crashing_on_an_odd_option_length_is_found_and_replays(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = "tests.fuzz.planted:OddLengthDissect"
    argv = ["--target", target, "--family", "structure", "--cases", "200", "--out", str(tmp_path), "--json"]
    assert main(argv) == 1
    summary = json.loads(capsys.readouterr().out)
    planted = [f for f in summary["findings"] if f["kind"] == "TypeError"]
    assert len(planted) == 1 and planted[0]["signature"] == "exception:TypeError:planted.py:30"
    found = findings.load(Path(planted[0]["json"]))
    assert len(found.minimal_chain) == 1 and found.minimal_chain[0][0] == "option-length"
    assert found.minimal_chain[0][1]["length"] % 2 == 1  # the smallest mutation that triggers it
    assert found.reproduced_alone and (tmp_path / f"{found.id}.pcap").stat().st_size > 0
    assert main(["--replay", planted[0]["json"]]) == 1
    assert "reproduced: exception:TypeError:planted.py:30" in capsys.readouterr().err


def test_a_dar_that_stops_answering_after_a_255_byte_cga_option_is_found(tmp_path: Path) -> None:
    config = CampaignConfig(target="tests.fuzz.planted:StallingInproc", seed=1, cases=600,
                            families=("structure",), out=tmp_path)
    summary = Campaign(config).run()
    stalls = [f for f in summary.findings if f.failure.oracle == "liveness"]
    assert len(stalls) == 1, [f.failure.signature for f in summary.findings]
    found = stalls[0]
    assert [name for name, _ in found.minimal_chain] == ["cga-size"]
    assert found.minimal_chain[0][1]["size"] == 255
    raw = found.minimal_raw  # on the wire: one CGA Parameters option of 255 bytes
    assert raw[64 + 12 : 64 + 14] == bytes((12, 255))
    result = replay(tmp_path / f"{found.id}.json")
    assert result.reproduced and result.regenerated
    assert json.loads((tmp_path / f"{found.id}.json").read_text())["case"] == found.case


class _Unplugged(Target):
    """A stateful target (like an implementation on a wire) that stops answering after case 7."""

    keeps_state = True
    liveness_every = 5

    def run(self, raw: bytes, seed: Seed, now: float) -> str:
        self.seen = getattr(self, "seen", 0) + 1
        return "silent"

    def alive(self, rng: random.Random, now: float) -> str | None:
        return "no BA to the probe" if self.seen > 7 else None


def test_a_stateful_target_that_stays_dead_ends_the_campaign() -> None:
    summary = Campaign(CampaignConfig(cases=1000), target=_Unplugged()).run()
    assert summary.stopped == "target-lost" and summary.cases == 20  # probes after cases 10, 15, 20 failed
    (found,) = summary.findings
    assert found.failure.oracle == "liveness" and found.duplicates == 2 and not found.reproduced_alone
    assert found.minimal_chain == found.chain  # nothing minimised: the failure needs the cases before it
    assert found.minimised == "not-alone"


def test_the_finding_line_says_whether_the_chain_was_minimised(tmp_path: Path) -> None:
    """Every finding's line said "N mutation(s) after minimising", also one that nothing had
    minimised (it needs the cases before it; --no-minimise): now the line, the finding's file and
    the summary say which (Finding.minimised)."""
    for config, target, minimised, says in (
            (CampaignConfig(cases=1000), _Unplugged(), "not-alone", "mutation(s), not minimised: only a case that "
             "replays alone is, 2 duplicate(s), needs the cases before it)"),
            (CampaignConfig(target="tests.fuzz.planted:OddLengthDissect", families=("structure",), cases=200),
             None, "done", "1 mutation(s) after minimising"),
            (CampaignConfig(target="tests.fuzz.planted:OddLengthDissect", families=("structure",), cases=200,
                            minimise=False), None, "off", "mutation(s), not minimised: --no-minimise")):
        out = tmp_path / minimised
        summary = Campaign(replace(config, out=out), target=target).run()
        console = Console(record=True, width=400)
        render_summary(summary, console)
        found = summary.findings[0]
        assert found.minimised == minimised and summary.as_dict()["findings"][0]["minimised"] == minimised
        assert json.loads(summary.paths[found.id].read_text())["minimised"] == minimised
        assert findings.load(summary.paths[found.id]).minimised == minimised
        line = next(line for line in console.export_text().splitlines() if line.startswith(f"finding {found.id}"))
        assert says in line and ("after minimising" in line) == (minimised == "done"), line


def test_jobs_share_the_cases_out_and_give_the_results_of_one_process(tmp_path: Path) -> None:
    """--jobs N: cases sharded by (seed, i) over N processes; findings (the lowest case of each
    signature, minimised), duplicates and coverage are those of the serial run."""
    from scapy_fama.fuzz.parallel import run_parallel

    config = CampaignConfig(target="tests.fuzz.planted:OddLengthDissect", seed=3, cases=300,
                            families=("structure", "field"))
    serial = Campaign(config).run().as_dict()
    for jobs in (2, 3):
        shared = run_parallel(Campaign(replace(config, out=tmp_path / str(jobs))), jobs).as_dict()
        for doc in (serial, shared):
            for key in ("seconds", "execs_per_second"):
                doc.pop(key, None)
            for f in doc["findings"]:
                f["json"] = None
        assert shared == serial
    assert serial["findings"] and serial["findings"][0]["duplicates"] > 0
    (saved,) = (tmp_path / "2").glob("*.json")
    assert findings.load(saved).case == serial["findings"][0]["case"]


class _Vanishing(Target):
    """A target that takes its process down with it (as a crash in a C extension would)."""

    def run(self, raw: bytes, seed: Seed, now: float) -> str:
        os._exit(3)


def test_jobs_say_so_when_their_workers_die() -> None:
    """A worker gone without its last report: one error, not a wait for reports that never come."""
    from scapy_fama.fuzz.parallel import run_parallel

    with pytest.raises(RuntimeError, match="died without a word"):
        run_parallel(Campaign(CampaignConfig(cases=1000), target=_Vanishing()), 2)


def test_jobs_refuse_a_target_that_keeps_state() -> None:
    from scapy_fama.fuzz.parallel import run_parallel

    with pytest.raises(ValueError, match="keeps state between cases"):
        run_parallel(Campaign(CampaignConfig(cases=10), target=_Unplugged()), 2)
