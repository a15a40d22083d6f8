"""fama-dar --kernel and fama-mn --kernel: a TCP connection survives a handover, with real sockets.

    fama-k-<id>-cn: CN 2001:db8:ff::2 --fama-cn==fama-cnr--+
    fama-k-<id>-d1: fama-dar --kernel (2001:db8:1::1)       |   fama-k-<id>-core: forwards,
        fama-u1 (2001:db8:f1::2) ==fama-u1r=================+   2001:db8:1::/64 via d1,
        fama-d1 ==fama-d1r--+ fama-br1 (L2 only)            |   2001:db8:2::/64 via d2
    fama-k-<id>-d2: fama-dar --kernel (2001:db8:2::1)       |
        fama-u2 (2001:db8:f2::2) ==fama-u2r=================+
        fama-d2 ==fama-d2r--+ fama-br2 (L2 only)
    fama-k-<id>-mn: fama-mn --kernel --keep all, fama-mn ==fama-mnr--+ on br1, then br2

The CN opens a TCP connection to a server bound to the MN's first address
and streams seeded random bytes; the MN moves to bridge 2 mid-stream; the
same connection goes on through DAR1's tunnel (the server's SHA-256 of what
it got equals the client's of what it sent), and a new connection from the
MN's new address reaches the CN natively: a capture on DAR2's upstream shows
it as plain TCP, and the old connection as IPv6-in-IPv6 to DAR1. The
namespaces forward with their kernels (the DARs, the core), and each role's
namespace has the nftables table that silences the Parameter Problems.
Everything is named ``fama-k-<id>-*`` and deleted by name, also on failure.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from scapy.layers.inet import TCP
from scapy.layers.inet6 import IPv6
from scapy.utils import rdpcap
from test_netns import Lab, _unusable, built

from scapy_fama.net.kernel import TUN_NAME, nft_install

pytestmark = pytest.mark.netns

CN, DAR1, DAR2 = "2001:db8:ff::2", "2001:db8:1::1", "2001:db8:2::1"
STREAM_PORT, NATIVE_PORT = 5001, 5002
TRANSFER = 60.0  # seconds a transfer may take, handover included

# A TCP end point for the test, run with `ip netns exec`: `serve HOST PORT OUT` writes
# {"bytes", "sha256", "max_gap"} of what one connection brought; `send HOST PORT OUT CHUNKS
# [SOURCE]` sends CHUNKS seeded random 8 KiB chunks, 20 ms apart, and writes {"bytes", "sha256"}.
PEER = """
import hashlib, json, random, socket, sys, time
mode, host, port, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
digest, count = hashlib.sha256(), 0
if mode == "serve":
    server = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((host, port)); server.listen(1)
    open(out + ".ready", "w").close()
    conn, _ = server.accept()
    last, gap = time.monotonic(), 0.0
    while data := conn.recv(65536):
        now = time.monotonic(); gap, last = max(gap, now - last), now
        digest.update(data); count += len(data)
    conn.close()
    result = {"bytes": count, "sha256": digest.hexdigest(), "max_gap": gap}
else:
    source = (sys.argv[6], 0) if len(sys.argv) > 6 else None
    conn = socket.create_connection((host, port), timeout=60, source_address=source)
    rng = random.Random(7)
    for _ in range(int(sys.argv[5])):
        data = rng.randbytes(8192); conn.sendall(data); digest.update(data); count += len(data)
        time.sleep(0.02)
    conn.shutdown(socket.SHUT_WR); conn.recv(1); conn.close()
    result = {"bytes": count, "sha256": digest.hexdigest()}
