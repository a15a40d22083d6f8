"""The shell's tester on the lab: a namespace with one port on each DAR's access bridge, and its worker.

    python -m fama_shell.labtester send IFACE DAR HEX WAIT              (run inside fama-lab-tester)
    python -m fama_shell.labtester replay IFACE DAR PCAP MODE WAIT CAPTURE-DAR|- [COA ...]

Theory of operation
-------------------
``send_to`` and ``replay`` need a host next to the DAR, as on SimNet (the
probe). On the lab that host is the namespace ``fama-lab-tester`` (a
``fama-lab-*`` name, so ``fama-lab down`` removes it too), made on first use::

    fama-lab-tester                  fama-lab-sw
    fama-tI  2001:db8:I::ee/64 ===== fama-sw-tI  (member of fama-brI, DAR I's access link)

The tester's kernel owns ``2001:db8:I::ee`` (it answers the DAR's Neighbour
Solicitations for it, so a BA to that address comes to the tester's port) and
has the nftables table of the roles, so it does not answer Mobility Headers
with Parameter Problems. Scapy runs in a worker process started with ``ip
netns exec`` (a thread's ``setns`` would leave Scapy's interface and ``/proc``
views in the shell's namespace): it resolves the DAR's MAC with a Neighbour
Solicitation and sends with ``srp`` (:mod:`fama_shell.replay`'s link), then
prints its result on stdout: JSON for ``send``, a pickled
:class:`~fama_shell.replay.ReplayResult` (base64) for ``replay``. The session
removes the namespace when it ends.
"""

from __future__ import annotations

import base64
import json
import pickle
import subprocess
import sys
from pathlib import Path

from scapy_fama.lab import links
from scapy_fama.lab.links import LabError
from scapy_fama.lab.topology import bridge, dar_prefix, namespace
from scapy_fama.net import kernel

NODE = "tester"
IID = "ee"  # the tester's interface id on each DAR's prefix
WORKER_WAIT = 60.0  # seconds a worker may take (Scapy's import, the NS, the answers)


def iface(i: int) -> str:
    return f"fama-t{i}"


def tester_address(i: int) -> str:
    return dar_prefix(i).split("/")[0] + IID


class Tester:
    """The tester namespace and its ports (made on demand, removed by :meth:`close`)."""

    def __init__(self) -> None:
        self.ns = namespace(NODE)
        self.ports: set[int] = set()

    def port(self, i: int) -> str:
        """The tester's interface on DAR ``i``'s bridge, made if needed."""
        if i in self.ports:
            return iface(i)
        if self.ns not in links.lab_namespaces():
            links.run("ip", "netns", "add", self.ns)
            for scope in ("all", "default"):
                links.sysctl(self.ns, f"net.ipv6.conf.{scope}.accept_ra=0", f"net.ipv6.conf.{scope}.accept_dad=0")
            links.ip(self.ns, "link", "set", "lo", "up")
            kernel.nft_install(self.ns)
        sw, port = namespace("sw"), f"fama-sw-t{i}"
        links.run("ip", "link", "add", iface(i), "netns", self.ns,
                  "type", "veth", "peer", "name", port, "netns", sw)  # fmt: skip
        links.ip(sw, "link", "set", port, "master", bridge(i), "up")
        links.ip(self.ns, "link", "set", iface(i), "up")
        links.ip(self.ns, "-6", "addr", "add", f"{tester_address(i)}/64", "dev", iface(i), "nodad")
        self.ports.add(i)
        return iface(i)

    def close(self) -> None:
        if self.ports and self.ns in links.lab_namespaces():
            links.delete_namespace(self.ns)  # its veths go with it, their bridge ports too
        self.ports.clear()

    def work(self, *argv: str) -> str:
        """Run the worker in the tester namespace; its stdout, or LabError with its last line."""
        command = links.in_namespace(self.ns, [sys.executable, "-m", "fama_shell.labtester", *argv])
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=WORKER_WAIT, check=False)
        except subprocess.TimeoutExpired:
            raise LabError(f"the tester took more than {WORKER_WAIT:g} s") from None
        if done.returncode != 0:
            why = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
            raise LabError(f"the tester failed: {why}")
        return done.stdout.strip().splitlines()[-1]


def _send(port: str, dar: str, raw: str, wait: str) -> str:
    from fama_shell.replay import _Link
    from scapy.layers.inet6 import IPv6

    link = _Link(port, dar, float(wait))
    answer = link.exchange(IPv6(bytes.fromhex(raw)))
    return json.dumps({"replies": [] if answer is None else [bytes(answer).hex()]})


def _replay(port: str, dar: str, pcap: str, mode: str, wait: str, talk: str, *coas: str) -> str:
    from fama_shell.replay import replay

    result = replay(
        None,  # type: ignore[arg-type] -- on an interface replay() needs no session
        Path(pcap), dar, mode, dar=None if talk == "-" else talk, iface=port, coa=list(coas), wait=float(wait),
    )
    return base64.b64encode(pickle.dumps(result)).decode()


def main(argv: list[str] | None = None) -> int:
    what, *args = argv if argv is not None else sys.argv[1:]
    try:
        out = _send(*args) if what == "send" else _replay(*args)
    except (ValueError, OSError) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
