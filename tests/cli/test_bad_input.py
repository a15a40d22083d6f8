"""What a new user types by mistake gets one line that names the flag and the value, and exit 2,
before any work starts: an output where devices and kernel state live (/dev, /proc, /sys: /dev is
writable by root, and a plot, a log or a pcap landed there), an empty path (it was the current
folder), a number that is NaN, infinite or out of range (an emulated link that never delivers,
a wait without end), an interface that is not there, an input that never ends (/dev/zero), a name
that is empty or only whitespace.

Each command below behaved otherwise before: it wrote into /dev or the current folder, ran the
whole case or lab first, printed an error without its flag, read /dev/zero without end, or took an
empty name (``fama-dar --name ''`` logged as the interface, ``--iface ''`` was
``--iface : no such interface``, ``fama-analyze --plot ' '`` wrote `` .png``)."""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fama_shell import cli as shell

from scapy_fama.cli import analyze, cga, conformance, dar, fuzz, lab, mn, wireshark
from scapy_fama.fuzz.findings import Finding, load, save
from scapy_fama.fuzz.oracles import Failure

PCAP = Path(__file__).resolve().parents[2] / "pcaps" / "fig1.pcapng"
DAR = ["--iface", "nope0", "--prefix", "2001:db8:1::/64", "--address", "2001:db8:1::1"]
KERNEL = "holds devices and kernel state, not files"
BLANK = "must not be empty or whitespace"


@pytest.fixture(autouse=True)
def dev_untouched() -> Iterator[None]:
    """No file is left in /dev (before the fix some of these commands wrote there: cleaned up)."""
    before = _dev_files()
    yield
    new = _dev_files() - before
    for path in new:
        path.unlink()
    assert not new, f"written into /dev: {sorted(new)}"


def _dev_files() -> set[Path]:
    return {p for p in Path("/dev").iterdir() if p.is_file() and not p.is_symlink()}


