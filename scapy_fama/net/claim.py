"""One role per interface: the claim a fama-dar or fama-mn holds on its interface while it runs.

Theory of operation
-------------------
Two roles on one interface answer the same Neighbour Solicitations, advertise or
configure addresses over each other and read each other's frames: a second
``fama-mn --iface eth0`` started by mistake used to run silently and make both
wrong. So a role claims its interface before it touches it, and a second role on
the same interface of the same network namespace stops with one line naming the
first::

    /run/fama-roles/<netns inode>-<interface>.lock    flock(LOCK_EX | LOCK_NB), held open
                                                      while the role runs; it holds
                                                      "fama-dar (pid 1234)"

The kernel drops the lock when the holder exits, however it ends (a crash, a
SIGKILL), so a file left behind claims nothing. Interfaces of the same name in
two namespaces (the lab's ``fama-mn`` in its own, a test's veths) are two
claims. Where the directory cannot be made (no /run), roles are not kept apart:
the claim is a guard against a slip, not a permission.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

CLAIMS = Path("/run/fama-roles")
HOLDER = 128  # bytes of the holder's line read back


class InterfaceTaken(ValueError):
    """Another role holds the interface (the command's one-line error)."""


def _key(iface: str) -> str:
    return f"{os.stat('/proc/self/ns/net').st_ino}-{iface}"


@contextlib.contextmanager
def claim(iface: str, role: str, directory: Path = CLAIMS) -> Iterator[None]:
    """Hold ``iface`` of this network namespace for ``role`` while the block runs;
    :class:`InterfaceTaken` when another process holds it."""
    try:
        directory.mkdir(mode=0o755, parents=True, exist_ok=True)
        fd = os.open(directory / f"{_key(iface)}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError:
        yield  # nowhere to keep claims: see the module's docstring
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, HOLDER, 0).decode(errors="replace").strip() or "another role"
            raise InterfaceTaken(
                f"--iface {iface}: {holder} runs on it already in this network namespace; stop it first"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{role} (pid {os.getpid()})\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # the lock goes with the last descriptor of its open file
