"""The demo's applications, run inside a lab namespace: a TCP sink and source with SHA-256, a pinger.

    python -m scapy_fama.lab.apps sink   --bind ADDRESS --port P
    python -m scapy_fama.lab.apps source --to ADDRESS --port P [--rate BYTES/S | --rate 0] [--bytes N] [--seconds S]
    python -m scapy_fama.lab.apps ping   --to ADDRESS [--interval S] [--count N]

Theory of operation
-------------------
Plain kernel sockets, nothing of FAMA: what they show is what any application
sees across a handover. Each app prints ``ready`` on stdout when it is set up,
runs until its work is done or it gets SIGTERM/SIGINT, and then prints one
JSON object on stdout (times are wall-clock ``time.time()``, which all
namespaces share, so the demo can set them against its handover times)::

    sink    accepts one connection, reads to EOF:
            {"bytes", "sha256", "stalls": [[t_last_before, t_first_after], ...] (gaps > STALL, 0.05 s),
             "first", "last" (the times of the first and the last data), "error"}
    source  connects, sends random bytes at --rate until --bytes, --seconds or SIGTERM, closes
            its side and waits for the sink's close: {"bytes", "sha256", "error"}; --rate 0 sends
            as fast as the connection takes, 64 KiB at a time from a 4 MiB pool of random bytes
            read at a moving offset (the stream never repeats a block, and the source costs
            a SHA-256 and a copy per byte, not a random generator)
    ping    ICMPv6 Echo Requests (raw socket) every --interval s (PING_INTERVALS: 1 ms to 1 s),
            --count of them or until SIGTERM: {"interval", "nice", "echoes": [[seq, sent, rtt or null], ...]}

The pinger is the demo's measuring instrument: an interruption is the run of echoes
lost around a move, read from their send times, so an echo sent late stretches it by
as much. It keeps to a fixed schedule (the n-th echo is due n intervals after the first,
:func:`next_due`), not an interval of sleep after each send, which drifted a 5 ms ping
to 5.7 ms between echoes; and it runs at nice :data:`PROBE_NICE`, ahead of the roles
(nice -10, roles.py) and the other applications, which on this machine's two cores
left it waiting up to 15 ms for a core at the moment of a move (a 13 ms gap between two
5 ms echoes right after a BA). It only sends one echo an interval and reads the
answers, so the roles lose next to nothing to it. Without the right to raise its
priority (not root) it runs as it is; its JSON says at which nice it ran.

:func:`start` runs one in a namespace from the demo and waits for its
``ready``; :func:`finish` stops it (or lets it end) and returns its JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from scapy_fama.interrupt import Latch
from scapy_fama.lab.links import LabError, in_namespace, owned
from scapy_fama.wire.icmpv6 import echo_reply, echo_request

CHUNK = 1024
BULK_CHUNK, POOL = 1 << 16, 1 << 22  # --rate 0: bytes per send, and the random bytes they come from
STALL = 0.05  # seconds without data the sink reports as a stall: 2.5 chunk intervals at 50 kB/s, under a move's carrier-down time (55-65 ms)
SOCKET_TIMEOUT = 60.0
LATE = 1.0  # seconds to wait for the last echo replies
PING_INTERVALS = (0.001, 1.0)  # seconds: the shortest and the longest --interval (0, or NaN, was a flood)
MAX_ECHOES = 0xFFFF  # --count at most: the Echo sequence numbers before they come round again
MODULE = "scapy_fama.lab.apps"  # what start() runs: python -m MODULE APP ...
PROBE_NICE = -15  # the pinger's priority: ahead of the roles it measures (roles.ROLE_NICE, -10)


class _Stop(Latch):
    """Set by SIGTERM or SIGINT: the app ends its work and reports."""

    def __init__(self) -> None:
        super().__init__()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.set())

    def __bool__(self) -> bool:
        return self.is_set()


def _ready() -> None:
    print("ready", flush=True)


def _readable(sock: socket.socket, stop: _Stop, cut: str) -> None:
    """Return once ``sock`` can be read; OSError saying ``cut`` short at SIGTERM/SIGINT,
    TimeoutError after SOCKET_TIMEOUT with neither."""
    ready, _, _ = select.select([sock, stop], [], [], SOCKET_TIMEOUT)
    if stop:
        raise OSError(f"stopped (SIGTERM or SIGINT) {cut}")
    if not ready:
        raise TimeoutError("timed out")


def sink(address: str, port: int, stop: _Stop) -> dict[str, Any]:
    digest, total, stalls = hashlib.sha256(), 0, []
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((address, port))
        listener.listen(1)
        _ready()
        try:
            _readable(listener, stop, "before a connection came")
            conn, _ = listener.accept()
        except OSError as exc:
            return {"bytes": 0, "sha256": digest.hexdigest(), "stalls": [], "error": str(exc)}
    error, first = None, None
    with conn:
        last = time.time()
        try:
            while True:
                _readable(conn, stop, "before the end of the stream")
                if not (data := conn.recv(65536)):
                    break
                now = time.time()
                if now - last > STALL:
                    stalls.append([last, now])
                if first is None:
                    first = now
                last = now
                digest.update(data)
                total += len(data)
        except OSError as exc:
            error = str(exc)
    return {"bytes": total, "sha256": digest.hexdigest(), "stalls": stalls, "first": first, "last": last,
            "error": error}  # fmt: skip


def _bulk(size: int) -> Iterator[bytes]:
    """Random bytes ``size`` at a time, cut from a pool at an offset that moves by a prime."""
    pool = os.urandom(POOL)
    doubled, offset = pool + pool[:size], 0
    while True:
        yield doubled[offset : offset + size]
        offset = (offset + size + 4099) % POOL


def source(
    address: str, port: int, rate: float, limit: int | None, seconds: float | None, stop: _Stop
) -> dict[str, Any]:
    digest, total, error = hashlib.sha256(), 0, None
    chunks = _bulk(BULK_CHUNK) if rate == 0 else None
    with socket.create_connection((address, port), timeout=SOCKET_TIMEOUT) as conn:
        _ready()
        started = time.monotonic()
        try:
            while not stop and (limit is None or total < limit):
                if seconds is not None and time.monotonic() - started >= seconds:
                    break
                size = CHUNK if chunks is None else BULK_CHUNK
                data = os.urandom(size) if chunks is None else next(chunks)
                data = data if limit is None else data[: limit - total]
                conn.sendall(data)
                digest.update(data)
                total += len(data)
                if chunks is None:
                    stop.wait(max(0.0, started + total / rate - time.monotonic()))
            conn.shutdown(socket.SHUT_WR)
            while conn.recv(65536):
                pass
        except OSError as exc:
            error = str(exc)
    return {"bytes": total, "sha256": digest.hexdigest(), "error": error}


def next_due(due: float, interval: float, now: float) -> float:
    """When the echo after the one due at ``due`` is due, at ``now``: one interval on, on a
    fixed schedule; an echo sent late (the pinger waited for a core) makes the next one go
    at once, and the schedule goes on from there, so the echoes missed are not sent in a burst."""
    return max(due + interval, now)


def _probe_priority() -> int:
    """Raise this thread's priority to PROBE_NICE where allowed (root); the nice it runs at.
    Threads started after this inherit it (Linux: nice is per thread)."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, PROBE_NICE)
    except OSError:  # not allowed to raise it: the probe runs as it is
        pass
    return os.getpriority(os.PRIO_PROCESS, 0)


