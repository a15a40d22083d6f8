"""A hostile peer on a veth pair, for the adversarial tests (test_adversarial_netns.py) and the
flood bench (bench/bench_flood.py): the role under test runs as a process (fama-dar or
fama-mn) in a namespace of its own, and this process holds a raw socket on the other end::

    fama-h-<id>-r: fama-dar | fama-mn  --fama-hr====fama-ha--  fama-h-<id>-a: Wire (AF_PACKET,
                   default via fe80::a                         fe80::a)       this process

The attacker's socket is opened by a thread that enters the attacker's namespace
(setns(2) moves only the calling thread), so one process drives the whole bed.
Everything the attacks send is laid out here byte by byte, after the RFCs: the
IPv6 header (RFC 8200 §3), the Mobility Header (RFC 6275 §6.1), Pad1 (§6.2.2),
ND (RFC 4861 §4), the Fragment header (RFC 8200 §4.5) and the Internet checksum
over the pseudo-header (RFC 8200 §8.1, computed here, not by the project's
code). Valid signalling (an MN's CGA BU, its PHKT refresh) comes from the
codec, as a real MN sends it. The role is ready when it answers on the wire:
the DAR's first RA, the MN's first RS; no fixed sleep anywhere.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import flooder

from scapy_fama.codec import decode, encode_bytes
from scapy_fama.crypto import KeyPair, cga_generate, decrypt_phkt, kbm
from scapy_fama.proto.messages import BindingAck, BindingUpdate

WAIT = 30.0  # seconds for anything that should take well under one (a loaded 2-core machine)
READY = 60.0  # seconds for a role to come up (it imports Scapy)
ROLE_IF, PEER_IF = "fama-hr", "fama-ha"
PEER_LL = "fe80::a"
PREFIX, DAR = "2001:db8:1::/64", "2001:db8:1::1"
DAR_LL = "fe80::1"  # fama-dar's link-local: fe80:: and its address's interface identifier
ETH_P_ALL = 3
ALL_NODES, ALL_ROUTERS = "ff02::1", "ff02::2"
CLONE_NEWNET = 0x40000000
SO_TIMESTAMPNS = 35  # asm-generic/socket.h (SO_TIMESTAMPNS_OLD); Python does not name it

Record = dict[str, Any]


def unusable() -> str | None:
    """Why network namespaces cannot be used here, or None."""
    if os.geteuid() != 0:
        return "needs root for network namespaces and veth pairs"
    if shutil.which("ip") is None:
        return "needs the ip command (iproute2)"
    return None


def run(*argv: str) -> str:
    done = subprocess.run(argv, check=False, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(argv)}: {done.stderr}"
    return done.stdout


def until(ready: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    """Wait for ``ready()`` to hold, polled; an AssertionError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:g} s"
        time.sleep(0.01)


# ---------------------------------------------------------------- bytes, after the RFCs


def a16(address: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6, address)


