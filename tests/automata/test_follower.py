"""Follower: the newest state posted is applied in a thread of its own; none is queued."""

from __future__ import annotations

import threading

from scapy_fama.automata.follower import Follower

WITHIN = 30.0  # seconds: a generous deadline for a thread's step


class Slow:
    """Applies states, holding the first one until ``release`` is set."""

    def __init__(self) -> None:
        self.applied: list[int] = []
        self.failures: list[str] = []
        self.holding = threading.Event()
        self.release = threading.Event()

    def apply(self, state: int) -> None:
        if not self.applied and not self.failures:
            self.holding.set()
            assert self.release.wait(WITHIN)
        if state < 0:
            raise OSError(f"state {state} refused")
        self.applied.append(state)

    def failed(self, exc: Exception) -> None:
        self.failures.append(str(exc))


def test_a_state_overtaken_while_another_is_applied_is_never_applied() -> None:
    slow = Slow()
    follower = Follower(slow.apply, slow.failed, "test")
    follower.post(1)
    assert slow.holding.wait(WITHIN)
    for state in (2, 3, 4):  # the poster does not wait for the slow first one
        follower.post(state)
    slow.release.set()
    assert follower.settled(WITHIN)
    assert slow.applied == [1, 4]
    follower.stop()


def test_a_failure_is_reported_and_the_next_state_is_applied() -> None:
    slow = Slow()
    slow.release.set()
    follower = Follower(slow.apply, slow.failed, "test")
    follower.post(-1)
    assert follower.settled(WITHIN)
    follower.post(5)
    assert follower.settled(WITHIN)
    assert (slow.failures, slow.applied) == (["state -1 refused"], [5])
    follower.stop()


def test_stop_waits_for_the_state_being_applied_and_then_nothing_more_is_applied() -> None:
    slow = Slow()
    follower = Follower(slow.apply, slow.failed, "test")
    follower.post(1)
    assert slow.holding.wait(WITHIN)
    stopping = threading.Thread(target=follower.stop)
    stopping.start()
    slow.release.set()
    stopping.join(WITHIN)
    assert not stopping.is_alive() and slow.applied == [1]
    follower.post(3)  # after stop: ignored
    assert follower.settled(WITHIN)
    assert slow.applied == [1]
