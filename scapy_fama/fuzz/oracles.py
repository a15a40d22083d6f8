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


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`CaseTimeout` in this thread after ``seconds`` (main thread only; else no limit)."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def fire(signum: int, frame: object) -> None:
        raise CaseTimeout(f"case still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def guarded(fn: Callable[[], T], seconds: float) -> T | Failure:
    """``fn()``, or the Failure of what escaped it (exception or hang)."""
    try:
        with time_limit(seconds):
            return fn()
    except (Exception, CaseTimeout) as exc:  # everything a target can do wrong
        return exception_failure(exc)


def peak_memory() -> int:
    """Peak resident set of this process in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
