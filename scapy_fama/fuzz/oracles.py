"""What counts as a bug: the oracles of a campaign.

Theory of operation
-------------------
A case passes when every oracle holds; the first that does not becomes a
:class:`Failure`::

    exception  nothing the target raises may escape (our own code, in process)
    hang       a case finishes within the per-case time limit (SIGALRM in process,
               the per-case timeout on an interface)
    liveness   afterwards a legitimate BU from a fresh MN still gets a correct BA
               (after every case in process, every N cases on an interface)
    bounds     the binding cache and records of the long-lived DAR stay within
               capacity, and the process's memory within ``memory_limit``

A failure's ``signature`` (oracle, kind and the innermost frame of our code)
tells findings apart: two cases crashing at the same line are one finding.
"""

from __future__ import annotations

import resource
import signal
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
PACKAGE_ROOT = str(Path(__file__).resolve().parents[1])


class CaseTimeout(BaseException):
    """Raised in the case by SIGALRM; a BaseException so that ``except Exception`` cannot eat it."""


@dataclass(frozen=True)
class Failure:
    oracle: str  # exception, hang, liveness, bounds
    kind: str  # the exception type, or a short problem code
    detail: str
    where: str = ""  # innermost frame of our code (file:line), for exceptions

    @property
    def signature(self) -> str:
        return ":".join(p for p in (self.oracle, self.kind, self.where) if p)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "signature": self.signature}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Failure":
        return cls(data["oracle"], data["kind"], data["detail"], data.get("where", ""))


def _where(exc: BaseException) -> str:
    """The innermost traceback frame, preferring the project's own code."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if f.filename.startswith(PACKAGE_ROOT) and "/fuzz/" not in f.filename]
    frame = (ours or frames or [None])[-1]
    if frame is None:
        return ""
    return f"{Path(frame.filename).name}:{frame.lineno}"


def exception_failure(exc: BaseException) -> Failure:
    if isinstance(exc, CaseTimeout):
        return Failure("hang", "timeout", str(exc), _where(exc))
    lines = traceback.format_exception(exc)
    return Failure("exception", type(exc).__name__, "".join(lines[-6:]).strip(), _where(exc))


_armed = 0.0  # the limit of the timer running now (for the CaseTimeout's message)
_installed = False  # inside alarm_handler(): SIGALRM is ours already


def _fire(signum: int, frame: object) -> None:
    raise CaseTimeout(f"case still running after {_armed} s")


@contextmanager
def alarm_handler() -> Iterator[None]:
    """SIGALRM raises :class:`CaseTimeout` inside: a campaign installs the handler once, so
    that each case only arms and disarms a timer (installing it costs more than the timer)."""
    global _installed
    if _installed or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGALRM, _fire)
    _installed = True
    try:
        yield
    finally:
        _installed = False
        signal.signal(signal.SIGALRM, previous)


def guarded(fn: Callable[[], T], seconds: float) -> T | Failure:
    """``fn()``, or the Failure of what escaped it (exception or hang): a CaseTimeout after
    ``seconds`` (in the main thread only; 0: no limit)."""
    global _armed
    timed = seconds > 0 and threading.current_thread() is threading.main_thread()
    previous = None
    try:
        if timed:
            if not _installed:
                previous = signal.signal(signal.SIGALRM, _fire)
            _armed = seconds
            signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            return fn()
        finally:
            if timed:
                signal.setitimer(signal.ITIMER_REAL, 0)
                if previous is not None:
                    signal.signal(signal.SIGALRM, previous)
    except (Exception, CaseTimeout) as exc:  # everything a target can do wrong
        return exception_failure(exc)


def peak_memory() -> int:
    """Peak resident set of this process in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