def ping(address: str, interval: float, stop: _Stop, count: int | None = None) -> dict[str, Any]:
    ident, sent, rtts = os.getpid() & 0xFFFF, {}, {}
    nice = _probe_priority()
    with socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6) as sock:
        sock.settimeout(0.2)

        def receive() -> None:
            while time.time() <= finished[0]:  # until LATE after the last echo sent
                try:
                    packet = sock.recv(2048)
                except TimeoutError:
                    continue
                who, number = echo_reply(packet) or (None, None)
                if who == ident and number in sent and number not in rtts:
                    rtts[number] = time.time() - sent[number]

        finished = [float("inf")]
        reader = threading.Thread(target=receive, daemon=True)
        reader.start()
        _ready()
        seq, due = 0, time.monotonic()
        while not stop and (count is None or len(sent) < count):
            seq = (seq + 1) & 0xFFFF
            sent[seq] = time.time()
            try:
                sock.sendto(echo_request(ident, seq, b"fama-lab"), (address, 0))
            except OSError:
                pass  # no route while the MN is away: a lost echo
            now = time.monotonic()
            due = next_due(due, interval, now)
            stop.wait(due - now)
        finished[0] = time.time() + LATE
        reader.join()
    return {"interval": interval, "nice": nice, "echoes": [[s, t, rtts.get(s)] for s, t in sent.items()]}