def outcome(main: Callable[[list[str]], int], argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """The exit code and stderr of ``main(argv)``, a usage error (SystemExit) included."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code  # type: ignore[assignment]
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("main", "argv", "message"),
    [
        (analyze.main, [str(PCAP), "--plot", "/dev/full.png"], f"fama-analyze: error: --plot /dev/full.png: /dev {KERNEL}"),
        (analyze.main, [str(PCAP), "--plot", "/dev/null"], f"fama-analyze: error: --plot /dev/null.png: /dev {KERNEL}"),
        (analyze.main, [str(PCAP), "--plot", "/proc/x.png"], f"fama-analyze: error: --plot /proc/x.png: /proc {KERNEL}"),
        (analyze.main, [str(PCAP), "--plot", "{d}"], "fama-analyze: error: --plot {d}: is a directory"),
        (analyze.main, [str(PCAP), "--plot", ""],
         "fama-analyze: error: argument --plot: an empty path names no file or folder"),
        (analyze.main, [str(PCAP), "--annotate", "/sys/x"], f"fama-analyze: error: --annotate /sys/x: /sys {KERNEL}"),
        (analyze.main, [str(PCAP), "--shard-out", "/dev"], f"fama-analyze: error: --shard-out /dev: /dev {KERNEL}"),
        (analyze.main, [str(PCAP), "--shard-out", ""],
         "fama-analyze: error: argument --shard-out: an empty path names no file or folder"),
        (dar.main, [*DAR, "--log", "/proc/x"], f"fama-dar: error: --log /proc/x: /proc {KERNEL}"),
        (dar.main, [*DAR, "--json-log", "/proc/x"], f"fama-dar: error: --json-log /proc/x: /proc {KERNEL}"),
        (dar.main, [*DAR, "--log", "/dev/fama-dar.log"], f"fama-dar: error: --log /dev/fama-dar.log: /dev {KERNEL}"),
        (dar.main, [*DAR, "--link-delay", "nan"], "fama-dar: error: argument --link-delay: must be 0 to 10000: 'nan'"),
        (dar.main, [*DAR, "--link-delay", "1e12"], "fama-dar: error: argument --link-delay: must be 0 to 10000: '1e12'"),
        (mn.main, ["--iface", "nope0", "--link-loss", "inf"], "fama-mn: error: argument --link-loss: must be 0 to 1: 'inf'"),
        (dar.main, [*DAR, "--realtime", "0"], "fama-dar: error: argument --realtime: must be at least 1: '0'"),
        (mn.main, ["--iface", "nope0", "--realtime", "100"],  # sched_get_priority_max(2): 99 for SCHED_FIFO on Linux
         "fama-mn: error: argument --realtime: at most 99, the kernel's highest SCHED_FIFO priority, not 100"),
        (mn.main, ["--iface", "nope0", "--exit-wait", "nan"], "fama-mn: error: argument --exit-wait: must be 0 to 60: 'nan'"),
        (mn.main, ["--iface", "nope0", "--exit-wait", "1e9"], "fama-mn: error: argument --exit-wait: must be 0 to 60: '1e9'"),
        (mn.main, ["--iface", "nope0", "--exit-wait", "2", "--keep-bindings-at-exit"],
         "fama-mn: error: argument --keep-bindings-at-exit: not allowed with argument --exit-wait"),
        (mn.main, ["--iface", "nope0", "--sec", "0", "--key", "/proc/x"], f"fama-mn: error: --key /proc/x: /proc {KERNEL}"),
        (mn.main, ["--iface", "nope0", "--sec", "0", "--key", "{d}"], "fama-mn: error: --key {d}: is a directory"),
        (mn.main, ["--iface", "nope0", "--sec", "0", "--key", "/dev/full"],
         "fama-mn: error: --key /dev/full: not a PEM private key (more than 65536 bytes)"),
        (cga.main, ["gen", "--prefix", "2001:db8:1::/64", "--sec", "0", "--out", "/proc/x"],
         f"fama-cga: error: --out /proc/x: /proc {KERNEL}"),
        (cga.main, ["gen", "--prefix", "2001:db8:1::/64", "--sec", "0", "--key", "/dev/fama.pem"],
         f"fama-cga: error: --key /dev/fama.pem: /dev {KERNEL}"),
        (cga.main, ["gen", "--prefix", "2001:db8:1::/64", "--sec", "0", "--bits", "0"],
         "fama-cga: error: --bits 0: unsupported RSA size 0: supported sizes are 1024 and 1536 bits"),
        (dar.main, ["--iface", "lo", "--prefix", "2001:db8:1::/129", "--address", "2001:db8:1::1"],
         "fama-dar: error: --prefix 2001:db8:1::/129: '129' is not a valid netmask"),
        (fuzz.main, ["--target", "dissect", "--cases", "1", "--family", ",", "--out", "{d}"],
         "fama-fuzz: error: --family names no mutator family: choose from field, structure, crypto"),
        (cga.main, ["verify", "2001:db8::1", "/dev/null"],
         "fama-cga: error: /dev/null: CGA Parameters too short: 0 bytes, at least 25 needed (RFC 3972 §3)"),
        (conformance.main, ["DAR-CGA-001", "--junit", "/proc/x"], f"fama-conformance: error: --junit /proc/x: /proc {KERNEL}"),
        (conformance.main, ["DAR-CGA-001", "--pcap", "/dev"], f"fama-conformance: error: --pcap /dev: /dev {KERNEL}"),
        (conformance.main, ["DAR-CGA-001", "--wait", "inf"], "fama-conformance: error: argument --wait: must be finite: 'inf'"),
        (conformance.main, ["DAR-CGA-001", "--target", "iface", "--iface", "nope0"],
         "fama-conformance: error: --iface nope0: no such interface"),
        (conformance.main, ["DAR-CGA-001", "--cn", "x"],
         "fama-conformance: error: argument --cn: 'x' is not an IPv6 address (At least 3 parts expected in 'x')"),
        (conformance.main, ["DAR-CGA-001", "--prefix", "2001:db8::/48"],
         "fama-conformance: error: --prefix 2001:db8::/48: a /64 prefix, e.g. 2001:db8:1::/64"),
        (conformance.main, ["MN-BU-001", "--role", "mn", "--mn-keep", "bogus"],
         "fama-conformance: error: argument --mn-keep: invalid choice: 'bogus' (choose from 'flows', 'all', 'none', "
         "'single-anchor')"),
        (fuzz.main, ["--target", "iface", "--iface", "lo", "--iut-address", "x", "--prefix", "2001:db8:1::/64", "--coa",
                     "2001:db8:2::1", "--out", "{d}"],
         "fama-fuzz: error: argument --iut-address: 'x' is not an IPv6 address (At least 3 parts expected in 'x')"),
        (fuzz.main, ["--target", "dissect", "--cases", "1", "--out", "/dev"], f"fama-fuzz: error: --out /dev: /dev {KERNEL}"),
        (fuzz.main, ["--target", "dissect", "--cases", "1", "--out", ""],
         "fama-fuzz: error: argument --out: an empty path names no file or folder"),
        (fuzz.main, ["--target", "dissect", "--cases", "1", "--time-limit", "inf"],
         "fama-fuzz: error: argument --time-limit: must be finite: 'inf'"),
        (fuzz.main, ["--target", "dissect", "--engine", "libfuzzer", "--out", "{d}", "--corpus", "/dev/full"],
         "fama-fuzz: error: --corpus /dev/full: not a directory"),
        (wireshark.main, ["install", "--dir", "/dev"], f"fama-wireshark: error: --dir /dev: /dev {KERNEL}"),
        (wireshark.main, ["install", "--dir", ""],
         "fama-wireshark install: error: argument --dir: an empty path names no file or folder"),
        (dar.main, [*DAR, "--name", ""], f"fama-dar: error: argument --name: {BLANK}: ''"),
        (dar.main, [*DAR, "--name", " "], f"fama-dar: error: argument --name: {BLANK}: ' '"),
        (dar.main, [*DAR, "--iface", ""], f"fama-dar: error: argument --iface: {BLANK}: ''"),
        (dar.main, [*DAR, "--prefix", "\t"], f"fama-dar: error: argument --prefix: {BLANK}: '\\t'"),
        (mn.main, ["--iface", "nope0", "--name", ""], f"fama-mn: error: argument --name: {BLANK}: ''"),
        (mn.main, ["--iface", " "], f"fama-mn: error: argument --iface: {BLANK}: ' '"),
        (conformance.main, ["DAR-CGA-001", "--target", "iface", "--iface", ""],
         f"fama-conformance: error: argument --iface: {BLANK}: ''"),
        (conformance.main, ["", "--list"], f"fama-conformance: error: argument CASE: {BLANK}: ''"),
        (fuzz.main, ["--target", " ", "--cases", "1", "--out", "{d}"],
         f"fama-fuzz: error: argument --target: {BLANK}: ' '"),
        (cga.main, ["verify", " ", "/dev/null"], f"fama-cga verify: error: argument address: {BLANK}: ' '"),
        (analyze.main, [str(PCAP), "--plot", " "],
         "fama-analyze: error: argument --plot: a path of only whitespace names no file or folder: ' '"),
        (shell.main, ["--topo", ""], "fama-shell: error: argument --topo: an empty path names no file or folder"),
        (shell.main, [""], "fama-shell: error: argument script: an empty path names no file or folder"),
    ],
)
def test_bad_input_is_one_line_naming_the_flag(
    main: Callable[[list[str]], int], argv: list[str], message: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)  # what an empty path wrote into the current folder stays here
    code, err = outcome(main, [a.format(d=tmp_path) for a in argv], capsys)
    assert (code, err) == (2, message.format(d=tmp_path) + "\n")
    assert not list(tmp_path.iterdir()) and not Path(f"{tmp_path}.png").exists()


def _finding(folder: Path) -> Path:
    """The JSON file of a saved finding, its pcap beside it."""
    failure = Failure("exception", "TypeError", "planted", "x.py:1")
    return save(Finding("dissect", 1, 0, "field", False, "bu", [], [], failure, b"\x60" + bytes(39),
                        b"\x60" + bytes(39), True), folder)


def _no_key(path: Path) -> str:
    data = json.loads(path.read_text())
    del data["seed_message"]
    path.write_text(json.dumps(data))
    return "not a usable fama-fuzz-finding/1 document (no 'seed_message')"


def _garbage(path: Path) -> str:
    path.write_text("garbage")
    return "not a fama-fuzz finding (Expecting value: line 1 column 1 (char 0))"


def _pcap_garbage(path: Path) -> str:
    path.with_suffix(".pcap").write_text("garbage")
    return f"its pcap {path.with_suffix('.pcap')}: Not a supported capture file"


def _pcap_gone(path: Path) -> str:
    path.with_suffix(".pcap").unlink()
    return f"its pcap {path.with_suffix('.pcap')}: No such file or directory"


def _unreadable(path: Path) -> str:
    path.chmod(0)
    return "Permission denied"


@pytest.mark.parametrize(
    ("spoil", "where"),
    [
        (lambda path: "No such file or directory", lambda path: path.with_name("none.json")),
        (lambda path: "Is a directory", lambda path: path.parent),
        (lambda path: "Not a directory", lambda path: path / "x.json"),
        (_garbage, lambda path: path),
        (_no_key, lambda path: path),
        (_pcap_garbage, lambda path: path),
        (_pcap_gone, lambda path: path),
        pytest.param(_unreadable, lambda path: path,
                     marks=pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file of mode 000")),
    ],
    ids=["missing", "directory", "under-a-file", "garbage", "key-missing", "pcap-garbage", "pcap-missing", "unreadable"],
)
def test_a_replay_that_cannot_be_run_names_the_flag(
    spoil: Callable[[Path], str], where: Callable[[Path], Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:  # fmt: skip
    """fama-fuzz --replay said "PATH: not a fama-fuzz finding ([Errno 2] ...)" without its flag, and
    a finding whose pcap is not one was a traceback (Scapy_Exception), as was a key missing."""
    finding = _finding(tmp_path)
    assert load(finding).minimal_raw == b"\x60" + bytes(39)  # a finding as saved, until spoiled
    problem = spoil(finding)
    code, err = outcome(fuzz.main, ["--replay", str(where(finding))], capsys)
    assert (code, err) == (2, f"fama-fuzz: error: --replay {where(finding)}: {problem}\n")


PARSERS = [analyze.parser, cga.parser, conformance.parser, dar.parser, fuzz.parser, lab.parser, mn.parser,
           wireshark.parser, shell.parser]
# text passed on as it is: another program's arguments, and Python code (an empty program is one, as
# in python -c '')
ANY_TEXT = {("fama-lab exec", "command"), ("fama-shell", "-c")}


def _options(parser: argparse.ArgumentParser) -> Iterator[tuple[str, str, argparse.Action]]:
    """(command, option, action) of every option and positional that takes a value, subcommands
    included."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _options(sub)
        elif action.nargs != 0:
            yield parser.prog, action.option_strings[0] if action.option_strings else action.dest, action


def _takes(action: argparse.Action, text: str) -> bool:
    """Whether argparse takes ``text`` as a value of ``action`` (its type, then its choices)."""
    try:
        value = action.type(text) if action.type is not None else text  # type: ignore[operator]
    except (argparse.ArgumentTypeError, TypeError, ValueError):
        return False
    return action.choices is None or value in action.choices


@pytest.mark.parametrize("parser", PARSERS, ids=lambda p: p.__module__)
def test_no_option_takes_an_empty_or_blank_value(parser: Callable[[], argparse.ArgumentParser]) -> None:
    """Every option and positional of every command refuses '' and whitespace in argparse, one line
    naming it: a name, an address, a path, a number (an option added without a type is caught here)."""
    taken = [f"{prog} {name} {text!r}" for prog, name, action in _options(parser())
             if (prog, name) not in ANY_TEXT for text in ("", " ", "\t") if _takes(action, text)]  # fmt: skip
    assert not taken


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["up", "--delay", "nan"], "fama-lab up: error: argument --delay: must be 0 to 10000: 'nan'"),
        (["up", "--loss", "200"], "fama-lab up: error: argument --loss: must be 0 to 100: '200'"),
        (["demo", "--ping-interval", "0"], "fama-lab demo: error: argument --ping-interval: must be 1 to 1000: '0'"),
        (["capture", "mn", "x.pcap", "--seconds", "inf"], "fama-lab capture: error: argument --seconds: must be finite: 'inf'"),
        (["demo", "--json", ""], "fama-lab demo: error: argument --json: an empty path names no file or folder"),
        (["handover", " "], f"fama-lab handover: error: argument DAR: {BLANK}: ' '"),
        (["capture", "mn", "x.pcap", "--iface", ""], f"fama-lab capture: error: argument --iface: {BLANK}: ''"),
    ],
)
def test_lab_numbers_are_refused_before_a_lab_is_built(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """fama-lab up --delay nan built the namespaces and waited 60 s for an MN that never came."""
    with pytest.raises(SystemExit) as exit_:
        lab.parser().parse_args(argv)
    assert (exit_.value.code, capsys.readouterr().err) == (2, message + "\n")


def _limit_memory() -> None:  # an input read whole fails within 2 GB, the machine lives
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["scapy_fama.cli.cga", "show", "/dev/zero"], "fama-cga: error: /dev/zero: not CGA Parameters (more than 65536 bytes)"),
        (["scapy_fama.cli.fuzz", "--replay", "/dev/zero"],
         "fama-fuzz: error: --replay /dev/zero: not a fama-fuzz finding (more than 16777216 bytes)"),
        (["shell.cli", "--no-banner", "/dev/zero"], "fama-shell: error: /dev/zero: not a script (more than 16777216 bytes)"),
    ],
)
def test_an_endless_input_is_refused(argv: list[str], message: str) -> None:
    """These read /dev/zero without end."""
    done = subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True, timeout=120,
                          preexec_fn=_limit_memory, check=False)
    assert (done.returncode, done.stderr) == (2, message + "\n")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["scapy_fama.cli.analyze", str(PCAP), "--json"], "fama-analyze: error: stdout: No space left on device"),
        (["scapy_fama.cli.wireshark", "path"], "fama-wireshark: error: stdout: No space left on device"),
    ],
)
def test_a_full_stdout_is_named(argv: list[str], message: str) -> None:
    """Output to a full disk said "[Errno 28] No space left on device", naming nothing."""
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", *argv], stdout=full, stderr=subprocess.PIPE, text=True,
                              timeout=120, check=False)
    assert (done.returncode, done.stderr) == (2, message + "\n")
