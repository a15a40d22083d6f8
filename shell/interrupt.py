"""Ctrl-C while the virtual clock runs: the clock stops between two events, never inside one.

Theory of operation
-------------------
SimNet runs one action at a time (an arrival, a timer, a flow's tick), and each
action changes several things: a node's core, the hops it appends, the
arrivals it schedules. A KeyboardInterrupt raised by Python's own SIGINT
handler lands wherever the interpreter is, so it could end an action half done
(a hop logged and its arrival never scheduled, a flow whose next tick was
never set): the net lives on, wrong. While :func:`deferred` is on, SIGINT only
notes that it came; the session's loop looks at the note after each action
and stops there, then raises the interrupt itself::

    Ctrl-C --> note.came = True     (the action in hand finishes)
    run_until(lambda: note.came or ...) returns after that action
    session --> KeyboardInterrupt("at t=... s, between two events ...")

A second Ctrl-C before the loop has looked (an action that does not end)
raises at once, as Python would: a way out stays. Outside the main thread a
handler cannot be installed, and nothing changes.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType


@dataclass
class Note:
    """Whether SIGINT came while :func:`deferred` was on."""

    came: bool = False


@contextmanager
def deferred() -> Iterator[Note]:
    """SIGINT noted, not raised, inside the block (the main thread only; see the module doc)."""
    note = Note()
    if threading.current_thread() is not threading.main_thread():
        yield note
        return

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        if note.came:  # the second one: whatever runs does not come back to look
            raise KeyboardInterrupt
        note.came = True

    before = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield note
    finally:
        signal.signal(
            signal.SIGINT, signal.default_int_handler if before is None else before
        )
