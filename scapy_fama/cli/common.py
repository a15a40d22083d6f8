"""What every command shares: one-line errors, exit codes, ``--version``, output width, and the
checks of its inputs and outputs.

Exit codes: 0 success, 1 a negative result (e.g. "not a CGA"), 2 bad input or
usage, 130 interrupted.

Rich output goes to a terminal at the terminal's width; to a pipe or a file at
``COLUMNS`` when it is set, else :data:`PIPE_WIDTH` (rich alone would cut every
line at 80 columns there, and an IPv6 address or a finding's kind with it).

Bad input is refused before the work starts, in one line that names the flag and the value:
argparse types for numbers (finite, in range), paths and names (not empty, not only whitespace:
every option that takes a value has a type or choices), :func:`writable_file` and
:func:`writable_folder` for outputs (nothing created under /dev, /proc or /sys),
:func:`interface` for ``--iface``, :func:`scapy_fama.crypto.files.read_at_most` for inputs that
could be endless.
"""

from __future__ import annotations

import argparse
import math
import os
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from ipaddress import AddressValueError, IPv6Address
from pathlib import Path
from typing import Any, Callable, NoReturn

from rich.console import Console

from scapy_fama import __version__

EXIT_OK, EXIT_NEGATIVE, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
PIPE_WIDTH = 160  # columns of output to a pipe or a file when COLUMNS is not set
# devices and kernel state, not files: an output is never created there (root may create files in
# /dev, which then vanish at the next boot, and writes into /proc or /sys change the kernel's
# settings); an existing device or pipe, e.g. /dev/null or /dev/stdout, is still an output
KERNEL_FOLDERS = (Path("/dev"), Path("/proc"), Path("/sys"))
FILE_FOLDERS = (Path("/dev/shm"),)  # a tmpfs for files under /dev
MAX_LINK_DELAY_MS = 10_000.0  # an emulated link slower than 10 s each way only looks like a hang
MAX_ATTACH_DELAY = 10.0  # seconds: the longest random RS or RA delay a role takes (the RFCs': 1 and 0.5)


