"""Follower: a thread that brings something slow into line with the newest state posted to it.

Theory of operation
-------------------
An MN's kernel follows its core (:meth:`~scapy_fama.automata.kernel_path.MnKernel.sync`): a few
rtnetlink requests after every event, and at a move milliseconds of wall time for a tenth of
that in CPU (the new care-of address's RTM_NEWADDR waits for the kernel's locks while the
DARs' kernels take theirs). Done in the automaton's thread, that time stood between the BUs a
move sends and the BAs that answer them: on the lab the BA of the first binding waited
1.2-4.2 ms in its socket, and with it the binding's tunnel. So the automaton posts the state
the kernel must reach and goes on; the follower's thread applies it::

    automaton:  event -> core -> effects (the BUs leave) -> post(state) -> the next event (a BA)
    follower:   the newest state posted -> apply (rtnetlink, then the data plane's tunnels)

States are not queued. Each is whole, and applying one brings the kernel there from wherever it
is, so a state overtaken by a newer one before the thread came to it is never applied. An error
applying one is reported (``failed``), and the next state posted tries again, as the automaton
did after its next event. :meth:`Follower.stop` lets the state being applied finish and drops
the one waiting: the caller then takes the kernel's state down itself, in its own thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

S = TypeVar("S")

STOP_WITHIN = 10.0  # seconds stop() waits for the state being applied (rtnetlink: milliseconds)


class Follower(Generic[S]):
    """Applies, in a thread of its own, the newest of the states posted to it."""

    def __init__(self, apply: Callable[[S], None], failed: Callable[[Exception], None], name: str) -> None:
        self._do = apply
        self._failed = failed
        self._changed = threading.Condition()
        self._waiting: tuple[S] | None = None  # the newest state not yet taken (a tuple: any S)
        self._busy = False  # a state is being applied
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def post(self, state: S) -> None:
        """The state to reach next (it replaces one still waiting); ignored once stopped."""
        with self._changed:
            if not self._stopped:
                self._waiting = (state,)
                self._changed.notify_all()

    def settled(self, timeout: float) -> bool:
        """Wait until the newest state posted has been applied; False after ``timeout`` seconds."""
        with self._changed:
            return self._changed.wait_for(lambda: self._waiting is None and not self._busy, timeout)

    def stop(self) -> None:
        """End the thread once the state being applied is done; a waiting one is dropped."""
        with self._changed:
            self._stopped = True
            self._waiting = None
            self._changed.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join(STOP_WITHIN)

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._waiting is not None or self._stopped)
                if self._stopped or self._waiting is None:
                    return
                (state,), self._waiting = self._waiting, None
                self._busy = True
            try:
                self._do(state)
            except Exception as exc:  # noqa: BLE001 -- reported; the next state tries again
                self._failed(exc)
            finally:
                with self._changed:
                    self._busy = False
                    self._changed.notify_all()
