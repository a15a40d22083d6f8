"""UDP with generic segmentation offload across the lab, run in a namespace by test_lab_udp.py.

    python udp_gso.py send ADDRESS PORT   -> WRITES sends of SEGMENTS x SEGMENT bytes (UDP_SEGMENT)
    python udp_gso.py recv ADDRESS PORT   -> prints "ready", then {"datagrams": [[first byte, length], ...]}

Each send is one super-packet for the sender's kernel (``UDP_SEGMENT``, Linux udp(7)), its
segments datagrams of ``SEGMENT`` bytes each filled with the send's number; the receiver
reads until it has them all or ``QUIET`` seconds pass without one.
"""

from __future__ import annotations

import json
import socket
import sys

UDP_SEGMENT = 103  # linux/udp.h
WRITES, SEGMENTS, SEGMENT = 20, 10, 1200
QUIET = 5.0
SO_RCVBUFFORCE = 33  # asm-generic/socket.h: root may go past rmem_max
RCVBUF = 1 << 23  # room for every datagram at once: the test is of the path, not of this reader


def send(address: str, port: int) -> None:
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.IPPROTO_UDP, UDP_SEGMENT, SEGMENT)
        for n in range(WRITES):
            sock.sendto(bytes([n]) * (SEGMENTS * SEGMENT), (address, port))


def receive(address: str, port: int) -> None:
    got = []
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF)
        sock.bind((address, port))
        sock.settimeout(QUIET)
        print("ready", flush=True)
        try:
            while len(got) < WRITES * SEGMENTS:
                data = sock.recv(65535)
                got.append([data[0] if data and data == data[:1] * len(data) else -1, len(data)])
        except TimeoutError:
            pass
    print(json.dumps({"datagrams": got}), flush=True)


if __name__ == "__main__":
    mode, where, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    (send if mode == "send" else receive)(where, port)