def run(prog: str, body: Callable[[], int]) -> int:
    """Run ``body``; bad input becomes ``prog: error: ...`` on one line, never a traceback. Output
    that stdout cannot take (``> /dev/full``, a pipe closed early) is ``stdout: problem``: it said
    ``[Errno 28] No space left on device``, naming nothing."""
    stdout = sys.stdout
    sys.stdout = _Named(stdout, "stdout")  # type: ignore[assignment]
    try:
        code = body()
        sys.stdout.flush()  # here, where its failure is reported, not at the interpreter's exit
        return code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ValueError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:
        print(f"{prog}: error: {plain(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    finally:
        sys.stdout = stdout


class _Named:
    """A text stream whose failed writes and flushes name it (an OSError of a write has no
    file name); everything else is the stream's own."""

    def __init__(self, stream: Any, name: str) -> None:
        self._stream, self._name = stream, name

    def write(self, text: str) -> int:
        try:
            return int(self._stream.write(text))
        except OSError as exc:
            raise self._named(exc) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            raise self._named(exc) from None

    def _named(self, exc: OSError) -> OSError:
        if exc.filename is None and exc.strerror is not None:
            return type(exc)(exc.errno, exc.strerror, self._name)
        return exc

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def plain(exc: OSError) -> str:
    """An OSError as ``PATH: problem``, without Python's ``[Errno N]`` and quotes."""
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    if exc.strerror is None or not paths:
        return str(exc)
    return f"{' -> '.join(paths)}: {exc.strerror}"


class Parser(argparse.ArgumentParser):
    """argparse's parser, whose usage errors are one ``PROG: error: ...`` line, exit 2, as every
    other error of a command (argparse puts its usage block first; ``--help`` shows it)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def version(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Give ``parser`` the ``--version`` option: ``PROG VERSION`` on stdout, exit 0."""
    parser.add_argument("--version", action="version", version=f"{parser.prog} {__version__}")
    return parser


def rich_console(*, stderr: bool = False, **options: Any) -> Console:
    """A rich console on stdout (or stderr): the terminal's width, else COLUMNS or PIPE_WIDTH."""
    stream = sys.stderr if stderr else sys.stdout
    wide = not stream.isatty() and not os.environ.get("COLUMNS")
    return Console(stderr=stderr, width=PIPE_WIDTH if wide else None, **options)


def udp_port(text: str) -> int:
    """An argparse type: a UDP port number, 1 to 65535 (RFC 768; 0 means none)."""
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a UDP port (1-65535)")
    return port


def ipv6_address(text: str) -> str:
    """An argparse type: an IPv6 address, in its compressed form (RFC 5952)."""
    try:
        return str(IPv6Address(text))
    except AddressValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not an IPv6 address ({exc})") from None


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, not the machine's count)."""
    return len(os.sched_getaffinity(0))


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def fifo_priority(text: str) -> int:
    """An argparse type: a SCHED_FIFO priority, 1 to the kernel's maximum (99 on Linux)."""
    value, top = positive_int(text), os.sched_get_priority_max(os.SCHED_FIFO)
    if value > top:
        raise argparse.ArgumentTypeError(f"at most {top}, the kernel's highest SCHED_FIFO priority, not {value}")
    return value


def jobs(text: str) -> int:
    """An argparse type: worker processes, 1 to the usable cores (more would only share them, each
    with its own memory; a huge number was a traceback from the process pool)."""
    value, cores = positive_int(text), usable_cores()
    if value > cores:
        raise argparse.ArgumentTypeError(f"at most {cores}, the cores usable here, not {value}")
    return value


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def positive_float(text: str) -> float:
    """An argparse type: a finite number above 0 (NaN is not one, and infinity as a time was a
    wait without end or an OverflowError)."""
    value = _number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be finite: {text!r}")
    return value


def number_in(low: float, high: float) -> Callable[[str], float]:
    """An argparse type: a number from ``low`` to ``high`` (NaN and infinities are not in range)."""

    def number(text: str) -> float:
        value = _number(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be {low:g} to {high:g}: {text!r}")
        return value

    return number


def attachment_delay(ap: argparse.ArgumentParser, flag: str, does: str, rfc: str) -> None:
    """``flag S``: do ``does`` after a random time of up to S seconds, 0 (at once) by default as the
    profile attaches (§2 step 1, §9); ``rfc`` names the RFC's clause and delay."""
    ap.add_argument(flag, type=number_in(0, MAX_ATTACH_DELAY), default=0.0, metavar="S",
                    help=f"{does} after a random time up to S seconds ({rfc}; default 0, at once: profile §2, §9)")  # fmt: skip


def nonempty_text(text: str) -> str:
    """An argparse type: a name, an address, a pattern; an empty one or one of only whitespace (a
    script's unset variable) is refused, where it fell back to a default (``--name``) or met a later
    check that could not say what was wrong (``--iface : no such interface``)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"must not be empty or whitespace: {text!r}")
    return text


def nonempty_path(text: str) -> Path:
    """An argparse type: a file or folder name; an empty one (a script's unset variable) is refused,
    where it was the current folder, and one of only whitespace, which named a file `` .png``."""
    if not text:
        raise argparse.ArgumentTypeError("an empty path names no file or folder")
    if not text.strip():
        raise argparse.ArgumentTypeError(f"a path of only whitespace names no file or folder: {text!r}")
    return Path(text)


def interface(flag: str, name: str) -> None:
    """``name`` is a network interface here, or ``FLAG NAME: no such interface``."""
    from scapy_fama.net.iface import require_interface  # Scapy: only for the commands with --iface

    try:
        require_interface(name)
    except ValueError:
        raise ValueError(f"{flag} {name}: no such interface") from None


def _kernel_place(flag: str, path: Path) -> None:
    """Refuse ``path`` when it lies in one of :data:`KERNEL_FOLDERS` (symbolic links followed)."""
    real = path.resolve()
    for top in KERNEL_FOLDERS:
        if (real == top or top in real.parents) and not any(f == real or f in real.parents for f in FILE_FOLDERS):
            raise ValueError(f"{flag} {path}: {top} holds devices and kernel state, not files")


def _stream(path: Path) -> bool:
    """``path`` is an existing device, pipe or socket (a terminal, /dev/null, /dev/stdout)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def writable_folder(flag: str, folder: Path, *, parents: bool = True) -> None:
    """``folder`` made if missing (its parents too, unless ``parents`` is False) and writable;
    checked before the work that fills it starts, one line otherwise."""
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{flag} {folder}: not a directory")
    _kernel_place(flag, folder)
    if not parents and not folder.parent.is_dir():
        raise ValueError(f"{flag} {folder}: no such directory {folder.parent}")
    try:
        folder.mkdir(parents=parents, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"{flag} {folder}: cannot create it ({exc.strerror})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{flag} {folder}: not writable")


def writable_file(flag: str, path: Path) -> None:
    """``path`` can be written as the output of ``flag``; checked before the work that fills it
    starts, so that a typo costs one line, not a run. An existing device or pipe is written as
    it is; no file is created or replaced in :data:`KERNEL_FOLDERS`."""
    if path.is_dir():
        raise ValueError(f"{flag} {path}: is a directory")
    if _stream(path):
        return
    _kernel_place(flag, path)
    if not path.parent.is_dir():
        if path.parent.exists():
            raise ValueError(f"{flag} {path}: {path.parent} is not a directory")
        raise ValueError(f"{flag} {path}: no such directory {path.parent}")
    if not os.access(path if path.exists() else path.parent, os.W_OK):
        raise ValueError(f"{flag} {path}: not writable")


@contextmanager
def writing(flag: str, path: Path) -> Iterator[None]:
    """Writing the output of ``flag``: a failed write or flush (a full disk, /dev/full) is
    ``FLAG PATH: problem`` (it was ``[Errno 28] No space left on device``, no path); an error
    that names its file already is left as it is."""
    try:
        yield
    except OSError as exc:
        if exc.filename is not None:
            raise
        raise ValueError(f"{flag} {path}: {exc.strerror or exc}") from None
