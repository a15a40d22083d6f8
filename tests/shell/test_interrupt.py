"""Ctrl-C in a command that runs the virtual clock: it stops between two actions, never inside
one (scapy_fama.interrupt), and the console says so in one line.

The SIGINT comes from inside an action of the net (``signal.raise_signal`` runs Python's handler
before it returns), exactly where a person's Ctrl-C lands: in the middle of SimNet's work.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from fama_shell.session import Session
from test_console import fama_shell


def test_ctrl_c_inside_an_action_lets_it_finish_and_stops_the_clock_there(
    session: Session,
) -> None:
    session.attach("mn", "dar1")
    flow = session.flow("cn", "mn", interval=0.01)
    at = session.now + 0.5
    finished: list[float] = []

    def ctrl_c_then_the_rest() -> None:
        signal.raise_signal(signal.SIGINT)
        finished.append(session.net.now)  # the rest of the action: it must run

    session.net.at(at, ctrl_c_then_the_rest)
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN when the suite runs as a background job (.ci/run &)
    with pytest.raises(
        KeyboardInterrupt, match=rf"^at t={at:.3f} s, between two events"
    ):
        session.run(5)
    assert (
        finished == [at] and session.now == at
    )  # the clock stopped right after that action
    assert signal.getsignal(signal.SIGINT) is before  # the handler it had again
    sent = len(flow.down.sent)
    session.run(1)  # the net lives on from there: the flow still sends and arrives
    assert (
        sent + 100 <= len(flow.down.sent) <= sent + 101
    )  # a tick at each end of the second
    assert len(flow.down.received) >= len(flow.down.sent) - 1  # 1 in flight at most


def test_a_second_ctrl_c_raises_at_once(session: Session) -> None:
    """An action that does not end (a bug) can still be interrupted: the second Ctrl-C."""
    seen: list[str] = []

    def stuck() -> None:
        signal.raise_signal(signal.SIGINT)
        seen.append("noted")
        signal.raise_signal(signal.SIGINT)
        seen.append("never")

    session.net.at(1.0, stuck)
    with pytest.raises(KeyboardInterrupt):
        session.run(2)
    assert seen == ["noted"]


def test_the_console_says_interrupted_in_one_line() -> None:
    out = fama_shell(
        "-c",
        "import signal; net.at(0.25, lambda: signal.raise_signal(signal.SIGINT)); run(2)",
    )
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        "interrupted: at t=0.250 s, between two events: the topology is whole, run() goes on from there"
    ]
    assert "Traceback" not in out.stdout + out.stderr


def test_ctrl_c_in_a_step_stops_it_the_same_way(session: Session) -> None:
    """step() runs the clock twice (to the next notable instant, then along the messages that
    left then): a Ctrl-C in either stops between two actions."""
    session.attach("mn", "dar1")
    session.flow("cn", "mn", interval=0.01)
    at = session.now + 2.5  # nothing notable before: the flow's data only
    session.net.at(at, lambda: signal.raise_signal(signal.SIGINT))
    with pytest.raises(
        KeyboardInterrupt, match=rf"^at t={at:.3f} s, between two events"
    ):
        session.step()
    assert session.now == at


@pytest.mark.parametrize("mode", ["as-is", "re-sign"])
def test_ctrl_c_in_a_replay_says_which_bus_were_not_sent(session: Session, mode: str) -> None:
    """The clock stops as for run() (the net whole), and the replay with it: the line says how
    many of the capture's BUs were never sent, where run()'s alone read as if they would be."""
    pcap = Path(__file__).resolve().parents[2] / "pcaps" / "lab.pcap"  # two BUs for DAR 1
    session.net.at(session.now + 0.001, lambda: signal.raise_signal(signal.SIGINT))  # in the first BU's wait
    with pytest.raises(KeyboardInterrupt, match=r"run\(\) goes on from there; the replay stopped after BU 1 of 2, 1 not sent$"):
        session.replay(pcap, "dar1", mode=mode)
