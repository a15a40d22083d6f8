"""scapy_fama.interrupt.Latch: the flag signal handlers set (the roles' SIGTERM and SIGUSR1,
fama-lab's apps), which must wake a wait without ever taking a lock.

A handler runs in the main thread between two bytecodes, so it lands inside the main thread's
own wait as often as the main thread waits. With ``threading.Event`` the handler's ``set()``
then waits for the lock that the interrupted ``wait()`` holds: the process hangs for good. The
first test makes that moment come thousands of times; ``threading.Event`` in place of the Latch
hung in each of three tries, within 3,000 rounds.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from scapy_fama.interrupt import Latch

ROUNDS = 3000
INTERRUPTED_WAITS = f"""
import random, signal
from scapy_fama.interrupt import Latch
latch = Latch()
signal.signal(signal.SIGALRM, lambda *_: latch.set())
for _ in range({ROUNDS}):
    signal.setitimer(signal.ITIMER_REAL, random.uniform(0.0001, 0.001))  # once, somewhere in the waits
    while not latch.wait(0.00005):
        pass
    latch.clear()
print("woken", {ROUNDS})
"""


def test_a_handler_that_lands_inside_the_wait_it_ends_never_hangs() -> None:
    done = subprocess.run([sys.executable, "-c", INTERRUPTED_WAITS], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"woken {ROUNDS}\n", "")


def test_a_set_from_another_thread_ends_a_wait_at_once() -> None:
    latch = Latch()
    threading.Timer(0.05, latch.set).start()
    start = time.monotonic()
    assert latch.wait(60.0)
    assert time.monotonic() - start < 30.0  # woken by the set, not by the 60 s


def test_it_stays_set_until_cleared_and_a_cleared_one_waits_out_its_timeout() -> None:
    latch = Latch()
    assert not latch.is_set() and not latch.wait(0.01)
    latch.set()
    latch.set()
    assert latch.is_set() and latch.wait(60.0) and latch.wait(None)
    latch.clear()
    assert not latch.is_set() and not latch.wait(0.01)  # both bytes of the two sets read away
    latch.set()
    assert latch.wait(0.0)


def test_sets_beyond_what_the_pipe_holds_are_kept() -> None:
    latch = Latch()
    for _ in range(100_000):  # more bytes than a pipe's 64 KiB: the last ones are not written
        latch.set()
    assert latch.wait(0.0)
    latch.clear()
    assert not latch.wait(0.0)