json.dump(result, open(out, "w"))
"""

# A capture on one interface until SIGTERM, then a pcap: `SNIFF IFACE PCAP`.
SNIFF = """
import signal, sys
from scapy.sendrecv import AsyncSniffer
from scapy.utils import wrpcap
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])  # for sigwait, in the sniffer's thread too
sniffer = AsyncSniffer(iface=sys.argv[1], store=True, started_callback=lambda: open(sys.argv[2] + ".ready", "w").close())
sniffer.start(); signal.sigwait([signal.SIGTERM]); wrpcap(sys.argv[2], sniffer.stop())
"""


def _missing() -> str | None:
    reason = _unusable()
    if reason is None and not Path("/dev/net/tun").exists():
        reason = "needs /dev/net/tun (TUN devices)"
    if reason is None and shutil.which("nft") is None:
        reason = "needs nft (apt-get install nftables)"
    return reason


@dataclass
class KernelLab(Lab):
    tag: str = field(default_factory=lambda: f"fama-k-{os.getpid() % 100000}")
    helpers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def veth(self, a: str, a_role: str, b: str, b_role: str) -> None:
        self.run("ip", "link", "add", a, "netns", self.ns(a_role), "type", "veth", "peer", "name", b, "netns", self.ns(b_role))
        self.ip(a_role, "link", "set", a, "up")
        self.ip(b_role, "link", "set", b, "up")

    def build(self) -> None:
        for role in ("cn", "core", "d1", "d2", "mn"):
            self.run("ip", "netns", "add", self.ns(role))
            self.namespaces.append(self.ns(role))
            self.ip(role, "link", "set", "lo", "up")
        self.sysctl("core", "net.ipv6.conf.all.forwarding=1")
        self.veth("fama-cn", "cn", "fama-cnr", "core")
        self.ip("cn", "-6", "addr", "add", f"{CN}/64", "dev", "fama-cn", "nodad")
        self.ip("core", "-6", "addr", "add", "2001:db8:ff::1/64", "dev", "fama-cnr", "nodad")
        self.ip("cn", "-6", "route", "add", "default", "via", "2001:db8:ff::1")
        for n in (1, 2):
            dar = f"d{n}"
            self.sysctl(dar, "net.ipv6.conf.all.forwarding=1")
            self.veth(f"fama-u{n}", dar, f"fama-u{n}r", "core")
            self.ip(dar, "-6", "addr", "add", f"2001:db8:f{n}::2/64", "dev", f"fama-u{n}", "nodad")
            self.ip("core", "-6", "addr", "add", f"2001:db8:f{n}::1/64", "dev", f"fama-u{n}r", "nodad")
            self.ip(dar, "-6", "route", "add", "default", "via", f"2001:db8:f{n}::1")
            self.ip("core", "-6", "route", "add", f"2001:db8:{n}::/64", "via", f"2001:db8:f{n}::2")
            self.ip("core", "link", "add", f"fama-br{n}", "type", "bridge", "mcast_snooping", "0")
            self.sysctl("core", f"net.ipv6.conf.fama-br{n}.disable_ipv6=1")  # a switch, no host
            self.ip("core", "link", "set", f"fama-br{n}", "up")
        self.sysctl("mn", "net.ipv6.conf.default.accept_ra=0")  # the MN's kernel takes no prefix
        for role, bridge in (("d1", 1), ("d2", 2), ("mn", 1)):
            self.veth(f"fama-{role}", role, f"fama-{role}r", "core")
            self.ip("core", "link", "set", f"fama-{role}r", "master", f"fama-br{bridge}")
        for n in (1, 2):  # what the lab does for a DAR: its prefix is on its access link
            self.ip(f"d{n}", "-6", "route", "add", f"2001:db8:{n}::/64", "dev", f"fama-d{n}")
        for role in ("d1", "d2", "mn"):
            nft_install(self.ns(role))

    def helper(self, name: str, role: str, script: str, *argv: str) -> None:
        path = self.tmp / f"{name}.py"
        path.write_text(script)
        command = ["ip", "netns", "exec", self.ns(role), sys.executable, str(path), *argv]
        with open(self.tmp / f"{name}.err", "wb") as err:
            self.helpers[name] = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err)

    def file(self, path: Path, timeout: float) -> Path:
        for _ in range(int(timeout / 0.1)):
            if path.exists() and (path.suffix == ".ready" or path.stat().st_size):
                return path
            time.sleep(0.1)
        errors = "\n".join(p.read_text() for p in self.tmp.glob("*.err"))
        raise AssertionError(f"no {path.name} after {timeout} s\n{errors}\n{self.diagnosis('mn')}")

    def result(self, name: str, timeout: float = TRANSFER) -> dict[str, Any]:
        return dict(json.loads(self.file(self.tmp / f"{name}.json", timeout).read_text()))

    def shows(self, role: str, *argv: str) -> str:
        done = subprocess.run(["ip", "-n", self.ns(role), *argv], check=True, capture_output=True, text=True)
        return done.stdout

    def roles(self, *mn_argv: str) -> str:
        """fama-dar --kernel in d1 and d2, fama-mn --kernel --keep all; the MN's first address."""
        self.start("dar1", "d1", "dar", "--prefix", "2001:db8:1::/64", "--address", DAR1, "--kernel")
        self.start("dar2", "d2", "dar", "--prefix", "2001:db8:2::/64", "--address", DAR2, "--kernel")
        self.start("mn", "mn", "mn", "--kernel", "--keep", "all", "--key", str(self.tmp / "mn.pem"), *mn_argv)
        home = str(self.wait("mn", dir="event", kind="address-configured")["address"])
        _until(lambda: home in self.shows("mn", "-6", "addr", "show", "dev", "fama-mn"), "the kernel has it")
        return home

    def stream(self, home: str, chunks: int) -> None:
        """The CN streams ``chunks`` x 8 KiB to a server bound to ``home`` (stream.json, sent.json)."""
        self.helper("server", "mn", PEER, "serve", home, str(STREAM_PORT), str(self.tmp / "stream.json"))
        self.file(self.tmp / "stream.json.ready", 20)
        self.helper("client", "cn", PEER, "send", home, str(STREAM_PORT), str(self.tmp / "sent.json"), str(chunks))

    def streamed(self, chunks: int) -> dict[str, Any]:
        """What the server got, once both ends are done: all that was sent, byte for byte."""
        sent, received = self.result("sent"), self.result("stream")
        assert received["bytes"] == sent["bytes"] == chunks * 8192
        assert received["sha256"] == sent["sha256"]
        return received

    def move(self, bridge: int) -> None:
        """The handover: the MN's port leaves its bridge for ``fama-br<bridge>`` (down, master, up)."""
        self.ip("core", "link", "set", "fama-mnr", "down")
        self.ip("core", "link", "set", "fama-mnr", "master", f"fama-br{bridge}")
        self.ip("core", "link", "set", "fama-mnr", "up")

    def stop_roles(self, *addresses: str) -> None:
        """Stop the roles; their kernel state is gone with them."""
        for name in ("mn", "dar1", "dar2"):
            assert self.stop(name, signal.SIGTERM) == 0, self.diagnosis(name)
            assert self.records(name)[-1]["kind"] == "STOPPED", self.diagnosis(name)
        assert "lookup 100" not in self.shows("mn", "-6", "rule")
        assert not [a for a in addresses if a in self.shows("mn", "-6", "addr")]
        for role in ("mn", "d1", "d2"):
            assert TUN_NAME not in self.shows(role, "link")
        assert DAR1 not in self.shows("d1", "-6", "addr")

    def teardown(self) -> None:
        for process in self.helpers.values():
            if process.poll() is None:
                process.kill()
                process.wait()
        super().teardown()


