"""Every code block of README.md runs as written and does what its text says.

Theory of operation
-------------------
The README is cut into fenced blocks; the info string says what each is, and the
words after the language are markers (```` ```sh needs=root ````), visible in the
README's source and in ``pytest -ra`` when a block cannot run here::

    python    statement by statement in one interpreter, in a fresh working folder
    ipython   the fama-shell stories: the ipython blocks of one section are one session,
              typed line by line (fama-shell -c), each line's output kept apart
    sh        each command on its own (bash, from the working folder, in order); a synopsis's
              [optional parts] are dropped, and so is ``sudo`` (the block then needs root)
    console   ``$ command`` lines and the output they print ("..." stands for any lines)
    toml      a topology: fama-shell --topo FILE loads it and shows every node it names
    text      not code (diagrams, sample output): never run; a project command in one fails

What a line promises is checked against what that line printed: a double-quoted
phrase in its comment is text its output shows (``# ... "STOPPED: held #1 BU"``),
and ``exit 0``, ``exit 1`` in a command's comment are the exit codes it may end
with (otherwise 0). A command that runs this test suite (``make test``) is only
dry-run (``make -n``); ``make demo`` runs with this test run's venv as ``VENV``
(the venv set-up is not repeated).

Markers (an unknown one fails the test, so a typo cannot hide a block)::

    needs=root    runs as root, under the netns lock (pytest -m netns), else skipped with the reason
    needs=lab     the same, and the block brings fama-lab up and down itself (skipped when a lab is
                  up already; torn down afterwards whatever happened)
    needs=iface   a real interface with an implementation under test behind it: the commands'
                  flags are checked by the commands' own parsers (the calls of an ipython block
                  against the session's signatures); the block runs where root has the
                  interfaces it names, else the rest is skipped with the reason
    long          a run of minutes: flags checked by the parsers; run in full with FAMA_README_LONG=1
    needs=atheris libFuzzer through atheris (the fuzz extra; ``make test`` installs it where a wheel
                  exists): the flags are checked by the parsers, the block runs where atheris imports
    needs=docker  a Docker daemon and the network (ClusterFuzzLite's images, OSS-Fuzz's helper): run in
                  a copy of the checkout's files where ``docker info`` answers, else skipped

The working folder holds what a clone has (``pcaps/`` of the repository,
``../shared`` beside it when present) and the placeholder captures the commands
name (:data:`FIXTURES`); HOME is a fresh folder, so nothing reaches the user's.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import inspect
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tokenize
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

import fama_launch

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SHARED = ROOT.parent / "shared"
BIN = Path(sys.executable).parent
SCRIPTS: dict[str, str] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
LANGUAGES = {"python", "ipython", "sh", "console", "toml", "text"}
MARKERS = {"needs=root", "needs=lab", "needs=iface", "long", "needs=docker", "needs=atheris"}
# placeholder file names the README's commands use -> the reference capture that stands in
FIXTURES = {"capture.pcap": "fig3.pcapng", "a.pcapng": "fig1.pcapng", "b.pcap": "lab.pcap"}
MARK = "\x1e"  # printed between two lines' outputs
TIMEOUT = 600  # seconds one command, line or session may take
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


@dataclass(frozen=True)
class Block:
    language: str
    markers: frozenset[str]
    line: int  # of the opening fence, 1-based
    text: str
    section: str

    @property
    def where(self) -> str:
        return f"README.md:{self.line} ({self.section})"


def blocks(text: str) -> list[Block]:
    found, section, lines = [], "", text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("## "):
            section = line[3:].strip()
        if line.startswith("```"):
            info = line[3:].split()
            body = []
            i += 1
            while not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            found.append(Block(info[0] if info else "", frozenset(info[1:]), i - len(body), "\n".join(body) + "\n",
                               section))
        i += 1
    return found


BLOCKS = blocks(README.read_text())


def units() -> list[list[Block]]:
    """What runs as one: a block, or a section's ipython blocks (one shell session)."""
    out: list[list[Block]] = []
    for b in BLOCKS:
        if b.language == "text":
            continue
        if b.language == "ipython" and "needs=iface" not in b.markers and out and out[-1][0].language == "ipython" \
                and out[-1][0].section == b.section and "needs=iface" not in out[-1][0].markers:
            out[-1].append(b)
        else:
            out.append([b])
    return out


