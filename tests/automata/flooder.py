"""A flooder process for the hostile bed (hostile.py): frames sent on a raw socket at a steady
rate until it is terminated, from a process of its own, so that the flood goes on evenly while
the test's process sends and reads its own frames (a thread of it would send in bursts, between
which the test's frames slip through); its frames go straight to the driver, past the test's
raw socket on the same interface, which so reads only what it waits for::

    python flooder.py IFACE RATE FRAMES-FILE     (in the attacker's namespace: ip netns exec)

FRAMES-FILE holds the Ethernet frames, each behind its length (2 bytes, big-endian); they are
sent in turn, over and over. It prints "flooding" once its socket is open, and on SIGTERM the
frames sent and the seconds it sent them in ("sent N in S").
"""

from __future__ import annotations

import signal
import socket
import sys
import time
from pathlib import Path

ETH_P_ALL = 3
SOL_PACKET, PACKET_QDISC_BYPASS = 263, 20  # linux/socket.h, linux/if_packet.h; Python names neither
EVERY = 0.0001  # seconds between two looks at the clock: frames due are sent then (a few at a time)


def pack(frames: list[bytes]) -> bytes:
    return b"".join(len(f).to_bytes(2, "big") + f for f in frames)


def unpack(data: bytes) -> list[bytes]:
    frames, at = [], 0
    while at < len(data):
        size = int.from_bytes(data[at : at + 2], "big")
        frames.append(data[at + 2 : at + 2 + size])
        at += 2 + size
    return frames


def main(iface: str, rate: float, path: str) -> None:
    frames = unpack(Path(path).read_bytes())
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind((iface, 0))
    # straight to the driver (packet(7)): the taps (the test's own raw socket) do not see the flood
    sock.setsockopt(SOL_PACKET, PACKET_QDISC_BYPASS, 1)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    print("flooding", flush=True)
    sent, start = 0, time.monotonic()
    while not stop:
        due = int((time.monotonic() - start) * rate)
        while sent < due:
            try:
                sock.send(frames[sent % len(frames)])
            except OSError:  # the driver's queue is full (ENOBUFS): the frame is lost, as on a wire
                pass
            sent += 1
        time.sleep(EVERY)
    print(f"sent {sent} in {time.monotonic() - start:.3f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), sys.argv[3])
