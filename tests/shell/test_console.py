"""fama-shell without a terminal: ``-c CODE``, ``SCRIPT.py``, bad input, and the README's examples.

Each test runs the installed command in a subprocess (a real start, the real exit code); the
MN key cache is a folder of the test run's.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from fama_shell.console import COMMANDS, Commands, install
from fama_shell.labsession import LabSession
from fama_shell.session import Session
from IPython.core.completer import provisionalcompleter
from IPython.core.interactiveshell import InteractiveShell
from rich.console import Console
from shell_story import fama_shell_command

from scapy_fama.lab import links

README = Path(__file__).resolve().parents[2] / "README.md"
TIMEOUT = 120  # seconds for one fama-shell run (it starts in a few)


def fama_shell(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS="160")
    return subprocess.run(
        [fama_shell_command(), *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=env,
        cwd=cwd,
    )


def test_c_runs_code_and_prints_the_tables() -> None:
    code = (
        "attach(mn, dar1); f = flow(cn, mn); handover(mn, dar2); print(bc(dar1)); print(addrs(mn))"
    )
    out = fama_shell("-c", code)
    assert out.returncode == 0, out.stderr
    assert "dar1 binding cache (2001:db8:1::1, prefix 2001:db8:1::/64)" in out.stdout
    assert re.search(r"2001:db8:1:\S+\s+│\s+2001:db8:2:\S+\s+│\s+86400 s", out.stdout)
    assert "keep (1 flow(s))" in out.stdout


def test_errors_are_one_line_and_the_exit_code_says_so() -> None:
    out = fama_shell("-c", "handover(mn, 'dar9')")
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        "error: unknown node 'dar9': the nodes are dar1, dar2, dar3, cn, mn"
    ]  # no "%tb shows the traceback": -c ends at the error, nobody can type %tb
    assert "Traceback" not in out.stdout + out.stderr
    malformed = fama_shell("-c", "verify(IPv6(b'\\x60garbage'))")
    assert malformed.returncode == 1 and len(malformed.stderr.strip().splitlines()) == 1


def test_the_readme_mistakes_are_one_friendly_line() -> None:
    """bc(dar9) unquoted is the README's "unknown node" line; a bad time, a bad flow and an
    unwritable folder are one line each; a typo in a command names the command."""
    cases = {
        "bc(dar9)": "error: unknown node 'dar9': the nodes are dar1, dar2, dar3, cn, mn",
        'run("abc")': "error: run(seconds) is a number of seconds, not str 'abc'",
        'save("/proc/x")': "error: save(): cannot write to /proc/x: No such file or directory",
        "hadover(mn, dar2)": "error: name 'hadover' is not defined; did you mean handover?",
        "open('/nonexistent/f')": "error: No such file or directory: /nonexistent/f",
        # a flow of 100.5 bytes was made, then failed inside every later run(); 'x' was "'>=' not supported"
        "attach(mn, dar1); flow(cn, mn, size=100.5)": "error: a flow needs a whole number 4 <= size <= 65487, "
                                                      "not size=100.5",
        "attach(mn, dar1); flow(cn, mn, interval='x')": "error: a flow's interval is a number of seconds, not str 'x'",
        # the lab's own errors (replay of a file that is no capture, on the lab) said "LabError: ..."
        "from scapy_fama.lab.links import LabError; raise LabError('the tester failed: x.pcap: 0 bytes')":
            "error: the tester failed: x.pcap: 0 bytes",
    }
    for code, line in cases.items():
        out = fama_shell("-c", code)
        assert out.returncode == 1, code
        assert out.stderr.strip().splitlines() == [line], code


def test_c_runs_line_by_line_as_typed() -> None:
    """Each line's result is drawn as at the prompt (not only the last one's), and the first error
    ends the run: the line after it never runs."""
    out = fama_shell("-c", "attach(mn, dar1)\nbc(dar1)\nbc('dar9')\nprint('not reached')")
    assert out.returncode == 1
    assert "mn attaches to dar1" in out.stdout and "dar1 binding cache" in out.stdout
    assert "not reached" not in out.stdout


def test_script_mode_runs_in_the_namespace(tmp_path: Path) -> None:
    script = tmp_path / "story.py"
    script.write_text(
        "attach(mn, dar1)\nf = flow(cn, mn)\nhandover(mn, dar3)\n"
        "row = bc(dar1).rows[0]\nprint('bound', row.coa == mn.current_address)\n"
        "print(replay(save('pcaps').paths['backbone'], dar1).verdict)\n"
    )
    out = fama_shell(str(script), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "bound True" in out.stdout and out.stdout.strip().endswith(
        "refused: the target answered every replayed BU with an error or dropped it"
    )


@pytest.mark.parametrize(
    ("end", "status", "stderr"),
    [
        ("import sys; sys.exit(0)", 0, ""),  # was exit 1 and IPython's "UserWarning: To exit: use 'exit', ..."
        ("raise SystemExit(4)", 4, ""),
        ("exit()", 0, ""),  # was "AttributeError: 'InteractiveShell' object has no attribute 'ask_exit'"
        ("quit(2)", 2, ""),  # was "error: ExitAutocall.__call__() takes 1 positional argument but 2 were given"
        ("import sys; sys.exit('fama: gave up')", 1, "fama: gave up"),
    ],
)
def test_a_script_ends_with_the_status_it_exits_with_as_in_python(tmp_path: Path, end: str, status: int,
                                                                   stderr: str) -> None:
    script = tmp_path / "story.py"
    script.write_text(f"attach(mn, dar1)\nprint('before')\n{end}\nprint('not reached')\n")
    for out in (fama_shell(str(script)), fama_shell("-c", script.read_text())):
        assert (out.returncode, out.stderr.strip()) == (status, stderr)
        assert "before" in out.stdout and "not reached" not in out.stdout
        assert "SystemExit" not in out.stdout + out.stderr


def test_bad_topology_and_missing_lab_are_one_line_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[dar]]\nname = 'a'\n")
    out = fama_shell("--topo", str(bad), "-c", "1")
    assert out.returncode == 2
    assert out.stderr.startswith(f"fama-shell: error: {bad}: a [[dar]] entry needs 'prefix'")
    if links.lab_namespaces():  # another run's lab (tests/lab/, a README block): --lab opens it
        pytest.skip("a lab is up on this machine, so fama-shell --lab has one to open")
    lab = fama_shell("--lab", "-c", "1")
    assert lab.returncode == 2 and lab.stderr.count("\n") == 1
    assert "no lab is up: run fama-lab up" in lab.stderr or "must run as root" in lab.stderr


@pytest.mark.parametrize(
    ("name", "text", "error"),
    [
        ("raises.py", "net.add_dar('dar1', '2001:db8:1::/64')\nraise KeyError('x')\n", "line 2: KeyError: 'x'"),
        ("syntax.py", "x = (\n", "line 1: SyntaxError: '(' was never closed"),
        ("delay.toml", "[[dar]]\nname = 'd'\nprefix = '2001:db8:a::/64'\ndelay = -1\n",
         ": [dar] delay = -1: 0 or more seconds"),
        ("loss.toml", "loss = 5\n", ": [top] loss = 5: a probability from 0 to 1"),
        ("seed.toml", "seed = 'x'\n", ": invalid literal for int() with base 10: 'x'"),
    ],
)
def test_a_topology_file_s_error_is_one_line_naming_the_file(tmp_path: Path, name: str, text: str,
                                                             error: str) -> None:
    """A .py topology that raised was a traceback; a negative delay or a loss of 5 was taken."""
    topology = tmp_path / name
    topology.write_text(text)
    out = fama_shell("--topo", str(topology), "-c", "1")
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert out.stderr.startswith(f"fama-shell: error: {topology}{',' if name.endswith('.py') else ''}")
    assert error in out.stderr


def test_the_readme_examples_run_in_order(tmp_path: Path) -> None:
    section = README.read_text().split("## fama-shell", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```ipython\n(.*?)```", section, flags=re.DOTALL)
    assert len(blocks) >= 4  # story, stepping, crafting, replay
    script = tmp_path / "readme.py"
    code = "\n".join(blocks)
    shared = README.parents[1] / "shared" / "pcaps"
    if shared.is_dir():
        code = code.replace("../shared/pcaps", str(shared))
    else:  # a clone without ../shared beside it: the third-party capture example cannot run
        code = "\n".join(line for line in code.splitlines() if "../shared/pcaps" not in line)
    script.write_text(code)
    out = fama_shell(str(script), cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "error" not in out.stderr


def test_completion_of_commands_and_node_names_in_process() -> None:
    """The installed completer: command names, node names bound as variables, and node names
    inside quotes (the custom matcher)."""

    shell = InteractiveShell.instance()
    install(shell, Session.default(), Console())

    def complete(line: str) -> set[str]:
        with provisionalcompleter():
            return {c.text for c in shell.Completer.completions(line, len(line))}

    assert "handover" in complete("hando")
    dars = {"dar1", "dar2", "dar3"}
    assert complete("handover(mn, dar") == dars
    assert complete('handover(mn, "da') == dars
    assert complete("bc(da") == dars  # not dataclass, datetime, ...
    assert complete("bc(") == dars
    assert complete("attach(m") == {"mn"}
    assert complete("flow(c") == {"cn"}
    assert complete('brk("') == {"RS", "RA", "BU", "BA", "BE", "CoTI", "CoT", "DATA", "TUN", "MH"}
    assert complete('brk("B') == {"BU", "BA", "BE"}
    assert complete('brk("BU", node=m') == {"mn"}
    assert complete('packets(kind="') == {"BU", "BA"}
    assert complete('replay("x.pcap", dar1, mode="') == {"as-is", "re-sign"}
    assert "dataclass" in complete("x = da")  # outside a command, IPython completes as usual



def test_a_result_that_cannot_be_drawn_is_one_line_too(capsys: pytest.CaptureFixture[str]) -> None:
    """IPv6(dst=dar1), a node where Scapy wants an address, is made, but drawing it fails: IPython's
    display printed a whole coloured traceback (its formatters show errors themselves, not through
    the one-line handler), and -c exited 0 after it. %tb still shows that traceback."""
    out = fama_shell("-c", "print('first')\nIPv6(dst=dar1)\nprint('not reached')")
    assert out.returncode == 1 and "Traceback" not in out.stdout + out.stderr
    assert out.stderr.strip().splitlines() == [
        "error: cannot draw the result: OSError: illegal IP address string passed to inet_pton"
    ]
    assert "not reached" not in out.stdout
    shell = InteractiveShell.instance()
    install(shell, Session.default(), Console())
    shell.run_cell("IPv6(dst=dar1)")
    assert "Traceback" not in capsys.readouterr().out
    shell.run_cell("%tb")
    assert "in6_isaddrTeredo" in capsys.readouterr().out


def test_a_result_that_cannot_be_drawn_leaves_no_output_prompt(capsys: pytest.CaptureFixture[str]) -> None:
    """IPython wrote "Out[n]: " before drawing the result, so a drawing that failed left the
    prompt with nothing after it, in front of the error line ("Out[1]: error: cannot draw ...").
    A result that is drawn still has its prompt."""
    shell = InteractiveShell.instance()
    install(shell, Session.default(), Console())
    capsys.readouterr()
    shell.run_cell("IPv6(dst=dar1)", store_history=True)
    out = capsys.readouterr()
    assert out.out == "" and out.err.startswith("error: cannot draw the result: ")
    shell.run_cell("6 * 7", store_history=True)
    assert re.fullmatch(r"Out\[\d+\]: 42\n", capsys.readouterr().out)


def test_a_name_scapy_cannot_resolve_says_it_was_looked_up(capsys: pytest.CaptureFixture[str]) -> None:
    """IPv6(dst="dar1") makes Scapy look "dar1" up as a host name: the line was only "error: Name
    or service not known", naming neither the lookup nor how an address is written. (The lookup's
    error is raised here: a test that asked the resolver would hang on a machine whose DNS does.)"""
    shell = InteractiveShell.instance()
    install(shell, Session.default(), Console())
    shell.run_cell("import socket; raise socket.gaierror(socket.EAI_NONAME, 'Name or service not known')")
    assert capsys.readouterr().err.splitlines() == [
        "error: Name or service not known: a host name Scapy looked up, where an address was wanted? "
        "an address is written '2001:db8::1', a node's is dar1.address"
    ]


def test_tb_shows_the_traceback_of_the_last_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    """The line says "%tb shows the traceback"; %tb said "No traceback available to show."
    (the custom handler left sys.last_traceback unset, where IPython's %tb looks)."""
    shell = InteractiveShell.instance()
    install(shell, Session.default(), Console())
    shell.run_cell("bc('dar9')")
    assert capsys.readouterr().err.startswith("error: unknown node 'dar9'")
    shell.run_line_magic("tb", "")
    shown = capsys.readouterr()
    text = re.sub(r"\x1b\[[0-9;]*m", "", shown.out)  # IPython colours it
    assert "No traceback available" not in shown.err
    assert "ValueError: unknown node 'dar9'" in text and "in ShellSession.node" in text


@pytest.mark.parametrize("session", [Session, LabSession])
def test_every_console_command_is_a_method_of_both_sessions(session: type) -> None:
    """fama-shell puts COMMANDS in the namespace of either session: a command one lacks stops
    that shell at start (checked on the class: no root or lab needed)."""
    assert [c for c in COMMANDS if not callable(getattr(session, c, None))] == []


@pytest.mark.parametrize("session", [Session, LabSession])
def test_cmds_gives_each_command_s_whole_summary(session: type) -> None:
    """cmds() showed each docstring's first line, cut mid-sentence where the summary takes two:
    "flow: ... every ``interval`` s", "step: ... (data alone does not count),"."""
    console = Console(width=400, record=True)
    console.print(Commands(session.__new__(session)))
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in console.export_text().splitlines()
            if line.count("│") == 3}  # fmt: skip
    assert set(rows) == set(COMMANDS)
    for name, does in rows.items():
        assert does.endswith((".", ")")) and "``" not in does, (name, does)
    if session is Session:
        assert rows["step"].endswith("until what left then has arrived: that instant, every path whole.")