UNITS = units()


def unit_id(unit: list[Block]) -> str:
    return f"{unit[0].language}-line{unit[0].line}"


# ---------------------------------------------------------------- promises


def comment_of(line: str) -> str:
    """The comment of a shell or Python line: from a ``#`` outside quotes."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[i + 1 :]
    return ""


def python_comments(code: str) -> str:
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    except (tokenize.TokenError, SyntaxError):
        return ""
    return " ".join(t.string for t in tokens if t.type == tokenize.COMMENT)


def promised(comment: str) -> list[str]:
    """The output a comment promises: its double-quoted phrases."""
    return re.findall(r'"([^"]+)"', comment)


def exit_codes(comment: str) -> set[int]:
    """"exit 0 valid, 1 not a CGA" -> {0, 1}; no "exit N": {0}."""
    said = re.search(r"\bexit (\d.*)", comment)
    return {int(n) for n in re.findall(r"\b\d+\b", said.group(1))} if said else {0}


def check_output(where: str, code: str, output: str, phrases: list[str]) -> None:
    text = ANSI.sub("", output)
    missing = [p for p in phrases if p not in text]
    assert not missing, f"{where}: {code.strip()!r} promises {missing}, but printed:\n{text[-3000:]}"


# ---------------------------------------------------------------- the working folder


def workdir(tmp_path: Path, unit: list[Block]) -> tuple[Path, dict[str, str]]:
    """A folder as a clone has it, and the environment to run in it."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "pcaps").symlink_to(ROOT / "pcaps")
    if SHARED.is_dir():
        (tmp_path / "shared").symlink_to(SHARED)
    text = "".join(b.text for b in unit)
    for name, source in FIXTURES.items():
        if name in text:
            shutil.copy(ROOT / "pcaps" / source, work / name)
    home = tmp_path / "home"
    home.mkdir()
    env = dict(os.environ, HOME=str(home), PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", COLUMNS="200",
               IPYTHONDIR=str(tmp_path / "ipython"), FAMA_SHELL_CACHE=str(tmp_path.parent / "fama-shell-cache"))
    env.pop("XDG_CACHE_HOME", None)
    env.pop("XDG_CONFIG_HOME", None)
    return work, env


def needs_shared(unit: list[Block]) -> None:
    if any("../shared/" in b.text for b in unit) and not SHARED.is_dir():
        pytest.skip(f"{unit[0].where}: uses ../shared, which this clone does not have beside it")


# ---------------------------------------------------------------- python and ipython


def chunks(code: str) -> list[str]:
    """The lines a person would type: top-level statements, those of one line together."""
    from fama_shell.console import typed_lines

    return typed_lines(code)


# runs the chunks in one namespace, as a REPL does: a chunk that ends in an expression shows its value
DRIVER = """
import ast, json, sys
chunks = json.load(open(sys.argv[1]))
namespace = {"__name__": "__main__"}
for i, chunk in enumerate(chunks):
    print("\\x1e%d" % i, flush=True)
    body = ast.parse(chunk).body
    last = body.pop() if body and isinstance(body[-1], ast.Expr) else None
    exec(compile(ast.Module(body, []), "README.md", "exec"), namespace)
    if last is not None:
        value = eval(compile(ast.Expression(last.value), "README.md", "eval"), namespace)
        if value is not None:
            print(repr(value))
    sys.stdout.flush()
"""


def split_outputs(stdout: str, count: int) -> list[str]:
    parts = stdout.split(MARK)
    outputs = [""] * count
    for part in parts[1:]:
        number, _, rest = part.partition("\n")
        if number.isdigit() and int(number) < count:
            outputs[int(number)] = rest
    return outputs


