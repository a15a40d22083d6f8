"""fama-fuzz on the command line: a summary, and one clear line for bad input."""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest

from scapy_fama import schemas
from scapy_fama.cli import fuzz as fuzz_cli
from scapy_fama.cli.fuzz import EXIT_STATUS, main
from scapy_fama.fuzz import findings
from scapy_fama.fuzz.campaign import Campaign, CampaignConfig


def test_a_short_campaign_writes_its_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--target", "dissect", "--cases", "30", "--seed", "4", "--out", str(tmp_path), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((tmp_path / "summary.json").read_text())
    assert printed["schema"] == "fama-fuzz/1" and printed["cases"] == 30 and printed["findings"] == []
    assert sum(f["cases"] for f in printed["coverage"]["by_family"].values()) == 30
    assert printed["coverage"]["pairs"] > 0 and printed["execs_per_second"] > 0


@pytest.mark.parametrize(
    "argv, says",
    [
        (["--target", "nonsense"], "unknown target 'nonsense'"),
        (["--target", "iface"], "--target iface needs --iface, --iut-address, --prefix, --coa"),
        (["--target", "iface", "--iface", "lo", "--iut-address", "2001:db8:1::1", "--prefix", "2001:db8:1::/64",
          "--coa", "2001:db8:1::5"], "must be a /64 holding --iut-address and not --coa"),
        (["--target", "iface", "--iface", "nosuch0", "--iut-address", "2001:db8:1::1", "--prefix", "2001:db8:1::/64",
          "--coa", "2001:db8:2::5"], "--iface nosuch0: no such interface"),
        (["--cases", "many"], "not a whole number: 'many'"),
        (["--seconds", "-3"], "must be positive"),
        (["--family", "fields"], "unknown mutator families ['fields']"),
        (["--replay", "/nonexistent/finding.json"], "--replay /nonexistent/finding.json: No such file or directory"),
        (["--target", "json:nothing"], "cannot be loaded"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv: list[str], says: str, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "scapy_fama.cli.fuzz", *argv, "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fama-fuzz: error:") and says in lines[0], done.stderr


@pytest.mark.parametrize(
    "target, corpus, says",
    [
        ("dar", "nonexistent", "--merge needs corpus directories (--corpus DIR ...): {tmp}/nonexistent"),
        ("inproc", "corpus", "--engine libfuzzer fuzzes a harness: dissect, decode, dar, mn, analyze, not 'inproc'"),
    ],
)
def test_a_merge_with_bad_input_is_one_line_and_makes_no_folder(target: str, corpus: str, says: str,
                                                                 tmp_path: Path) -> None:
    """--merge made its folder, and ./fama-fuzz-findings, before it looked at --corpus and --target:
    the wrong input left empty folders behind, and a target that is no harness was
    fama-fuzz-harness's error, exit 1."""
    (tmp_path / "corpus").mkdir()
    done = subprocess.run([sys.executable, "-m", "scapy_fama.cli.fuzz", "--engine", "libfuzzer", "--target", target,
                           "--merge", "merged", "--corpus", str(tmp_path / corpus)],
                          capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path)
    assert (done.returncode, done.stderr) == (2, f"fama-fuzz: error: {says.format(tmp=tmp_path)}\n")
    assert [p.name for p in tmp_path.iterdir()] == ["corpus"]


def test_a_finding_file_that_is_not_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bogus = tmp_path / "x.json"
    bogus.write_text(json.dumps({"format": "something/else"}))
    assert main(["--replay", str(bogus)]) == 2
    assert "not a fama-fuzz-finding/1 document" in capsys.readouterr().err


@pytest.mark.parametrize(
    "target, says",
    [
        ("os:path", "target 'os:path' is a module, not a subclass of scapy_fama.fuzz.targets.Target"),
        ("json:JSONDecoder", "is a type, not a subclass"),
        ("scapy_fama.fuzz.targets:Target", "does not implement run(raw, seed, now)"),
        ("tests.fuzz.planted:NeedsArguments", "failed to start: TypeError"),
        ("tests.fuzz.planted:OtherRun", "run(self, case: 'bytes') -> 'str' does not take (raw, seed, now)"),
        ("tests.fuzz.planted:HalfDoneProbe", "not fully implemented: NotImplementedError: the probe of our DAR is to do"),
    ],
)
def test_a_target_that_cannot_be_fuzzed_is_one_line_and_exit_3(target: str, says: str, tmp_path: Path) -> None:
    """Not a finding (exit 1) and no traceback: the target itself is unusable (issue 16.3)."""
    done = subprocess.run([sys.executable, "-m", "scapy_fama.cli.fuzz", "--target", target, "--cases", "5",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fama-fuzz: error:") and says in lines[0], done.stderr
    assert not list(tmp_path.glob("*.json"))  # no finding written


MY_TARGET = """from scapy_fama.fuzz.targets import DissectTarget


class Mine(DissectTarget):
    def run(self, raw, seed, now):
        return super().run(raw, seed, now)
"""


def test_a_target_of_ones_own_is_found_in_the_current_folder(tmp_path: Path) -> None:
    """The installed command did not look in the current folder (python -m does): a user's
    mytarget.py beside them was 'No module named mytarget', exit 2."""
    (tmp_path / "mytarget.py").write_text(MY_TARGET)
    command = Path(sys.executable).with_name("fama-fuzz")
    done = subprocess.run([str(command), "--target", "mytarget:Mine", "--cases", "20", "--json"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["cases"] == 20


def test_the_progress_bar_moves_during_a_campaign() -> None:
    """Progress is reported while the campaign runs, with the cases done so far (issue 16.1)."""
    seen: list[int] = []
    Campaign(CampaignConfig(target="dissect", seed=3, cases=12)).run(lambda s: seen.append(s.cases), progress_every=0)
    assert seen == list(range(1, 13))


def test_jobs_on_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--target", "dissect", "--cases", "40", "--seed", "4", "--json"]
    assert main([*argv, "--out", str(tmp_path / "one")]) == 0
    one = json.loads(capsys.readouterr().out)
    assert main([*argv, "--jobs", "2", "--out", str(tmp_path / "two")]) == 0
    two = json.loads(capsys.readouterr().out)
    assert two["cases"] == 40 and two["coverage"] == one["coverage"]


def test_more_jobs_than_cores_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """--jobs 1000 forked 1000 workers on a 2-core machine; now one line, exit 2."""
    cores = len(os.sched_getaffinity(0))
    with pytest.raises(SystemExit) as exit_:
        main(["--target", "dissect", "--cases", "1", "--jobs", str(cores + 1)])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1
    assert f"argument --jobs: at most {cores}, the cores usable here, not {cores + 1}" in err


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_a_burst_of_ctrl_c_under_jobs_ends_with_the_summary_not_a_traceback(tmp_path: Path) -> None:
    """Ctrl-C pressed many times while the workers report: each report is read whole (a
    KeyboardInterrupt inside recv() used to leave a pipe mid-message, and the next read
    failed to unpickle); the campaign ends 'interrupted' with its summary, as a serial one does."""
    command = [sys.executable, "-m", "scapy_fama.cli.fuzz", "--target", "dar", "--seconds", "120", "--jobs", "2",
               "--out", str(tmp_path), "--json"]  # fmt: skip
    fuzz = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while len(_children(fuzz.pid)) < 2:  # both workers forked
            assert fuzz.poll() is None and time.monotonic() < deadline, fuzz.communicate()
            time.sleep(0.05)
        for _ in range(10):
            fuzz.send_signal(signal.SIGINT)
            time.sleep(0.001)
        out, err = fuzz.communicate(timeout=60)
    finally:
        fuzz.kill()
    assert "Traceback" not in err, err
    assert fuzz.returncode == 0, (out, err)  # no findings: as a serial campaign Ctrl-C'd
    summary = json.loads(out[: out.rindex("}") + 1])
    assert summary["stopped"] == "interrupted" and summary["cases"] > 0


def _cases_shown(fuzz: subprocess.Popen[str], deadline: float) -> str:
    """Read fama-fuzz's stderr (its progress bar, drawn as on a terminal) until the bar counts a
    case: what it printed so far. A signal sent any earlier may end the campaign before its first
    case, and a summary of 0 cases would prove nothing about the count it keeps."""
    shown = b""
    while not re.search(rb"[1-9]\d* cases", shown):
        assert fuzz.poll() is None and time.monotonic() < deadline, (shown, fuzz.communicate())
        if select.select([fuzz.stderr], [], [], 0.1)[0]:
            shown += os.read(fuzz.stderr.fileno(), 65536)
    return shown.decode(errors="replace")


@pytest.mark.parametrize("jobs", [1, 2])
def test_sigterm_ends_a_blind_campaign_with_its_summary(jobs: int, tmp_path: Path) -> None:
    """A SIGTERM (kill, a CI job's time limit) to the process group of a blind campaign killed it,
    exit 143 and no summary, while Ctrl-C ended it with one (as SIGTERM ends a libFuzzer one); with
    --jobs the workers took it too and the parent found them dead. Now 'terminated', its summary."""
    command = [sys.executable, "-m", "scapy_fama.cli.fuzz", "--target", "dissect", "--seconds", "120",
               "--jobs", str(jobs), "--out", str(tmp_path), "--json"]  # fmt: skip
    fuzz = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env={**os.environ, "TTY_COMPATIBLE": "1"})  # fmt: skip
    try:
        shown = _cases_shown(fuzz, time.monotonic() + 60)
        os.killpg(fuzz.pid, signal.SIGTERM)
        out, err = fuzz.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(fuzz.pid, signal.SIGKILL)
    assert "Traceback" not in shown + err, shown + err
    assert fuzz.returncode in (0, 1), (out, err)  # the campaign's exit: findings or none
    summary = json.loads(out[: out.rindex("}") + 1])
    assert summary["stopped"] == "terminated" and summary["cases"] > 0
    assert json.loads((tmp_path / "summary.json").read_text()) == summary


def test_without_out_only_findings_are_written(tmp_path: Path) -> None:
    """--json without --out made ./fama-fuzz-findings/ holding a summary.json, in whatever folder
    the user stood, when stdout had the summary already; now the default folder is made only for a
    finding (its pcap and JSON, for --replay), and summary.json is --out's."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}  # tests.fuzz.planted, from the work folder
    command = [sys.executable, "-m", "scapy_fama.cli.fuzz", "--json"]
    clean = subprocess.run([*command, "--target", "dissect", "--cases", "30"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=120)
    assert clean.returncode == 0, clean.stderr
    summary = json.loads(clean.stdout)
    jsonschema.Draft202012Validator(schemas.load("fama-fuzz/1")).validate(summary)
    assert summary["cases"] == 30 and list(tmp_path.iterdir()) == []
    found = subprocess.run([*command, "--target", "tests.fuzz.planted:OddLengthDissect", "--cases", "300"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert found.returncode == 1, found.stderr
    (finding,) = json.loads(found.stdout)["findings"]
    folder = tmp_path / "fama-fuzz-findings"
    assert sorted(p.name for p in folder.iterdir()) == [f"{finding['id']}.json", f"{finding['id']}.pcap"]
    again = [sys.executable, "-m", "scapy_fama.cli.fuzz", "--replay", str(folder / f"{finding['id']}.json")]
    replayed = subprocess.run(again, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert replayed.returncode == 1 and "reproduced" in replayed.stderr, replayed.stderr


def test_help_and_readme_give_the_exit_status_the_code_returns(capsys: pytest.CaptureFixture[str]) -> None:
    """The module's docstring said 130 for an interrupted campaign, README and --help nothing, while
    a campaign Ctrl-C'd or SIGTERM'd ends with its summary and 0 or 1 (the tests above and
    test_harness's filing test); 130 is only for a Ctrl-C before it starts (the test below)."""
    with pytest.raises(SystemExit):
        main(["--help"])
    shown = " ".join(capsys.readouterr().out.split())
    readme = " ".join((Path(__file__).resolve().parents[2] / "README.md").read_text().replace("`", "").split())
    claims = [c.strip().rstrip(".") for c in EXIT_STATUS.removeprefix("exit status: ").replace(". ", "; ").split("; ")]
    assert len(claims) == 6 and "130 interrupted" not in (fuzz_cli.__doc__ or "")
    for claim in claims:
        assert claim in shown and claim in readme, claim


SLOW_TARGET = """import os, pathlib, time
from scapy_fama.fuzz.targets import DissectTarget


class Slow(DissectTarget):
    def __init__(self):
        pathlib.Path("starting").touch()
        time.sleep(300)  # a target that takes its time to start: the signal comes meanwhile
"""


@pytest.mark.parametrize(("signum", "code", "err"),
                         [(signal.SIGINT, 130, "fama-fuzz: interrupted\n"), (signal.SIGTERM, -signal.SIGTERM, "")])
def test_a_signal_before_the_campaign_starts_ends_as_the_help_says(signum: int, code: int, err: str,
                                                                   tmp_path: Path) -> None:
    (tmp_path / "slowtarget.py").write_text(SLOW_TARGET)
    assert _signalled(tmp_path, ["--target", "slowtarget:Slow", "--json"], "starting", signum) == (code, "", err)


def _signalled(folder: Path, argv: list[str], when: str, signum: int) -> tuple[int, str, str]:
    """fama-fuzz ``argv`` run in ``folder``, sent ``signum`` once the file ``when`` is there: (exit, stdout, stderr)."""
    fuzz = subprocess.Popen([sys.executable, "-m", "scapy_fama.cli.fuzz", *argv], cwd=folder, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            # a shell's background job ignores SIGINT, and so would it
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (folder / when).exists():
            assert fuzz.poll() is None and time.monotonic() < deadline, fuzz.communicate()
            time.sleep(0.05)
        fuzz.send_signal(signum)
        out, err = fuzz.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(fuzz.pid, signal.SIGKILL)
    return fuzz.returncode, out, err


HANGING_TARGET = """import pathlib, time
from scapy_fama.fuzz.targets import DissectTarget
from scapy_fama.wire import parse


class HangsOnOddOptions(DissectTarget):
    \"\"\"A dissector that hangs on an option of odd length among the even ones: a hang finding,
    whose every minimising step takes the time limit. Each hang leaves a file hang-N.\"\"\"

    hangs = 0

    def run(self, raw, seed, now):
        info = parse(raw)
        if info is not None and info.mh is not None and any(n % 2 for t, _, n in info.mh.options if t in (4, 5, 13, 14)):
            HangsOnOddOptions.hangs += 1
            pathlib.Path(f"hang-{HangsOnOddOptions.hangs}").touch()
            time.sleep(60)
        return super().run(raw, seed, now)
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_a_finding_is_minimised_files_it(signum: int, tmp_path: Path) -> None:
    """Ctrl-C (or SIGTERM) while a hang was minimised, one time limit a step, lost the finding: the
    summary said "no findings", exit 0. Now it is filed as far as it got, and the campaign ends."""
    (tmp_path / "hanging.py").write_text(HANGING_TARGET)
    argv = ["--target", "hanging:HangsOnOddOptions", "--time-limit", "0.5", "--cases", "100000", "--json", "--out", "out"]
    # hang-3: the case, its run alone, then the first step of minimising
    code, out, err = _signalled(tmp_path, argv, "hang-3", signum)
    assert code == 1 and "Traceback" not in err, err  # 1: a finding
    summary = json.loads(out)
    assert summary["stopped"] == ("interrupted" if signum == signal.SIGINT else "terminated")
    (found,) = summary["findings"]
    assert found["oracle"] == "hang" and found["reproduced_alone"] is True
    assert (tmp_path / found["json"]).is_file()  # the path as printed, from the campaign's folder
    # and it says it was not minimised to the end (its line said "after minimising")
    assert found["minimised"] == "cut-short" == json.loads((tmp_path / found["json"]).read_text())["minimised"]
    line = " ".join(err.split())
    assert "mutation(s), minimising cut short" in line and "after minimising" not in line, err


STUBBORN_TARGET = HANGING_TARGET + """
from scapy_fama.fuzz.oracles import CaseTimeout


class HangsOnWhenAlone(HangsOnOddOptions):
    \"\"\"Its second hang, the check that the finding replays alone, outlasts the time limit (it
    leaves a file alone-check) until a signal comes.\"\"\"

    def run(self, raw, seed, now):
        try:
            return super().run(raw, seed, now)
        except CaseTimeout:
            if HangsOnOddOptions.hangs == 2:
                pathlib.Path("alone-check").touch()
                time.sleep(300)
            raise
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_a_finding_is_checked_alone_leaves_it_unknown(signum: int, tmp_path: Path) -> None:
    """Ctrl-C (or SIGTERM) while fama-fuzz ran a finding's case alone, to see whether it needs the
    cases before it, filed it as "needs the cases before it" (reproduced_alone: false), which
    nothing had shown. Now the file, the summary and the line say it is not known (null)."""
    (tmp_path / "stubborn.py").write_text(STUBBORN_TARGET)
    argv = ["--target", "stubborn:HangsOnWhenAlone", "--time-limit", "0.5", "--cases", "100000", "--json",
            "--out", "out"]
    code, out, err = _signalled(tmp_path, argv, "alone-check", signum)
    assert code == 1 and "Traceback" not in err, err  # 1: a finding
    summary = json.loads(out)
    jsonschema.Draft202012Validator(schemas.load("fama-fuzz/1")).validate(summary)
    (found,) = summary["findings"]
    assert found["oracle"] == "hang" and found["reproduced_alone"] is None
    filed = json.loads((tmp_path / found["json"]).read_text())
    jsonschema.Draft202012Validator(schemas.load("fama-fuzz-finding/1")).validate(filed)
    assert filed["reproduced_alone"] is None and filed["minimal_chain"] == filed["chain"]
    assert findings.load(tmp_path / found["json"]).reproduced_alone is None
    line = " ".join(err.split())
    assert "not known whether it replays alone (its check was interrupted)" in line, err
    # nor was it minimised (its line said "after minimising")
    assert found["minimised"] == "alone-unknown" == filed["minimised"]
    assert "mutation(s), not minimised: stopped before" in line and "after minimising" not in line, err
