"""What every command shares: one-line errors and the exit codes scripts rely on.

Exit codes: 0 success, 1 a negative result (e.g. "not a CGA"), 2 bad input or
usage, 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable

EXIT_OK, EXIT_NEGATIVE, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


def run(prog: str, body: Callable[[], int]) -> int:
    """Run ``body``; bad input becomes ``prog: error: ...`` on one line, never a traceback."""
    try:
        return body()
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ValueError, OSError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


def udp_port(text: str) -> int:
    """An argparse type: a UDP port number, 1 to 65535 (RFC 768; 0 means none)."""
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a UDP port (1-65535)")
    return port