def run_python(block: Block, work: Path, env: dict[str, str]) -> None:
    pieces = chunks(block.text)
    (work / "chunks.json").write_text(json.dumps(pieces))
    done = subprocess.run([sys.executable, "-c", DRIVER, "chunks.json"], cwd=work, env=env, capture_output=True,
                          text=True, timeout=TIMEOUT, check=False)
    assert done.returncode == 0, f"{block.where}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    for piece, output in zip(pieces, split_outputs(done.stdout, len(pieces))):
        check_output(block.where, piece, output, promised(python_comments(piece)))


def run_ipython(unit: list[Block], work: Path, env: dict[str, str]) -> None:
    pieces = [p for b in unit for p in chunks(b.text)]
    code = "\n".join(f"print({MARK!r} + {str(i)!r})\n{p}" for i, p in enumerate(pieces))
    done = subprocess.run([str(BIN / "fama-shell"), "-c", code], cwd=work, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT, check=False)
    where = unit[0].where
    assert done.returncode == 0 and "error" not in done.stderr, f"{where}:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}"
    for piece, output in zip(pieces, split_outputs(done.stdout, len(pieces))):
        check_output(where, piece, output, promised(python_comments(piece)))


SESSION_COMMANDS = ("replay", "send_to", "handover", "attach", "save", "flow")


