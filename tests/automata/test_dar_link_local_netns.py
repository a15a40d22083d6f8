"""A kernel-mode DAR's link-local address is its kernel's (root).

    fama-k-<id>-d: fama-dar --kernel  fama-d0 ==veth== fama-m0  fama-k-<id>-m: a host, 2001:db8:1::99

The DAR speaks on its link from fe80::1 (its address's IID): its RAs, so its MNs' default
router, and its NUD probes. In kernel mode the namespace forwards; a kernel that did not
own fe80::1 took what an MN sends there (the NA to the DAR's probe, a ping) for another
node's, sent it back onto the link with an ICMPv6 Redirect and, after resolving fe80::1 in
vain, an ICMPv6 Address Unreachable to the MN (seen with tshark on a veth between two
namespaces). fama-dar --kernel adds the address to IFACE (``ip -6 addr``) and removes it at
exit; one the interface had before stays. The host pings fe80::1 from a global address,
as an MN does, and reads every ICMPv6 message the DAR's kernel sends back until the reply.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from test_netns import Lab, _unusable, built

pytestmark = pytest.mark.netns
DEADLINE = 20.0  # seconds for the reply; the Address Unreachable came 3 s after the probe
DAR = ("--prefix", "2001:db8:1::/64", "--address", "2001:db8:1::1", "--kernel")
HOST = "2001:db8:1::99"

# Run in the host's namespace: one Echo Request to fe80::1 on fama-m0 from HOST, then the type
# of every ICMPv6 error, Redirect or Echo Reply received until the reply (or the deadline)
PROBE = f"""
import json, socket, struct, time
sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
sock.bind(("{HOST}", 0))
sock.sendto(struct.pack("!BBHHH", 128, 0, 0, 0x4641, 1) + b"fama", ("fe80::1", 0, 0, socket.if_nametoindex("fama-m0")))
seen, deadline = [], time.monotonic() + {DEADLINE}
while time.monotonic() < deadline:
    sock.settimeout(deadline - time.monotonic())
    try:
        kind = sock.recv(2048)[0]
    except TimeoutError:
        break
    if kind < 128 or kind in (129, 137):
        seen.append(kind)
    if kind == 129:
        break
print(json.dumps(seen))
"""


@dataclass
class LinkLocalLab(Lab):
    tag: str = field(default_factory=lambda: f"fama-k-{os.getpid() % 100000}")

    def build(self) -> None:
        for role in ("d", "m"):
            self.run("ip", "netns", "add", self.ns(role))
            self.namespaces.append(self.ns(role))
            self.ip(role, "link", "set", "lo", "up")
        self.run("ip", "link", "add", "fama-d0", "netns", self.ns("d"), "type", "veth",
                 "peer", "name", "fama-m0", "netns", self.ns("m"))  # fmt: skip
        self.sysctl("d", "net.ipv6.conf.all.forwarding=1")
        self.sysctl("m", "net.ipv6.conf.default.accept_ra=0")
        self.ip("d", "link", "set", "fama-d0", "up")
        self.ip("d", "-6", "route", "add", "2001:db8:1::/64", "dev", "fama-d0")
        self.ip("m", "link", "set", "fama-m0", "up")
        self.ip("m", "-6", "addr", "add", f"{HOST}/64", "dev", "fama-m0", "nodad")

    def dar(self) -> None:
        command = [
            "ip", "netns", "exec", self.ns("d"), sys.executable, "-m", "scapy_fama.cli.dar", "--iface", "fama-d0",
            "--name", "dar", "--json-log", str(self.tmp / "dar.json"), "--log", str(self.tmp / "dar.log"), *DAR,
        ]  # fmt: skip
        with open(self.tmp / "dar.err", "wb") as err:
            self.processes["dar"] = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err)

    def link_locals(self) -> set[str]:
        shown = subprocess.run(["ip", "-n", self.ns("d"), "-j", "-6", "addr", "show", "dev", "fama-d0"],
                               capture_output=True, text=True, check=True).stdout  # fmt: skip
        return {f"{a['local']}/{a['prefixlen']}" for a in json.loads(shown)[0]["addr_info"] if a["scope"] == "link"}

    def probe(self) -> list[int]:
        done = subprocess.run(["ip", "netns", "exec", self.ns("m"), sys.executable, "-c", PROBE],
                              capture_output=True, text=True, check=True, timeout=DEADLINE * 2)  # fmt: skip
        return json.loads(done.stdout)


def _missing() -> str | None:
    reason = _unusable()
    if reason is None and not Path("/dev/net/tun").exists():
        reason = "needs /dev/net/tun (TUN devices)"
    return reason


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[LinkLocalLab]:
    yield from built(LinkLocalLab(tmp_path), _missing())


def test_the_kernel_owns_the_dars_link_local_address_while_it_runs(lab: LinkLocalLab) -> None:
    own = lab.link_locals()  # the kernel's EUI-64 address
    lab.dar()
    lab.wait("dar", kind="ADVERTISING")
    assert lab.link_locals() == own | {"fe80::1/64"}
    assert lab.probe() == [129]  # the Echo Reply, and neither a Redirect nor an Unreachable
    assert lab.stop("dar", signal.SIGTERM) == 0, lab.diagnosis("dar")
    assert lab.link_locals() == own
    assert (lab.tmp / "dar.err").read_text() == ""


def test_a_link_local_address_the_interface_had_stays(lab: LinkLocalLab) -> None:
    lab.ip("d", "-6", "addr", "add", "fe80::1/64", "dev", "fama-d0", "nodad")
    before = lab.link_locals()
    lab.dar()
    lab.wait("dar", kind="ADVERTISING")
    assert lab.stop("dar", signal.SIGTERM) == 0, lab.diagnosis("dar")
    assert lab.link_locals() == before
