"""What every command shares: one-line errors, exit codes, ``--version``, and output width.

Exit codes: 0 success, 1 a negative result (e.g. "not a CGA"), 2 bad input or
usage, 130 interrupted.

Rich output goes to a terminal at the terminal's width; to a pipe or a file at
``COLUMNS`` when it is set, else :data:`PIPE_WIDTH` (rich alone would cut every
line at 80 columns there, and an IPv6 address or a finding's kind with it).
"""

from __future__ import annotations

import argparse
import os
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


def run(prog: str, body: Callable[[], int]) -> int:
    """Run ``body``; bad input becomes ``prog: error: ...`` on one line, never a traceback."""
    try:
        return body()
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ValueError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:
        print(f"{prog}: error: {plain(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT


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


def jobs(text: str) -> int:
    """An argparse type: worker processes, 1 to the usable cores (more would only share them, each
    with its own memory; a huge number was a traceback from the process pool)."""
    value, cores = positive_int(text), usable_cores()
    if value > cores:
        raise argparse.ArgumentTypeError(f"at most {cores}, the cores usable here, not {value}")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a number above 0 (NaN is not one)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def writable_folder(flag: str, folder: Path, *, parents: bool = True) -> None:
    """``folder`` made if missing (its parents too, unless ``parents`` is False) and writable;
    checked before the work that fills it starts, one line otherwise."""
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{flag} {folder}: not a directory")
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
    starts, so that a typo costs one line, not a run."""
    if path.is_dir():
        raise ValueError(f"{flag} {path}: is a directory")
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