def check_calls(block: Block) -> None:
    """The shell commands a block calls accept the arguments it gives them."""
    from fama_shell.session import Session

    for node in ast.walk(ast.parse(block.text)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and hasattr(Session, node.func.id):
            signature = inspect.signature(getattr(Session, node.func.id))
            try:
                signature.bind(None, *[None] * len(node.args), **{k.arg: None for k in node.keywords if k.arg})
            except TypeError as exc:
                pytest.fail(f"{block.where}: {ast.unparse(node)}: {exc}")


# ---------------------------------------------------------------- commands


def commands(block: Block) -> list[str]:
    """The command lines of a sh block (continuations joined, blank lines dropped)."""
    joined = block.text.replace("\\\n", " ")
    return [line for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def without_options(line: str) -> str:
    """A synopsis as it runs: [optional parts] (nested too) dropped."""
    code = line[: len(line) - len(comment_of(line)) - 1] if comment_of(line) else line
    while re.search(r"\[[^\[\]]*\]", code):
        code = re.sub(r"\s*\[[^\[\]]*\]", "", code)
    return code.strip()


def parser_of(command: str) -> argparse.ArgumentParser | None:
    if command not in SCRIPTS:
        return None
    target = fama_launch.COMMANDS[command]  # the scripts are its entry points
    module = importlib.import_module(target.split(":")[0])
    make = getattr(module, "parser", None)
    return make() if callable(make) else None


def option_strings(p: argparse.ArgumentParser, words: list[str]) -> set[str]:
    """Every option of ``p`` and of the subcommand ``words`` choose."""
    known = set(p._option_string_actions)
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for word in words:
                if word in action.choices:
                    known |= option_strings(action.choices[word], words)
    return known


def check_flags(block: Block) -> None:
    """Each command's flags (in its synopsis's brackets too) exist, and the line parses."""
    for line in commands(block):
        words = shlex.split(without_options(line).replace("sudo ", "", 1))
        p = parser_of(words[0]) if words else None
        if p is None:
            continue
        named = set(re.findall(r"(?<![\w-])--[a-z][\w-]*", line.split("#")[0]))
        unknown = named - option_strings(p, words[1:])
        assert not unknown, f"{block.where}: {words[0]} has no option {sorted(unknown)}: {line.strip()}"
        try:
            p.parse_args(words[1:])
        except SystemExit as exc:
            pytest.fail(f"{block.where}: {words[0]} refuses {line.strip()!r} (exit {exc.code})")


def run_sh(block: Block, work: Path, env: dict[str, str]) -> None:
    for line in commands(block):
        comment = comment_of(line)
        command = without_options(line)
        if command.startswith("sudo "):
            command = command[len("sudo "):]
        if re.match(r"make\s+test\b", command):
            command = command.replace("make", "make -n", 1)  # the suite itself: dry run
        elif re.match(r"make\s+demo\b", command):
            for name in ("Makefile", "pyproject.toml", "scripts"):
                (work / name).symlink_to(ROOT / name)
            venv = BIN.parent
            command = command.replace("make", f"make -o {venv}/.installed VENV={venv}", 1)
        done = subprocess.run(["bash", "-c", command], cwd=work, env=env, capture_output=True, text=True,
                              timeout=TIMEOUT, check=False)
        output = done.stdout + done.stderr
        allowed = exit_codes(comment)
        assert done.returncode in allowed, f"{block.where}: {command!r} ended {done.returncode}, not {allowed}:\n{output[-3000:]}"
        check_output(block.where, command, output, promised(comment))


def console_steps(block: Block) -> list[tuple[str, list[str]]]:
    steps: list[tuple[str, list[str]]] = []
    for line in block.text.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        elif steps:
            steps[-1][1].append(line)
    return steps


def matches(expected: list[str], actual: list[str]) -> bool:
    """Every expected line, in order; a line "..." stands for any number of lines."""
    pos = 0
    skipping = False
    for want in expected:
        if want == "...":
            skipping = True
            continue
        while pos < len(actual) and skipping and actual[pos] != want:
            pos += 1
        if pos >= len(actual) or actual[pos] != want:
            return False
        pos, skipping = pos + 1, False
    return skipping or pos == len(actual)


def run_console(block: Block, work: Path, env: dict[str, str]) -> None:
    if "fama-wireshark" in block.text or "tshark" in block.text:
        from tests.wireshark.plugin_view import lua_skip_reason

        if lua_skip_reason() is not None:
            pytest.skip(f"{block.where}: {lua_skip_reason()}")
    home = env["HOME"]
    for command, expected in console_steps(block):
        done = subprocess.run(["bash", "-c", command], cwd=work, env=env, capture_output=True, text=True,
                              timeout=TIMEOUT, check=False)
        output = [line.replace(home, "~") for line in (done.stdout + done.stderr).splitlines()
                  if not line.startswith("Running as user")]  # tshark's note when run as root
        assert done.returncode == 0, (block.where, command, output)
        assert matches(expected, output), f"{block.where}: $ {command}\nexpected:\n" + "\n".join(expected) + \
            "\ngot:\n" + "\n".join(output)


def run_toml(block: Block, work: Path, env: dict[str, str]) -> None:
    (work / "topology.toml").write_text(block.text)
    names = re.findall(r'^name = "([^"]+)"', block.text, flags=re.M)
    done = subprocess.run([str(BIN / "fama-shell"), "--topo", "topology.toml", "-c", "topo()"], cwd=work, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert done.returncode == 0, f"{block.where}: {done.stderr[-2000:]}"
    check_output(block.where, "topo()", done.stdout, names)


# ---------------------------------------------------------------- the tests


def test_the_readme_has_its_stories_and_marks_them_right() -> None:
    kinds = {b.language for b in BLOCKS}
    assert {"python", "ipython", "sh", "toml"} <= kinds
    for b in BLOCKS:
        assert b.language in LANGUAGES, f"{b.where}: a block of {b.language or 'no language'!r}: name one of {LANGUAGES}"
        assert b.markers <= MARKERS, f"{b.where}: unknown markers {sorted(b.markers - MARKERS)}: {sorted(MARKERS)}"
        if b.language == "sh":
            assert ("needs=root" in b.markers or "needs=lab" in b.markers or "needs=iface" in b.markers) \
                or "sudo " not in b.text, f"{b.where}: sudo without needs=root"
        if b.language == "text":
            for line in b.text.splitlines():
                first = line.split()[0] if line.split() else ""
                assert first not in SCRIPTS and not re.match(r"(sudo|make)\b|\w+\(.*\)\s*(#|$)", line.strip()), \
                    f"{b.where}: a command in a text block (give it its language and markers): {line}"


# shell commands that only draw: called anywhere but last on a typed line, their table is lost
VIEWS = {"topo", "bc", "bul", "addrs", "flows", "msc", "latency", "show", "verify", "packets", "brks", "held", "cmds"}


def hidden_results(chunk: str) -> list[str]:
    """The statements of a typed line whose result nobody sees: IPython (and Python's REPL) draws
    the value of a line's last expression only, so ``bul(mn); flows()`` shows the flows alone."""
    try:
        body = ast.parse(chunk).body
    except SyntaxError:
        return []
    lost = []
    for node in body[:-1]:
        if not isinstance(node, ast.Expr):
            continue
        value = node.value
        drawn_only = isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in VIEWS
        if drawn_only or not isinstance(value, (ast.Call, ast.Await, ast.Yield, ast.YieldFrom)):
            lost.append(ast.unparse(node))
    return lost


def test_no_readme_line_promises_a_result_it_hides() -> None:
    for b in BLOCKS:
        if b.language not in ("python", "ipython"):
            continue
        for chunk in chunks(b.text):
            lost = hidden_results(chunk)
            assert not lost, f"{b.where}: {chunk.strip()!r} shows only its last result, not {lost}: one per line"


def _param(unit: list[Block]) -> object:
    root = bool(unit[0].markers & {"needs=root", "needs=lab"})
    return pytest.param(unit, id=unit_id(unit), marks=[pytest.mark.slow, *([pytest.mark.netns] if root else [])])


@pytest.mark.parametrize("unit", [_param(u) for u in UNITS])
def test_the_readme_block_runs_as_written(unit: list[Block], tmp_path: Path) -> None:
    block = unit[0]
    markers = block.markers
    needs_shared(unit)
    if "needs=iface" in markers:
        if block.language == "sh":
            check_flags(block)
        elif block.language == "ipython":
            check_calls(block)
        names = set(re.findall(r'(?:--iface\s+|iface=")([\w.-]+)', block.text))
        absent = sorted(n for n in names if not Path("/sys/class/net", n).exists())
        if os.geteuid() != 0 or absent:
            pytest.skip(f"{block.where}: flags checked; runs as root where {', '.join(absent) or 'its interfaces'} "
                        f"exist with their peers (the netns tests run these commands on veth pairs)")
    if "long" in markers:
        check_flags(block)
        if not os.environ.get("FAMA_README_LONG"):
            pytest.skip(f"{block.where}: runs for minutes; flags checked, set FAMA_README_LONG=1 to run it")
    if markers & {"needs=root", "needs=lab"}:
        if os.geteuid() != 0:
            pytest.skip(f"{block.where}: needs root")
        check_flags(block)
    if "needs=atheris" in markers:
        check_flags(block)
        if importlib.util.find_spec("atheris") is None:
            pytest.skip(f"{block.where}: needs atheris (pip install 'scapy-fama[fuzz]'); flags checked")
    work, env = workdir(tmp_path, unit)
    if "needs=docker" in markers:
        docker = shutil.which("docker")
        if docker is None or subprocess.run([docker, "info"], capture_output=True, timeout=60).returncode != 0:
            pytest.skip(f"{block.where}: needs a Docker daemon and the network (tests/fuzz/test_clusterfuzzlite.py "
                        "runs .clusterfuzzlite/build.sh without them)")
        checkout = work / "scapy-fama"
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True).stdout
        for name in filter(None, listed.split("\0")):
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, checkout / name)
        run_sh(block, checkout, env)
        return
    if "needs=lab" in markers:
        from scapy_fama.lab import links

        if links.lab_namespaces():
            pytest.skip(f"{block.where}: a lab is up on this machine already (fama-lab down first)")
        env["FAMA_LAB_DIR"] = str(tmp_path / "lab")
        try:
            run_sh(block, work, env)
        finally:  # the block's own "fama-lab down" may not have run
            subprocess.run([str(BIN / "fama-lab"), "down"], env=env, capture_output=True, timeout=TIMEOUT, check=False)
        return
    runner = {"python": run_python, "sh": run_sh, "console": run_console, "toml": run_toml}
    if block.language == "ipython":
        run_ipython(unit, work, env)
    else:
        (only,) = unit
        runner[block.language](only, work, env)


@pytest.mark.slow
def test_the_simnet_example_loses_datagrams_only_in_the_handover_gaps(tmp_path: Path) -> None:
    """What the SimNet block's last comments say and no quote can: the flow on HoA1 lost datagrams
    in at most the two handover gaps (and those still in flight at the end), and the pcaps exist."""
    (block,) = [b for b in BLOCKS if b.language == "python" and "SimNet(" in b.text]
    check = ("\nlost = flow1.down.missing()"
             "\nruns = sum(1 for i, s in enumerate(lost) if i == 0 or lost[i - 1] != s - 1)"
             "\nassert 0 < len(flow1.down.received) and runs <= 3, lost\n")
    work, env = workdir(tmp_path, [block])
    (work / "example.py").write_text(block.text + check)
    done = subprocess.run([sys.executable, "example.py"], cwd=work, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert {p.name for p in (work / "out").iterdir()} >= {"backbone.pcap", "dar1.pcap", "dar2.pcap", "dar3.pcap"}


def _section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"\n## {title}")
    return text[start : text.index("\n## ", start + 1)]


def _parameters(text: str) -> list[tuple[str, str, str | None]]:
    """``name(a, b=1, *, c=...)`` as written: each parameter's name, kind and default (source)."""
    args = ast.parse(f"def f({text}): pass").body[0].args  # type: ignore[attr-defined]
    positional = [a.arg for a in args.args]
    defaults = [None] * (len(positional) - len(args.defaults)) + [ast.unparse(d) for d in args.defaults]
    return [(n, "positional", d) for n, d in zip(positional, defaults)] + [
        (a.arg, "keyword", None if d is None else ast.unparse(d)) for a, d in zip(args.kwonlyargs, args.kw_defaults)]


def test_the_craft_and_verify_helpers_are_named_with_their_signatures() -> None:
    """The section's table and text name each helper's parameters as the code takes them: the
    table had lost binding_ack's care_of_token and the care-of nonce index coni, and wrote
    keyword-only parameters as positional ones. A default written ``...`` is one to give."""
    from scapy_fama import craft, verify

    found = re.findall(r"`(\w+)\(([^`]*)\)`", _section("Crafting and verifying").replace("\n", " "))
    calls = [(name, text) for name, text in found if hasattr(craft, name) or hasattr(verify, name)]
    named = {name for name, _ in calls}
    assert {"first_bu", "phkt_bu", "binding_ack", "coti", "cot", "verify_bu", "verify_ba"} <= named, named
    for name, text in calls:
        function = getattr(craft, name, None) or getattr(verify, name)
        actual = [(p.name, "keyword" if p.kind is p.KEYWORD_ONLY else "positional",
                   None if p.default is p.empty else repr(p.default))
                  for p in inspect.signature(function).parameters.values()]  # fmt: skip
        written = _parameters(text)
        assert [(n, k) for n, k, _ in written] == [(n, k) for n, k, _ in actual], f"{name}({text})"
        assert all(w in (a, "...") for (_, _, w), (_, _, a) in zip(written, actual)), f"{name}({text})"


def test_the_corpus_the_text_counts_is_the_test_suite_s() -> None:
    """"several hundred messages" said the text of a corpus of 240."""
    sys.path.insert(0, str(ROOT))
    try:
        from tests.corpus import build_corpus
    finally:
        sys.path.remove(str(ROOT))
    (count,) = re.findall(r"on a corpus of (\d+) messages, `tests/corpus.py`", README.read_text().replace("\n", " "))
    assert int(count) == len(build_corpus())
