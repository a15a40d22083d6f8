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

:class:`Latch` is the flag for a handler that must wake a wait (an app's SIGTERM,
a role's SIGTERM and SIGUSR1). ``threading.Event`` cannot be that flag: its
``set()`` takes the lock that ``wait()`` holds around its sleep, and a handler
runs in the main thread between two bytecodes, possibly inside that very
``wait()``: the handler then waits for a lock its own thread holds, for ever (a
pinger of fama-lab that never answered SIGTERM). ``Latch.set()`` takes no lock:
it sets a flag and writes a byte to a pipe, and ``wait()`` sleeps in
``select()`` on that pipe, which the byte ends at once.

Python runs a handler in the main thread at its next bytecode, so a signal
that comes just before the main thread's ``select()`` (after the flag was
looked at), or that the kernel hands to another thread, runs its handler only
once ``select()`` has returned: by itself, at the timeout or never. So a
``wait()`` in the main thread also makes the pipe the process's wakeup fd
(``signal.set_wakeup_fd``), to which the C-level handler writes in whatever
thread and at whatever moment it runs; the wait wakes, the handler runs, and a
wakeup that was for another signal is read away and the wait goes on. And a wait
never sleeps longer than :data:`SLICE` between two looks at the flag: a wakeup lost
in a window none of this closes costs that much, not the rest of the wait (the
suite's reproducer, 3,000 signals each just before a ``select()``, hung once in
about a dozen full-suite runs on a busy machine, with no wait that had a timeout).
"""

from __future__ import annotations

import os
import select
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any


SLICE = 0.25  # seconds a wait sleeps at most between two looks at the flag (see the module doc)


class Latch:
    """A flag that a signal handler, or any thread, may set (see the module doc)."""

    def __init__(self) -> None:
        self._set = False
        self._read, self._write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    def set(self) -> None:
        self._set = True
        try:
            os.write(self._write, b"\0")
        except BlockingIOError:  # the pipe is full of earlier sets: a wait wakes all the same
            pass

    def is_set(self) -> bool:
        return self._set

    def fileno(self) -> int:
        """Readable once set: a ``select()`` may wait for the latch beside sockets (the main
        thread's only: a signal another thread takes wakes no such select)."""
        return self._read

    def clear(self) -> None:
        self._set = False  # before the pipe is emptied: a set() meanwhile stays seen
        self._drain()

    def wait(self, timeout: float | None = None) -> bool:
        """Whether the latch is set, after waiting at most ``timeout`` seconds for it."""
        if self._set:
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        main = threading.current_thread() is threading.main_thread()
        before = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False) if main else -1
        try:
            while not self._set:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                if select.select([self._read], [], [], SLICE if left is None else min(left, SLICE))[0] and not self._set:
                    self._drain()  # a wakeup byte, or a set() that a clear() overtook: wait on
        finally:
            if main:
                signal.set_wakeup_fd(before)
        return self._set

    def _drain(self) -> None:
        try:
            while os.read(self._read, 4096):
                pass
        except BlockingIOError:
            pass

    def __del__(self) -> None:
        os.close(self._read)
        os.close(self._write)


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
