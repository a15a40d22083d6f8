"""scapy_fama.interrupt.Latch: the flag signal handlers set (the roles' SIGTERM and SIGUSR1,
fama-lab's apps), which must wake a wait without ever taking a lock.

A handler runs in the main thread between two bytecodes, so it lands inside the main thread's
own wait as often as the main thread waits. With ``threading.Event`` the handler's ``set()``
then waits for the lock that the interrupted ``wait()`` holds: the process hangs for good. The
first test makes that moment come thousands of times; ``threading.Event`` in place of the Latch
hung in each of three tries, within 3,000 rounds.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading

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


UNBOUNDED_WAITS = f"""
import random, signal
from scapy_fama.interrupt import Latch
latch = Latch()
signal.signal(signal.SIGALRM, lambda *_: latch.set())
for _ in range({ROUNDS}):
    signal.setitimer(signal.ITIMER_REAL, random.uniform(0.000001, 0.00003))  # often just before the select()
    latch.wait()
    latch.clear()
print("woken", {ROUNDS})
"""

ANOTHER_THREAD_TAKES_IT = """
import signal, threading
from scapy_fama.interrupt import Latch
latch = Latch()
signal.signal(signal.SIGUSR1, lambda *_: latch.set())
waiting = threading.Event()

def taker():  # the kernel may hand a process's signal to any of its threads: this one takes it
    waiting.wait(0.5)  # the main thread in its wait by then, most likely
    while not latch.is_set():
        signal.pthread_kill(threading.get_ident(), signal.SIGUSR1)
        waiting.wait(0.01)

threading.Thread(target=taker, daemon=True).start()
print("woken", latch.wait())
"""


def test_a_signal_just_before_the_select_ends_a_wait_without_timeout() -> None:
    """The handler runs only after the select() returns: with a plain select() the wait slept
    on (about one round in fifty here), for ever without a timeout."""
    done = subprocess.run([sys.executable, "-c", UNBOUNDED_WAITS], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"woken {ROUNDS}\n", "")


def test_a_signal_another_thread_takes_ends_the_main_thread_s_wait() -> None:
    """Python runs the handler in the main thread, at its next bytecode: a main thread asleep in
    a plain select() never got there."""
    done = subprocess.run([sys.executable, "-c", ANOTHER_THREAD_TAKES_IT], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, "woken True\n", "")


def test_a_wait_leaves_the_process_s_wakeup_fd_as_it_found_it() -> None:
    theirs = Latch()  # any non-blocking fd: another latch's pipe
    before = signal.set_wakeup_fd(theirs._write)
    try:
        assert not Latch().wait(0.01)
        assert signal.set_wakeup_fd(before) == theirs._write
    finally:
        signal.set_wakeup_fd(before)


def test_a_set_from_another_thread_ends_a_wait_at_once() -> None:
    """A wait without a timeout ends only by the set: the waiter is waited for with a deadline."""
    latch, woken = Latch(), []
    waiter = threading.Thread(target=lambda: woken.append(latch.wait(None)), daemon=True)
    waiter.start()
    latch.set()
    waiter.join(30.0)
    assert woken == [True]


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


def test_a_set_whose_wakeup_is_lost_still_ends_a_wait_without_timeout() -> None:
    """The flag set without the byte that wakes the select() (a wakeup lost in a window the
    pipe and the wakeup fd leave open): the wait looks at the flag again within a SLICE and
    ends; the waiter is waited for with a deadline, not timed."""
    latch, woken = Latch(), []
    waiter = threading.Thread(target=lambda: woken.append(latch.wait(None)), daemon=True)
    waiter.start()
    latch._set = True  # what set() does, less its write to the pipe
    waiter.join(30.0)
    assert woken == [True] and not waiter.is_alive()
