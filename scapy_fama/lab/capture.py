"""Captures inside a lab namespace: tcpdump when installed, else a Scapy sniffer; pcap files.

    python -m scapy_fama.lab.capture IFACE FILE     (the sniffer, run inside a namespace)

Theory of operation
-------------------
::

    start(ns, iface, file) --ip netns exec--> tcpdump -i IF -w FILE -U --immediate-mode   (if on PATH)
                                              python -m scapy_fama.lab.capture IF FILE   (else)
        waits for "listening on" on the capturer's stderr, so no packet is missed after it returns
    stop(capture)          --SIGTERM--> the file is complete: tcpdump takes each packet as it
                                        comes (--immediate-mode; buffered, it held them in the
                                        kernel's ring until a block timed out, a second, and lost
                                        those at SIGTERM) and writes it at once (-U), as the
                                        sniffer does

The sniffer writes Ethernet pcap with Scapy's ``PcapWriter`` (``sync=True``),
the same link type tcpdump writes on a veth, so ``fama-analyze`` reads either.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

from scapy_fama.lab.links import LabError, in_namespace, owned

READY_WAIT = 30.0
LINKTYPE_ETHERNET = 1


def _command(iface: str, file: Path) -> list[str]:
    if shutil.which("tcpdump"):
        return ["tcpdump", "-i", iface, "-w", str(file), "-U", "-q", "--immediate-mode"]
    return [sys.executable, "-m", "scapy_fama.lab.capture", iface, str(file)]


def tool() -> str:
    """What captures: ``tcpdump`` or ``scapy``."""
    return "tcpdump" if shutil.which("tcpdump") else "scapy"


def start(ns: str, iface: str, file: Path) -> subprocess.Popen[str]:
    """Start capturing ``iface`` of namespace ``ns`` into ``file``; returns once it listens."""
    process = subprocess.Popen(
        in_namespace(ns, _command(iface, file)), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    assert process.stderr is not None
    lines: list[str] = []
    listening = threading.Event()

    def listen() -> None:
        while line := process.stderr.readline():  # type: ignore[union-attr]
            if "listening on" in line:
                listening.set()
                return
            lines.append(line.strip())

    with owned(process):
        waiter = threading.Thread(target=listen, daemon=True)
        waiter.start()
        waiter.join(READY_WAIT)
        # its stderr may close (a capturer that gives up) before the process can be seen to exit
        if not listening.is_set() or process.poll() is not None:
            raise LabError(f"capture on {iface} in {ns} did not start: {(lines or ['no message'])[-1]}")
    return process


def stop(process: subprocess.Popen[str], timeout: float = 10.0) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def main(argv: list[str] | None = None) -> int:
    """The Scapy sniffer: every frame of IFACE into FILE until SIGTERM or SIGINT."""
    iface, file = argv or sys.argv[1:]
    from scapy.config import conf
    from scapy.sendrecv import sniff  # Scapy only in the sniffer's own process
    from scapy.utils import PcapWriter

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    try:  # the interface before the file: a capture that cannot start leaves none
        sock = conf.L2listen(iface=iface)
    except (OSError, ValueError) as exc:
        print(f"capture: {iface}: {exc}", file=sys.stderr, flush=True)
        return 1
    writer = PcapWriter(file, sync=True, linktype=LINKTYPE_ETHERNET)
    writer.write_header(None)  # a valid, empty capture even if nothing is seen
    try:
        sniff(opened_socket=sock, prn=writer.write, store=False,
              started_callback=lambda: print(f"listening on {iface}", file=sys.stderr, flush=True))  # fmt: skip
    except KeyboardInterrupt:
        pass
    finally:
        writer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