class App(subprocess.Popen[str]):
    """An app running in a namespace, named in errors as ``called`` (``ping in fama-lab-cn``)."""

    def __init__(self, ns: str, app: str, options: tuple[str, ...]) -> None:
        self.called = f"{app} in {ns}"
        command = in_namespace(ns, [sys.executable, "-m", MODULE, app, *options])
        super().__init__(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def start(ns: str, app: str, *options: str, timeout: float = 30.0) -> App:
    """Run an app in namespace ``ns`` and wait for its ``ready``."""
    process = App(ns, app, options)
    out = process.stdout
    assert out is not None
    with owned(process):
        said: list[str] = []
        ready = threading.Thread(target=lambda: said.append(out.readline()), daemon=True)
        ready.start()
        ready.join(timeout)
        if said != ["ready\n"]:
            process.kill()
            _, err = process.communicate()
            late = f"no ready within {timeout:g} s" if not said else _ending(process, err)
            raise LabError(f"{process.called} did not start: {late}")
    return process


def finish(process: App, *, stop: bool, timeout: float = 60.0) -> dict[str, Any]:
    """The app's JSON result, after SIGTERM when ``stop`` (else it ends by itself)."""
    if stop:
        process.terminate()
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        after = " of SIGTERM" if stop else ""
        raise LabError(f"{process.called} gave no result within {timeout:g} s{after}: killed") from None
    try:
        return json.loads(out.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise LabError(f"{process.called} gave no result: {_ending(process, err)}") from None


def _ending(process: App, err: str) -> str:
    """How an app that ended said nothing useful ended: its last line on stderr, else its exit."""
    lines = err.strip().splitlines()
    if lines:
        return lines[-1]
    code = process.wait()
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:  # a number Python has no name for (a real-time signal)
            name = f"signal {-code}"
        return f"ended by {name} with nothing on stderr"
    return f"exit status {code} with nothing on stderr"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog=f"python -m {MODULE}")
    low, high = PING_INTERVALS
    sub = ap.add_subparsers(dest="app", required=True)
    s = sub.add_parser("sink")
    s.add_argument("--bind", required=True)
    s.add_argument("--port", type=int, required=True)
    c = sub.add_parser("source")
    c.add_argument("--to", required=True)
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--rate", type=float, default=100_000.0, help="bytes per second (0: as fast as it goes)")
    c.add_argument("--bytes", type=int, help="stop after this many bytes (default: at SIGTERM)")
    c.add_argument("--seconds", type=float, help="stop after this long (default: at SIGTERM)")
    p = sub.add_parser("ping")
    p.add_argument("--to", required=True)
    p.add_argument("--interval", type=float, default=0.02, help=f"seconds, {low:g} to {high:g}")
    p.add_argument("--count", type=int, help="stop after this many echoes (default: at SIGTERM)")
    args = ap.parse_args(argv)
    if args.app == "ping" and not low <= args.interval <= high:
        p.error(f"argument --interval: must be {low:g} to {high:g} s: {args.interval!r}")
    if args.app == "ping" and args.count is not None and not 1 <= args.count <= MAX_ECHOES:
        p.error(f"argument --count: must be 1 to {MAX_ECHOES}: {args.count}")
    stop = _Stop()
    if args.app == "sink":
        result = sink(args.bind, args.port, stop)
    elif args.app == "source":
        result = source(args.to, args.port, args.rate, args.bytes, args.seconds, stop)
    else:
        result = ping(args.to, args.interval, stop, args.count)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
