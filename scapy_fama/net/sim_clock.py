"""The virtual clock of a SimNet: a heap of actions, and a clock that jumps to the next one.

Theory of operation
-------------------
Nothing in a SimNet sleeps. Everything that will happen (a message arriving,
a core's timer, a flow's next datagram, a user's scheduled call) is an action
at a virtual time in one heap; :meth:`Scheduler.step` pops the earliest, moves
the clock there and runs it. Actions at the same time run in the order they
were scheduled (a counter breaks ties), so one seed gives one history::

    heap: (0.010, #4, arrive BU at dar1) (0.015, #7, dar1 timer) (1.000, #2, flow tick)
            |
    step(): now = 0.010, run "arrive BU at dar1" -> it schedules (0.015, #9, arrive BA at mn)
    step(): now = 0.015, run "dar1 timer"        (#7 before #9: scheduled first)

Time never goes back: an action scheduled in the past runs at the present.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

Action = Callable[[], None]


class Scheduler:
    """Actions ordered by (time, scheduling order) and the virtual ``now``."""

    def __init__(self) -> None:
        self.now = 0.0
        self.steps = 0  # actions run so far
        self._heap: list[tuple[float, int, Action]] = []
        self._order = itertools.count()

    def at(self, when: float, action: Action) -> None:
        heapq.heappush(self._heap, (max(when, self.now), next(self._order), action))

    def next_time(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def step(self) -> bool:
        """Run the earliest action; False when none is left."""
        if not self._heap:
            return False
        when, _, action = heapq.heappop(self._heap)
        self.now = when
        self.steps += 1
        action()
        return True

    def run(self, until: float) -> None:
        """Run every action due at or before ``until``, then set the clock to ``until``."""
        while self._heap and self._heap[0][0] <= until:
            self.step()
        self.now = max(self.now, until)
