"""Shared helpers of the benchmarks: timing, formatting, rich tables, verdicts.

Benchmarks are scripts, not tests: they print absolute numbers and a ratio
against a baseline measured in the same run, say whether the target is met,
and exit 0 unless they crashed or measured something wrong (exit 1). This
module imports neither Scapy nor scapy_fama, so a benchmark can start a
"stock Scapy" subprocess without loading the project by accident.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent  # the project checkout (holds scapy_fama/)


def ensure_project_on_path() -> None:
    """Make ``import scapy_fama`` work from a checkout without PYTHONPATH."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def child_env() -> dict[str, str]:
    """Environment for benchmark subprocesses: the checkout first on PYTHONPATH."""
    env = dict(os.environ)
    parts = [str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(ROOT)]
    env["PYTHONPATH"] = os.pathsep.join(parts)
    return env


# --- command line ---------------------------------------------------------------------------


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="small sizes: a smoke run of a few seconds")
    return p


# --- timing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    """Best and median seconds per operation over several repeats."""

    best: float
    median: float
    repeats: int
    ops: int  # operations per repeat

    @property
    def rate(self) -> float:
        """Operations per second at the best repeat."""
        return 1.0 / self.best if self.best > 0 else float("inf")


def _summarise(per_op: list[float], ops: int) -> Timing:
    s = sorted(per_op)
    return Timing(best=s[0], median=s[len(s) // 2], repeats=len(s), ops=ops)


def time_calls(fn: Callable[[], Any], *, repeats: int = 5, min_seconds: float = 0.2, max_ops: int = 10**7) -> Timing:
    """Seconds per call of ``fn()``: the call count is calibrated so a repeat lasts ``min_seconds``."""
    fn()  # warm-up (caches, lazy imports)
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
        if dt >= min_seconds / 4 or n >= max_ops:
            break
        n *= 4 if dt < min_seconds / 40 else 2
    n = max(1, min(max_ops, int(n * (min_seconds / max(dt, 1e-9)))))
    per_op = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        per_op.append((time.perf_counter() - t0) / n)
    return _summarise(per_op, n)


def time_over(fn: Callable[[Any], Any], make_items: Callable[[], Sequence[Any]], *, repeats: int = 5) -> Timing:
    """Seconds per item of ``fn(item)`` over a fresh batch from ``make_items()`` each repeat.

    For operations that must not see the same object twice (a packet verified
    once, as in real use): building the batch is not timed.
    """
    per_op = []
    n = 0
    for _ in range(repeats):
        items = make_items()
        n = len(items)
        t0 = time.perf_counter()
        for item in items:
            fn(item)
        per_op.append((time.perf_counter() - t0) / n)
    return _summarise(per_op, n)


# --- formatting -----------------------------------------------------------------------------


def fmt_seconds(s: float) -> str:
    if s != s or s == float("inf"):  # NaN / inf
        return "n/a"
    if s >= 1:
        return f"{s:.3f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    if s >= 1e-6:
        return f"{s * 1e6:.2f} µs"
    return f"{s * 1e9:.0f} ns"


def fmt_rate(r: float, unit: str = "/s") -> str:
    if r >= 1e6:
        return f"{r / 1e6:.2f} M{unit}"
    if r >= 1e3:
        return f"{r / 1e3:.1f} k{unit}"
    return f"{r:.1f} {unit}".replace(" /", "/")


def fmt_ratio(x: float) -> str:
    return f"{x:.3f}" if x < 10 else f"{x:.1f}"


def pct(part: float, whole: float) -> str:
    return f"{100.0 * part / whole:.1f} %" if whole > 0 else "n/a"


# --- environment ----------------------------------------------------------------------------


def git_revision() -> str:
    try:
        rev = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no", "--", "scapy_fama"],
            capture_output=True, text=True, timeout=5,
        ).stdout.strip()
        return f"{rev}{' + uncommitted changes in scapy_fama/' if dirty else ''}" if rev else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def env_rows(extra: Iterable[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    rows = [
        ("date", _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")),
        ("command", " ".join([Path(sys.argv[0]).name] + sys.argv[1:])),
        ("python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("cpus", str(os.cpu_count())),
        ("load average (1/5/15 min)", load_average()),
        ("project revision", git_revision()),
    ]
    rows += list(extra)
    return rows


# --- output ---------------------------------------------------------------------------------


class Report:
    """Rich output of one benchmark: a title, tables, verdict lines."""

    def __init__(self, title: str) -> None:
        width = None if sys.stdout.isatty() else 120
        self.console = Console(width=width, highlight=False)
        self.title = title
        self.failures: list[str] = []

    def header(self, extra: Iterable[tuple[str, str]] = ()) -> None:
        self.console.rule(f"[bold]{self.title}")
        self.kv("environment", env_rows(extra))

    def kv(self, title: str, rows: Iterable[tuple[str, str]]) -> None:
        t = Table(title=title, title_justify="left", show_header=False)
        t.add_column(style="bold")
        t.add_column()
        for k, v in rows:
            t.add_row(k, v)
        self.console.print(t)

    def table(
        self,
        title: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        caption: str | None = None,
        right_from: int = 1,
    ) -> None:
        t = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
        for i, c in enumerate(columns):
            t.add_column(c, justify="right" if i >= right_from else "left")
        for r in rows:
            t.add_row(*[str(x) for x in r])
        self.console.print(t)

    def note(self, text: str) -> None:
        self.console.print(text)

    def target(self, label: str, ratio: float, target: float, *, higher_is_better: bool) -> bool:
        """Print one verdict line and return whether the target is met."""
        met = ratio >= target if higher_is_better else ratio <= target
        op = "≥" if higher_is_better else "≤"
        mark = "[bold green]MET[/]" if met else "[bold red]NOT MET[/]"
        self.console.print(f"{label}: ratio {fmt_ratio(ratio)}, target {op} {target} → {mark}")
        return met

    def fail(self, message: str) -> None:
        """A wrong measured result (not a slow one): the script will exit 1."""
        self.failures.append(message)
        self.console.print(f"[bold red]WRONG RESULT:[/] {message}")

    def exit_code(self) -> int:
        if self.failures:
            self.console.print(f"[bold red]{len(self.failures)} wrong result(s); exit 1[/]")
            return 1
        return 0