@pytest.fixture
def klab(tmp_path: Path) -> Iterator[KernelLab]:
    yield from built(KernelLab(tmp_path), _missing())


def _until(check: Any, what: str, timeout: float = 20.0) -> None:
    for _ in range(int(timeout / 0.1)):
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {what}")


@pytest.mark.parametrize(
    "emulated", [[], ["--link-delay", "40", "--link-loss", "0.02"]], ids=["plain", "delay-40ms-loss-2%"]
)
def test_a_tcp_connection_survives_the_handover_through_the_tunnel(klab: KernelLab, emulated: list[str]) -> None:
    home = klab.roles(*emulated)
    if emulated:  # the MN's access port delays (20 ms each way) and loses what the MN carries
        assert klab.wait("mn", kind="link-emulation")["method"] == "role-applied"
    klab.helper("capture", "d2", SNIFF, "fama-u2", str(klab.tmp / "d2-upstream.pcap"))
    klab.file(klab.tmp / "d2-upstream.pcap.ready", 20)
    klab.stream(home, 300)
    time.sleep(1.5)  # the stream runs natively on link 1

    klab.move(2)
    ba = klab.wait("mn", dir="in", kind="BA")
    coa = ba["dst"]
    assert (ba["status"], ba["hoa"], ba["src"]) == (0, home, DAR1)
    klab.wait("mn", dir="state", kind="BOUND")
    received = klab.streamed(300)

    klab.helper("cn-server", "cn", PEER, "serve", CN, str(NATIVE_PORT), str(klab.tmp / "native.json"))
    klab.file(klab.tmp / "native.json.ready", 20)
    klab.helper("mn-client", "mn", PEER, "send", CN, str(NATIVE_PORT), str(klab.tmp / "native-sent.json"), "20", coa)
    native, native_sent = klab.result("native"), klab.result("native-sent")
    assert native["sha256"] == native_sent["sha256"] and native["bytes"] == 20 * 8192

    klab.helpers["capture"].send_signal(signal.SIGTERM)
    klab.helpers["capture"].wait(20)
    packets = [p[IPv6] for p in rdpcap(str(klab.tmp / "d2-upstream.pcap")) if IPv6 in p]
    tunnelled = [p for p in packets if p.nh == 41 and (p.src, p.dst) == (coa, DAR1)]
    assert tunnelled and all(p.payload.src == home for p in tunnelled)  # the old connection
    plain = [p for p in packets if (p.src, p.dst, p.nh) == (coa, CN, 6) and p[TCP].dport == NATIVE_PORT]
    assert plain  # the new connection, natively
    assert not [p for p in tunnelled if TCP in p.payload and p.payload[TCP].dport == NATIVE_PORT]

    bu = klab.wait("mn", dir="out", kind="BU")
    print(
        f"{emulated}: stall {received['max_gap']:.3f} s, BU->BA {ba['t'] - bu['t']:.3f} s, "
        f"{len(tunnelled)} tunnelled packets from the MN seen on DAR2's upstream"
    )
    klab.stop_roles(home, coa)


def test_back_home_the_kept_address_is_native_again_and_the_coa_is_kept(klab: KernelLab) -> None:
    home = klab.roles()
    klab.stream(home, 500)  # about 10 s: over both moves
    time.sleep(1.5)
    klab.move(2)
    coa = klab.wait("mn", dir="in", kind="BA")["dst"]
    klab.wait("mn", dir="state", kind="BOUND")
    time.sleep(1.0)  # the stream runs through DAR1's tunnel

    klab.move(1)
    klab.wait("mn", dir="event", kind="binding-deregistered", address=home)  # RFC 6275 §11.5.5
    assert klab.wait("dar2", dir="event", kind="binding-created")["hoa"] == coa  # --keep all

    def rules() -> str:
        return klab.shows("mn", "-6", "rule")

    _until(lambda: f"from {coa} lookup 100" in rules() and f"from {home} " not in rules(), "the rules")
    assert f"{home}/64" in klab.shows("mn", "-6", "addr", "show", "dev", "fama-mn")
    assert f"{coa}/128" in klab.shows("mn", "-6", "addr", "show", "dev", TUN_NAME)
    received = klab.streamed(500)
    print(f"back home: longest stall {received['max_gap']:.3f} s")
    klab.stop_roles(home, coa)