def checksum(src: str, dst: str, nh: int, data: bytes) -> int:
    """RFC 1071 over the pseudo-header of RFC 8200 §8.1 and ``data`` (its checksum field zero)."""
    whole = a16(src) + a16(dst) + len(data).to_bytes(4, "big") + bytes((0, 0, 0, nh)) + data
    whole += bytes(len(whole) % 2)
    total = sum(int.from_bytes(whole[i : i + 2], "big") for i in range(0, len(whole), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv6(src: str, dst: str, nh: int, payload: bytes, hlim: int = 64, plen: int | None = None) -> bytes:
    """RFC 8200 §3: version 6, Payload Length, Next Header, Hop Limit, addresses."""
    length = len(payload) if plen is None else plen
    return b"\x60\0\0\0" + length.to_bytes(2, "big") + bytes((nh, hlim)) + a16(src) + a16(dst) + payload


def with_checksum(src: str, dst: str, nh: int, data: bytes, at: int) -> bytes:
    """``data`` with its checksum field (at byte ``at``) computed."""
    zeroed = data[:at] + b"\0\0" + data[at + 2 :]
    return data[:at] + checksum(src, dst, nh, zeroed).to_bytes(2, "big") + data[at + 2 :]


def mh(mhtype: int, body: bytes, src: str, dst: str, *, good_checksum: bool = True, header_len: int | None = None) -> bytes:
    """RFC 6275 §6.1.1: Payload Proto 59, Header Len, MH Type, Reserved, Checksum, then ``body``
    (its length makes the MH a multiple of 8 bytes: the caller pads)."""
    size = 6 + len(body)
    assert size % 8 == 0, size
    hlen = size // 8 - 1 if header_len is None else header_len
    data = bytes((59, hlen, mhtype, 0, 0, 0)) + body
    if not good_checksum:
        return data[:4] + b"\xde\xad" + data[6:]
    return with_checksum(src, dst, 135, data, 4)


def option_bomb(src: str, dst: str, pads: int = 1420, *, good_checksum: bool = True) -> bytes:
    """A BU (seq 1, A=1 H=1, lifetime 1) whose options are ``pads`` Pad1 bytes (RFC 6275 §6.2.2),
    padded with more to a multiple of 8 (issue 14 item 1)."""
    fixed = (1).to_bytes(2, "big") + (0xC000).to_bytes(2, "big") + (1).to_bytes(2, "big")
    pads += -(6 + len(fixed) + pads) % 8
    return ipv6(src, dst, 135, mh(5, fixed + bytes(pads), src, dst, good_checksum=good_checksum))


def neighbour_solicitation(src: str, dst: str, target: str, sllao: bytes | None, hlim: int = 255) -> bytes:
    """RFC 4861 §4.3: type 135, code 0, reserved, target, an SLLA option (type 1, length 1)."""
    body = bytes((135, 0, 0, 0, 0, 0, 0, 0)) + a16(target) + (b"\x01\x01" + sllao if sllao else b"")
    return ipv6(src, dst, 58, with_checksum(src, dst, 58, body, 2), hlim)


def neighbour_advertisement(src: str, dst: str, target: str, tllao: bytes, flags: int) -> bytes:
    """RFC 4861 §4.4: type 136, R S O flags (0x80, 0x40, 0x20), target, a TLLA option (type 2)."""
    body = bytes((136, 0, 0, 0, flags, 0, 0, 0)) + a16(target) + b"\x02\x01" + tllao
    return ipv6(src, dst, 58, with_checksum(src, dst, 58, body, 2), 255)


def router_solicitation(src: str, sllao: bytes | None = None, *, hlim: int = 255, good_checksum: bool = True) -> bytes:
    """RFC 4861 §4.1: type 133, code 0, reserved (4), maybe an SLLA option."""
    body = bytes((133, 0, 0, 0, 0, 0, 0, 0)) + (b"\x01\x01" + sllao if sllao else b"")
    body = with_checksum(src, ALL_ROUTERS, 58, body, 2)
    if not good_checksum:
        body = body[:2] + bytes((body[2] ^ 0xFF, body[3])) + body[4:]
    return ipv6(src, ALL_ROUTERS, 58, body, hlim)


def router_advertisement(src: str, dst: str, sllao: bytes | None, dars: list[str], lifetime: int = 1800,
                         *, length: int = 64, valid: int = 86400) -> bytes:  # fmt: skip
    """RFC 4861 §4.2 (maybe with an SLLA option) and one Prefix Information option (§4.6.2)
    per DAR address: ``length`` (a /64), L=1 A=1 R=1 (RFC 6275 §7.2: the prefix field holds
    the router's address), valid and preferred ``valid`` (1 day)."""
    body = bytes((134, 0, 0, 0, 64, 0)) + lifetime.to_bytes(2, "big") + bytes(8)
    body += b"\x01\x01" + sllao if sllao else b""
    for dar in dars:
        body += bytes((3, 4, length, 0xE0)) + valid.to_bytes(4, "big") * 2 + bytes(4) + a16(dar)
    return ipv6(src, dst, 58, with_checksum(src, dst, 58, body, 2), 255)


def udp(src: str, dst: str, payload: bytes, hlim: int = 64, before: bytes = b"", first_nh: int = 17) -> bytes:
    """RFC 768 in IPv6, behind the extension headers ``before`` (whose first Next Header is the
    caller's, and whose last names 17)."""
    data = (4000).to_bytes(2, "big") + (7).to_bytes(2, "big") + (8 + len(payload)).to_bytes(2, "big") + b"\0\0" + payload
    return ipv6(src, dst, first_nh, before + with_checksum(src, dst, 17, data, 6), hlim)


def fragments(packet: bytes, ident: int, cut: int) -> list[bytes]:
    """``packet`` (an IPv6 header then the fragmentable part) in two fragments (RFC 8200 §4.5):
    a Fragment header (Next Header, reserved, offset << 3 | M, Identification) after the IPv6
    header of each; the first piece ``cut`` bytes (a multiple of 8)."""
    assert cut % 8 == 0
    nh, data = packet[6], packet[40:]
    out = []
    for offset, piece, more in ((0, data[:cut], 1), (cut, data[cut:], 0)):
        header = bytes((nh, 0)) + ((offset // 8) << 3 | more).to_bytes(2, "big") + ident.to_bytes(4, "big")
        out.append(packet[:4] + (8 + len(piece)).to_bytes(2, "big") + bytes((44,)) + packet[7:40] + header + piece)
    return out


# ---------------------------------------------------------------- an MN's valid signalling


@dataclass
class Identity:
    """A mobile node's key and CGA home address at the DAR, and what it needs to refresh."""

    key: KeyPair
    hoa: str
    params: bytes
    seq: int = 0
    phkt: bytes | None = None

    @classmethod
    def make(cls, key: KeyPair, prefix: str = PREFIX) -> Identity:
        cga = cga_generate(prefix, key, sec=0)
        return cls(key, cga.address, cga.params)

    def first_bu(self, coa: str, seq: int | None = None, lifetime: int = 3600) -> bytes:
        """A CGA-signed BU (profile §4) from ``coa``; with ``lifetime`` 0 a de-registration, which
        the DAR accepts by storing a security record (its PHKT) and no binding."""
        self.seq = self.seq + 1 if seq is None else seq
        msg = BindingUpdate(coa, DAR, self.hoa, self.seq, lifetime, cga_params=self.params, sign_with=self.key)
        return encode_bytes(msg)

    def refresh(self, coa: str) -> bytes:
        """A PHKT-authorised refresh (profile §4): Nonce Indices and a BAD."""
        assert self.phkt is not None
        self.seq += 1
        msg = BindingUpdate(coa, DAR, self.hoa, self.seq, 3600, nonce_indices=(0, 0), auth_key=kbm(self.phkt, None))
        return encode_bytes(msg)

    def take(self, packet: bytes) -> BindingAck:
        """The BA ``packet``; its PHKT kept when it brings one."""
        ba = decode(packet)
        assert isinstance(ba, BindingAck), ba
        if ba.phkt_ciphertext is not None:
            self.phkt = decrypt_phkt(self.key, ba.phkt_ciphertext)
        return ba


def is_ba(packet: bytes) -> bool:
    """An IPv6 packet whose Mobility Header (behind a type 2 Routing header) is a BA."""
    nh, off = packet[6], 40
    while nh in (0, 43, 60) and off + 8 <= len(packet):
        nh, off = packet[off], off + 8 * (packet[off + 1] + 1)
    return nh == 135 and off + 3 <= len(packet) and packet[off + 2] == 6


def ba_fields(packet: bytes) -> tuple[int, int]:
    """A BA's status and sequence number: MH bytes 6 and 8-9 (RFC 6275 §6.1.8), the MH after
    the type 2 Routing header when there is one."""
    off = 40 + 8 * (packet[41] + 1) if packet[6] == 43 else 40
    return packet[off + 6], int.from_bytes(packet[off + 8 : off + 10], "big")


# ---------------------------------------------------------------- the wire of the attacker


def in_namespace(ns: str, make: Callable[[], Any]) -> Any:
    """``make()`` run by a thread inside network namespace ``ns`` (sockets stay in it)."""
    out: dict[str, Any] = {}

    def enter() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(f"/var/run/netns/{ns}", os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                out["error"] = OSError(ctypes.get_errno(), f"setns {ns}")
                return
            out["value"] = make()
        except OSError as exc:
            out["error"] = exc
        finally:
            os.close(fd)

    thread = threading.Thread(target=enter)
    thread.start()
    thread.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


def _kernel_time(ancillary: list[tuple[int, int, bytes]]) -> float:
    """The receive time SO_TIMESTAMPNS put beside the frame: a struct timespec (two longs)."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
            return int.from_bytes(data[:8], sys.byteorder) + int.from_bytes(data[8:16], sys.byteorder) / 1e9
    return time.time()


@dataclass
class Seen:
    """A frame the attacker received, with the kernel's receive time (wall clock)."""

    frame: bytes
    at: float

    @property
    def ip(self) -> bytes:
        return self.frame[14:]


class Wire:
    """The attacker's end of the veth: raw frames out and in (its own outgoing ones left out)."""

    def __init__(self, ns: str, iface: str) -> None:
        self.sock: socket.socket = in_namespace(ns, lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                                                                           socket.htons(ETH_P_ALL)))  # fmt: skip
        self.sock.bind((iface, ETH_P_ALL))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.mac: bytes = self.sock.getsockname()[4]  # sockaddr_ll: the interface's address
        self.answers: dict[str, bytes] = {}  # address -> MAC: NSs for these get an NA (a DAR played)
        self.hooks: list[Callable[[Seen], None]] = []  # called with every frame collect() sees

    def send(self, frame: bytes) -> None:
        self.sock.send(frame)

    def to(self, dst_mac: bytes, packet: bytes) -> None:
        self.sock.send(dst_mac + self.mac + b"\x86\xdd" + packet)

    def collect(self, until: Callable[[Seen], bool], timeout: float = WAIT) -> list[Seen]:
        """Every IPv6 frame received until one satisfies ``until`` (it is the last); an
        AssertionError after ``timeout``. NSs for ``answers`` are answered on the way."""
        seen: list[Seen] = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"nothing awaited came within {timeout:g} s; {len(seen)} frames seen"
            self.sock.settimeout(left)
            try:
                frame, ancillary, _, address = self.sock.recvmsg(65535, 64)
            except TimeoutError:
                continue
            except OSError as exc:  # ENETDOWN, once, after our end of the veth went down
                assert exc.errno == errno.ENETDOWN, exc
                continue
            if address[2] == socket.PACKET_OUTGOING or frame[12:14] != b"\x86\xdd":
                continue
            got = Seen(frame, _kernel_time(ancillary))
            self._answer(got)
            for hook in self.hooks:
                hook(got)
            seen.append(got)
            if until(got):
                return seen

    def _answer(self, got: Seen) -> None:
        ip = got.ip
        if len(ip) < 64 or ip[6] != 58 or ip[40] != 135:
            return
        target = socket.inet_ntop(socket.AF_INET6, ip[48:64])
        if target in self.answers:
            src = socket.inet_ntop(socket.AF_INET6, ip[8:24])
            dst = ALL_NODES if src == "::" else src
            flags = 0x60 if dst != ALL_NODES else 0x20  # S (unless to all nodes), O
            self.to(got.frame[6:12], neighbour_advertisement(target, dst, target, self.answers[target], flags))


# ---------------------------------------------------------------- the bed


@dataclass
class Bed:
    """The two namespaces, the veth between them, the role's process and the attacker's wire."""

    tmp: Path
    tag: str = field(default_factory=lambda: f"fama-h-{os.getpid() % 100000}")
    module: str = "dar"
    process: subprocess.Popen[bytes] | None = None
    wire: Wire | None = None
    role_mac: bytes = b""

    @property
    def role_ns(self) -> str:
        return f"{self.tag}-r"

    @property
    def peer_ns(self) -> str:
        return f"{self.tag}-a"

    def build(self) -> None:
        for ns in (self.role_ns, self.peer_ns):
            run("ip", "netns", "add", ns)
            run("ip", "-n", ns, "link", "set", "lo", "up")
        self.veth()

    def veth(self, role_mac: str = "02:00:00:00:00:01") -> None:
        """The veth pair (again, after a test deleted it), up, with the attacker's fe80::a."""
        run("ip", "link", "add", ROLE_IF, "netns", self.role_ns, "address", role_mac, "type", "veth",
            "peer", "name", PEER_IF, "netns", self.peer_ns, "address", "02:00:00:00:00:0a")  # fmt: skip
        for ns, iface in ((self.role_ns, ROLE_IF), (self.peer_ns, PEER_IF)):
            run("ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{iface}.accept_ra=0")
        run("ip", "-n", self.peer_ns, "addr", "add", f"{PEER_LL}/64", "dev", PEER_IF, "nodad")
        for ns, iface in ((self.role_ns, ROLE_IF), (self.peer_ns, PEER_IF)):
            run("ip", "-n", ns, "link", "set", iface, "up")
        self.route()
        if self.wire is not None:
            self.wire.sock.close()
        self.wire = Wire(self.peer_ns, PEER_IF)
        self.role_mac = bytes.fromhex(role_mac.replace(":", ""))

    def route(self) -> None:
        """The role's namespace routes beyond the link through us (its kernel carries what the
        DAR hands upstream)."""
        run("ip", "-n", self.role_ns, "-6", "route", "replace", "default", "via", PEER_LL, "dev", ROLE_IF)

    def start(self, module: str, *argv: str, json_log: str | None = None) -> None:
        """Start ``fama-<module>`` on the role's end (its logs in the test's folder)."""
        self.module = module
        command = [
            "ip", "netns", "exec", self.role_ns, sys.executable, "-m", f"scapy_fama.cli.{module}",
            "--iface", ROLE_IF, "--name", module, "--log", str(self.tmp / f"{module}.log"),
            "--json-log", json_log or str(self.tmp / f"{module}.json"), *argv,
        ]  # fmt: skip
        with open(self.tmp / f"{module}.err", "wb") as err:
            self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err)

    def start_mn(self, *argv: str) -> list[Seen]:
        """fama-mn on the role's end (keep all, Sec 0), ready when its first RS is on the wire."""
        self.start("mn", "--keep", "all", "--sec", "0", "--key", str(self.tmp / "mn.pem"), *argv)
        assert self.wire is not None
        return self.wire.collect(lambda s: icmp_type(s) == 133, READY)

    def start_dar(self, *argv: str, json_log: str | None = None) -> list[Seen]:
        """fama-dar on the role's end, ready when its first RA is on the wire."""
        self.start("dar", "--prefix", PREFIX, "--address", DAR, *argv, json_log=json_log)
        assert self.wire is not None
        return self.wire.collect(is_ra, READY)

    @property
    def err(self) -> str:
        path = self.tmp / f"{self.module}.err"
        return path.read_text() if path.exists() else ""

    def records(self) -> list[Record]:
        path = self.tmp / f"{self.module}.json"
        lines = path.read_text().splitlines() if path.exists() else []
        return [json.loads(line) for line in lines if line.endswith("}")]

    def wait(self, timeout: float = WAIT, **match: Any) -> Record:
        """The first JSON-log record matching ``match``, waited for."""
        deadline = time.monotonic() + timeout
        while True:
            found = [r for r in self.records() if all(r.get(k) == v for k, v in match.items())]
            if found:
                return found[0]
            assert self.alive(), self.diagnosis()
            assert time.monotonic() < deadline, f"no record {match} within {timeout:g} s\n{self.diagnosis()}"
            time.sleep(0.05)

    def status(self) -> Record:
        """The role's table sizes: SIGUSR1, then its status record."""
        assert self.process is not None
        before = len([r for r in self.records() if r["kind"] == "status"])
        self.process.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + WAIT
        while True:
            statuses = [r for r in self.records() if r["kind"] == "status"]
            if len(statuses) > before:
                return statuses[-1]
            assert self.alive() and time.monotonic() < deadline, self.diagnosis()
            time.sleep(0.05)

    def cpu_seconds(self) -> float:
        """User and system CPU time the role's process used so far (/proc/PID/stat)."""
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss(self) -> int:
        """The role's resident memory in bytes."""
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def diagnosis(self) -> str:
        text = self.tmp / f"{self.module}.log"
        tail = text.read_text().splitlines()[-30:] if text.exists() else []
        return "\n".join([*tail, self.err])

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(WAIT)

    def teardown(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.wire is not None:
            self.wire.sock.close()
        for ns in (self.role_ns, self.peer_ns):
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)


def kernel_echo(b: Bed) -> list[Seen]:
    """An ICMPv6 Echo Request (RFC 4443 §4.1) to the role namespace's kernel, on its link-local
    address once that is no longer tentative, and its Echo Reply waited for: it went through the
    role's end of the veth after every frame sent before it (it answers while the role's process
    is stopped, too). The frames seen up to the reply."""
    wire = b.wire
    assert wire is not None

    def shown() -> str:
        return run("ip", "-n", b.role_ns, "-6", "-o", "addr", "show", "dev", ROLE_IF, "scope", "link")

    until(lambda: "tentative" not in shown(), "the role's kernel's link-local address past DAD")
    kernel_ll = shown().split(" inet6 ")[1].split("/")[0]
    body = bytes((128, 0, 0, 0)) + (0x4641).to_bytes(2, "big") + (1).to_bytes(2, "big") + b"fence"
    wire.to(b.role_mac, ipv6(PEER_LL, kernel_ll, 58, with_checksum(PEER_LL, kernel_ll, 58, body, 2)))
    return wire.collect(lambda s: icmp_type(s) == 129 and s.ip[8:24] == a16(kernel_ll))


def unauthorised_bus(dst_mac: bytes, src_mac: bytes, count: int, sources: int) -> list[bytes]:
    """``count`` short BUs no PHKT authorises, as Ethernet frames, from ``sources`` care-of
    addresses off the link (2001:db8:fNNN::5, a /64 each), in turn: for a home address of
    another prefix (BA 132, profile §6 step 2), with no authorisation at all (BA 148), with a
    BAD for a home address that holds no PHKT (BA 147). Cheap to send, and short: the kernel
    sorts them into the DAR's priority socket, as a PHKT refresh (net/bpf.py)."""
    frames = []
    for n in range(count):
        coa = f"2001:db8:f{n % sources:03x}::5"
        hoa = f"2001:db8:eeee::{n + 1:x}" if n % 3 == 0 else f"2001:db8:1::e:{n + 1:x}"
        auth = bytes(20) if n % 3 == 2 else None
        msg = BindingUpdate(coa, DAR, hoa, 1, 3600, nonce_indices=(0, 0), auth_key=auth)
        frames.append(dst_mac + src_mac + b"\x86\xdd" + encode_bytes(msg))
    return frames


@dataclass
class Flood:
    """What a flooder process sent (flooder.py), once it stopped."""

    sent: int = 0
    seconds: float = 0.0


@contextmanager
def flooding(b: Bed, frames: list[bytes], rate: float) -> Iterator[Flood]:
    """``frames`` sent in turn at ``rate`` a second by a flooder process on the attacker's end
    (flooder.py) while the block runs; afterwards the Flood says how many went out."""
    path = b.tmp / "flood.bin"
    path.write_bytes(flooder.pack(frames))
    command = ["ip", "netns", "exec", b.peer_ns, sys.executable, flooder.__file__, PEER_IF, str(rate), str(path)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    done = Flood()
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "flooding", "the flooder did not start"
        yield done
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=WAIT)
        words = out.split()
        if words[:1] == ["sent"]:
            done.sent, done.seconds = int(words[1]), float(words[3])


@contextmanager
def bed(tmp: Path) -> Iterator[Bed]:
    made = Bed(tmp)
    try:
        made.build()
        yield made
    finally:
        made.teardown()


def dst_of(seen: Seen) -> str:
    return socket.inet_ntop(socket.AF_INET6, seen.ip[24:40])


def icmp_type(seen: Seen) -> int | None:
    ip = seen.ip
    return ip[40] if len(ip) > 40 and ip[6] == 58 else None


def is_ra(seen: Seen) -> bool:
    return icmp_type(seen) == 134


def na_for(target: str) -> Callable[[Seen], bool]:
    return lambda s: icmp_type(s) == 136 and s.ip[48:64] == a16(target)
