"""Ctrl-C noted, not raised: a long loop stops where it looks, never inside a step of its own.

Theory of operation
-------------------
A KeyboardInterrupt raised by Python's own SIGINT handler lands wherever the
interpreter is. In the shell's SimNet it could end an action half done (a hop
logged and its arrival never scheduled): the net lives on, wrong. In fama-cga's
Sec 2 search it could land inside the worker pool's start: a traceback from the
forkserver, and a process waiting at exit for workers nobody stopped. While
:func:`deferred` is on, SIGINT only sets an event; the loop looks at it between
two steps (SimNet's actions, the search's polls), stops there, and its caller
raises the interrupt itself::

    Ctrl-C --> note.set()     (the step in hand finishes)
    shell:    run_until(lambda: note.is_set() or ...) returns after that action
    fama-cga: cga_generate(..., cancel=note) raises CgaCancelled at its next poll

A second Ctrl-C before the loop has looked (an action that does not end)
raises at once, as Python would: a way out stays. Outside the main thread a
handler cannot be installed, and nothing changes.

:func:`noted` is the same for work whose every step is short and bounded
(fama-fuzz filing libFuzzer's crash files, each run once under a time limit):
SIGINT and SIGTERM alike are only listed, never raised, and the work looks at
the list between two steps.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any


@contextmanager
def deferred() -> Iterator[threading.Event]:
    """SIGINT noted, not raised, inside the block: the event is set (the main thread only;
    see the module doc)."""
    note = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield note
        return

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        if note.is_set():  # the second one: whatever runs does not come back to look
            raise KeyboardInterrupt
        note.set()

    before = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield note
    finally:
        _restore(signal.SIGINT, before)


@contextmanager
def noted(*signums: signal.Signals) -> Iterator[list[signal.Signals]]:
    """Each of ``signums`` only appended to the list inside the block, in the order they came,
    nothing raised (the main thread only; see the module doc)."""
    came: list[signal.Signals] = []
    if threading.current_thread() is not threading.main_thread():
        yield came
        return

    def note(signum: int, frame: FrameType | None) -> None:
        came.append(signal.Signals(signum))

    before = {signum: signal.signal(signum, note) for signum in signums}
    try:
        yield came
    finally:
        for signum, handler in before.items():
            _restore(signum, handler)


def _restore(signum: signal.Signals, handler: Any) -> None:
    """``signum``'s handler as it was (None: one not installed from Python, so the default)."""
    default = signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL
    signal.signal(signum, default if handler is None else handler)
