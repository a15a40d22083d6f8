"""fama-shell for real, in a pseudo-terminal: start it, hand over, read the binding cache, complete
a command with TAB, make a mistake, quit; every step asserted on the text the terminal shows.

The stream carries prompt_toolkit's and rich's escape sequences; :class:`Screen` strips them
and waits (with a deadline, never forever) for a pattern in what is left.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from shell_story import fama_shell_command

pexpect = pytest.importorskip("pexpect")

ANSI = re.compile(r"\x1b(\[[0-9;?]*[ -/]*[@-~]|\][^\x07]*\x07|[()][0-9A-B]|[=>])")
STEP_TIMEOUT = 30.0  # seconds one step may take (the first one starts Python, IPython, Scapy)


class Screen:
    """The text a terminal shows from the child, without escape sequences."""

    def __init__(self, child: pexpect.spawn) -> None:
        self.child = child
        self.raw = ""
        self.seen = 0  # where the next wait() starts looking

    @property
    def text(self) -> str:
        return ANSI.sub("", self.raw).replace("\r", "")

    def wait(self, pattern: str, timeout: float = STEP_TIMEOUT) -> str:
        """The text from the last match to the first match of ``pattern`` after it."""
        deadline = time.monotonic() + timeout
        while True:
            found = re.compile(pattern).search(self.text, self.seen)
            if found:
                out, self.seen = self.text[self.seen : found.end()], found.end()
                return out
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no {pattern!r} within {timeout} s; the screen ends:\n{self.text[-3000:]}"
                )
            try:
                self.raw += self.child.read_nonblocking(65536, timeout=0.2)
            except pexpect.TIMEOUT:
                continue
            except pexpect.EOF as exc:
                raise AssertionError(
                    f"fama-shell ended; the screen ends:\n{self.text[-3000:]}"
                ) from exc


@pytest.fixture
def shell(tmp_path: Path) -> pexpect.spawn:
    command = fama_shell_command()
    env = dict(
        os.environ,
        TERM="xterm-256color",
        PROMPT_TOOLKIT_NO_CPR="1",  # no cursor-position query the pty would never answer
        IPYTHONDIR=str(tmp_path / "ipython"),
        FAMA_SHELL_CACHE=str(tmp_path / "cache"),
    )
    child = pexpect.spawn(
        command, env=env, encoding="utf-8", dimensions=(60, 200), timeout=STEP_TIMEOUT
    )
    yield child
    child.close(force=True)


def test_handover_binding_cache_completion_and_errors(shell: pexpect.spawn) -> None:
    screen = Screen(shell)
    banner = screen.wait(r"fama t=0\.000s \[1\]: ")
    assert (
        "topology: default topology (SimNet): dar1 2001:db8:1::/64, dar2 2001:db8:2::/64" in banner
    )
    assert "try: attach(mn, dar1)" in banner

    shell.send("attach(mn, dar1); f = flow(cn, mn)\r")
    screen.wait(r"fama t=3\.000s \[2\]: ")

    shell.send("hando\t")  # TAB completes the command's name
    screen.wait(r"handover")
    shell.send("(mn, dar2)\r")
    chart = screen.wait(r"fama t=6\.000s \[3\]: ")
    assert "mn moves dar1 -> dar2" in chart
    assert re.search(r"BU \d+ mn@dar1 cga\+sig via dar2", chart)
    assert re.search(r"BA 0 seq \d+ phkt\+bad via dar2", chart)

    shell.send("hoa1, coa2 = addrs(mn).rows[0].address, mn.current_address; print(hoa1, coa2)\r")
    addresses = screen.wait(r"\[4\]: ")
    hoa1, coa2 = re.search(r"(2001:db8:1:\S+) (2001:db8:2:\S+)", addresses).groups()  # type: ignore[union-attr]

    shell.send("bc(dar1)\r")
    table = screen.wait(r"\[5\]: ")
    assert "dar1 binding cache" in table
    assert re.search(rf"{re.escape(hoa1)}\s*│\s*{re.escape(coa2)}\s*│\s*86400 s", table), table

    shell.send("bc('dar9')\r")
    error = screen.wait(r"\[6\]: ")
    assert "error: unknown node 'dar9': the nodes are dar1, dar2, dar3, cn, mn  (%tb shows the traceback)" in error
    assert "Traceback" not in error

    shell.send("topo()\r")  # the topology lived through the error
    assert "current address 2001:db8:2:" in screen.wait(r"\[7\]: ")

    shell.send("exit\r")
    shell.expect(pexpect.EOF, timeout=STEP_TIMEOUT)


def test_ctrl_c_in_a_long_run_is_one_line_and_tb_shows_where(shell: pexpect.spawn) -> None:
    """The SIGINT comes from inside one of SimNet's actions, where a person's Ctrl-C lands: the
    terminal showed a KeyboardInterrupt traceback out of SimNet._transmit, the clock stopped
    inside an action; %tb then said "No traceback available to show." for any one-line error."""
    screen = Screen(shell)
    screen.wait(r"fama t=0\.000s \[1\]: ")
    shell.send("attach(mn, dar1); f = flow(cn, mn, interval=0.001)\r")
    screen.wait(r"fama t=3\.000s \[2\]: ")
    shell.send("import signal; net.at(5.25, lambda: signal.raise_signal(signal.SIGINT)); run(20)\r")
    out = screen.wait(r"fama t=5\.250s \[3\]: ")
    assert ("interrupted: at t=5.250 s, between two events: the topology is whole, run() goes on "
            "from there  (%tb shows the traceback)") in out
    assert "Traceback" not in out and "KeyboardInterrupt" not in out
    shell.send("%tb\r")
    assert "KeyboardInterrupt: at t=5.250 s" in screen.wait(r"\[4\]: ")
    shell.send("run(1); print(len(f.down.sent))\r")  # the flow goes on from where it stopped
    assert re.search(r"\n3251\n", screen.wait(r"fama t=6\.250s \[5\]: "))
    shell.send("exit\r")
    shell.expect(pexpect.EOF, timeout=STEP_TIMEOUT)
