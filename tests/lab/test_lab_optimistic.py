"""The lab's fama-mn --kernel keeps RFC 4429 §3.3 for a new CoA while it is optimistic (profile §2
step 3), as the user-space automaton does: the NA for it (one per NS, the kernel's, which holds the
CoA: the automaton leaves it those) has O=0 until DAD is over, then O=1 again (RFC 4861 §7.2.4); no
NS comes from it with an SLLAO; and data leaves from it at once.

DAR 2's namespace solicits the CoA after ``handover dar2``, round after round, each round from a
source address of its own (2001:db8:2::f:N), so that an NA in the capture on DAR 2's access link
tells its round by its destination. A round counts as optimistic when its NAs came before the
core's DAD ended (its ``address-preferred`` record, on the capture's clock) and the kernel had
not ended a DAD of its own after its answers came; as preferred when its NS went after both had
ended. The truth is the O bit in the bytes of the NAs in the capture, and tshark's dissection.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from scapy.utils import RawPcapReader

from scapy_fama.lab import capture, roles
from scapy_fama.lab.links import in_namespace
from scapy_fama.lab.topology import CN_ADDRESS, MN_IFACE, access_iface, namespace
from tests.corpus import tshark_env

pytestmark = [pytest.mark.netns, pytest.mark.slow]
Lab = Callable[..., subprocess.CompletedProcess[str]]  # the lab_up fixture
ANSWERS = 1  # an NS for the CoA is answered by the MN's kernel alone (RFC 4861 §7.2.4)
ROUND_WAIT = 5.0  # seconds for a round's answers
DEADLINE = 30.0  # seconds for the whole DAD, rounds included
GUARD = 0.001  # seconds: more than the RA's way from DAR 2's capture to the MN
ND_NA, NA_OVERRIDE = 136, 0x20  # RFC 4861 §4.4: the O bit, in the byte after the checksum

# In DAR 2's namespace: for each line "TARGET SOURCE" on stdin, an NS for TARGET from SOURCE (with
# DAR 2's MAC as SLLAO); one line back, once ANSWERS NAs to SOURCE came or ROUND_WAIT passed: how many.
SOLICITOR = """
import select, socket, sys, time
from scapy.all import Ether, IPv6, ICMPv6ND_NS, ICMPv6NDOptSrcLLAddr, conf, get_if_hwaddr
from scapy.utils6 import in6_getnsma, in6_getnsmac
iface, answers, wait = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
mac = get_if_hwaddr(iface)
listen = conf.L2listen(iface=iface, filter="icmp6 and ip6[40] == 136")
sock = conf.L2socket(iface=iface)
print("ready", flush=True)
for line in sys.stdin:
    target, source = line.split()
    group = in6_getnsma(socket.inet_pton(socket.AF_INET6, target))
    sock.send(Ether(src=mac, dst=in6_getnsmac(group)) / IPv6(src=source, dst=socket.inet_ntop(socket.AF_INET6, group))
              / ICMPv6ND_NS(tgt=target) / ICMPv6NDOptSrcLLAddr(lladdr=mac))
    got, until = 0, time.monotonic() + wait
    while got < answers and (left := until - time.monotonic()) > 0:
        if not select.select([listen], [], [], left)[0]:
            break
        frame = listen.recv()
        if frame is not None and IPv6 in frame and frame[IPv6].dst == source:
            got += 1
    print(got, flush=True)
"""

# In the MN's namespace: on a line on stdin, UDP to the CN's discard port from the address the
# kernel chooses; prints that address.
SENDER = """
import socket, sys
sys.stdin.readline()
sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
sock.connect((sys.argv[1], 9))
print(sock.getsockname()[0], flush=True)
for n in range(3):
    sock.send(b"optimistic %d" % n)
"""


def _spawn(node: str, *argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen(in_namespace(namespace(node), [sys.executable, "-c", *argv]),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip


def _kernel_state(address: str) -> str | None:
    """How the MN's kernel holds ``address``: "optimistic" (its DAD runs), "nodad" (it ran none),
    "done" (its DAD is over), None (not at all)."""
    shown = subprocess.run(in_namespace(namespace("mn"), ["ip", "-j", "-6", "addr", "show", "dev", MN_IFACE]),
                           capture_output=True, text=True, check=True, env=tshark_env())  # fmt: skip
    found = [a for link in json.loads(shown.stdout) for a in link["addr_info"] if a["local"] == address]
    assert not any(a.get("dadfailed") for a in found), found
    return next((flag for flag in ("optimistic", "nodad") if found[0].get(flag)), "done") if found else None


def _na_flags(frame: bytes) -> tuple[str, int]:
    """The target and the O bit of an NA in an Ethernet frame with no extension header."""
    assert frame[12:14] == b"\x86\xdd" and frame[20] == 58 and frame[54] == ND_NA, frame.hex()
    target = frame[62:78]
    return ":".join(target[i : i + 2].hex() for i in range(0, 16, 2)), frame[58] & NA_OVERRIDE


def _captured(pcap: Path, source: str) -> int:
    """How many NAs to ``source`` the capture holds so far."""
    dst = socket.inet_pton(socket.AF_INET6, source)
    return sum(1 for frame, _ in RawPcapReader(str(pcap)) if frame[38:54] == dst and len(frame) > 54 and frame[54] == ND_NA)


def _tshark(pcap: Path, fields: list[str], where: str) -> list[list[str]]:
    done = subprocess.run(["tshark", "-r", str(pcap), "-Y", where, "-T", "fields", *[a for f in fields for a in ("-e", f)]],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return [line.split("\t") for line in done.stdout.splitlines()]


@pytest.mark.skipif(shutil.which("tshark") is None, reason="needs tshark")
def test_an_na_for_an_optimistic_coa_has_o_0_and_o_1_once_dad_is_over(lab_up: Lab, lab_dir: Path) -> None:
    logs = lab_dir / "logs"

    def mn(kind: str, address: str | None = None) -> list[dict]:
        return [r for r in roles.records(logs, "mn") if r["kind"] == kind and address in (None, r.get("address"))]

    pcap = lab_dir / "dar2.pcap"
    capturing = capture.start(namespace("dar2"), access_iface(2), pcap)
    solicitor = _spawn("dar2", SOLICITOR, access_iface(2), str(ANSWERS), str(ROUND_WAIT))
    sender = _spawn("mn", SENDER, CN_ADDRESS)
    assert solicitor.stdin and solicitor.stdout and sender.stdin and sender.stdout
    kernel: dict[str, tuple[str | None, str | None]] = {}  # source of a round -> the kernel's CoA before, after
    try:
        assert solicitor.stdout.readline().strip() == "ready"
        before = len(mn("address-optimistic"))
        assert lab_up("handover", "dar2").returncode == 0
        deadline = time.monotonic() + DEADLINE
        while len(mn("address-optimistic")) == before:
            assert time.monotonic() < deadline, "no new CoA"
            time.sleep(0.005)
        coa = mn("address-optimistic")[-1]["address"]
        assert coa.startswith("2001:db8:2:")
        while _kernel_state(coa) is None:  # the core's record comes before the kernel's change
            assert time.monotonic() < deadline, "the kernel never got the CoA"
        sender.stdin.write("go\n")
        sender.stdin.flush()
        while not mn("address-preferred", coa) or not {*list(kernel.values())[-2:]} <= {("done", "done"), ("nodad", "nodad")}:
            assert time.monotonic() < deadline, f"DAD not over after {DEADLINE:g} s: {kernel}"
            source = f"2001:db8:2::f:{len(kernel) + 1:x}"
            first = _kernel_state(coa)
            solicitor.stdin.write(f"{coa} {source}\n")
            solicitor.stdin.flush()
            assert int(solicitor.stdout.readline()) == ANSWERS, source
            kernel[source] = (first, _kernel_state(coa))
        sent_from = sender.stdout.readline().strip()
        while _captured(pcap, source) < ANSWERS:  # tcpdump hands over what it holds in its own time
            assert time.monotonic() < deadline, "the capture lacks the last round"
            time.sleep(0.05)
    finally:
        for process in (solicitor, sender):
            process.kill()
            process.wait()
        capture.stop(capturing)

    # When the core's DAD ended, on the capture's clock: the log's clock is set by the RA that
    # made the CoA, whose receive time the MN logged (rx) and DAR 2's capture holds. That
    # capture saw the RA leave a little before the MN got it, so the moment comes out early.
    records = roles.records(logs, "mn")
    made = next(i for i, r in enumerate(records) if r["kind"] == "address-optimistic" and r["address"] == coa)
    ra = next(r for r in reversed(records[:made]) if r["dir"] == "in" and r["kind"] == "RA")
    probe = _tshark(pcap, ["frame.time_epoch"], f"icmpv6.type == 135 && ipv6.src == :: && icmpv6.nd.ns.target_address == {coa}")
    ra_sent = [float(t) for (t,) in _tshark(pcap, ["frame.time_epoch"], "icmpv6.type == 134") if float(t) < float(probe[0][0])][-1]
    over = ra_sent + next(r for r in records if r["kind"] == "address-preferred" and r["address"] == coa)["t"] - ra["rx"]

    # Each round's NAs, from the capture: the O bit in their bytes and in tshark's dissection
    frames: dict[str, list[tuple[float, int]]] = {source: [] for source in kernel}
    for frame, meta in RawPcapReader(str(pcap)):
        dst = socket.inet_ntop(socket.AF_INET6, frame[38:54])
        if dst in frames and len(frame) > 54 and frame[54] == ND_NA and _na_flags(frame)[0] == ipaddress.IPv6Address(coa).exploded:
            frames[dst].append((meta.sec + meta.usec / 1e6, _na_flags(frame)[1]))
    dissected = _tshark(pcap, ["ipv6.dst", "icmpv6.nd.na.flag.o"], f"icmpv6.type == 136 && icmpv6.nd.na.target_address == {coa}")
    sent = dict(_tshark(pcap, ["ipv6.src", "frame.time_epoch"], "icmpv6.type == 135 && ipv6.src == 2001:db8:2::f:0/112"))
    # optimistic: every NA came before the core's DAD ended, and the kernel had ended no DAD of its own
    # (nodad: it never ran one); preferred: the NS went after both ended; in between, either O is right
    optimistic = [s for s, got in frames.items() if max(t for t, _ in got) < over and kernel[s][1] in ("optimistic", "nodad")]
    preferred = [s for s, got in frames.items() if float(sent[s]) > over + GUARD and kernel[s][0] in ("done", "nodad")]
    assert optimistic and preferred, (over, kernel)
    for source in optimistic + preferred:
        want = 0 if source in optimistic else NA_OVERRIDE
        assert [o for _, o in frames[source]] == [want] * ANSWERS, (source, frames[source], kernel[source], over)
        assert [o for dst, o in dissected if dst == source] == [str(want // NA_OVERRIDE)] * ANSWERS, source

    # RFC 4429 §3.3: while optimistic the MN resolved its router (its datagrams need it), and no NS
    # of the MN's came from the CoA with a Source Link-Layer Address option
    mac = _tshark(pcap, ["eth.src"], f"icmpv6.type == 136 && ipv6.src == {coa}")[0][0]
    early = f"eth.src == {mac} && icmpv6.type == 135 && frame.time_epoch < {over}"
    solicited = _tshark(pcap, ["ipv6.src", "icmpv6.nd.ns.target_address", "icmpv6.opt.type"], early)
    assert any(src != "::" and target.startswith("fe80:") for src, target, _ in solicited), solicited
    assert not [ns for ns in solicited if ns[0] == coa and "1" in ns[2].split(",")], solicited
    # profile §2 step 3: data from the CoA at once, while DAD runs
    assert sent_from == coa
    udp = _tshark(pcap, ["frame.time_epoch"], f"ipv6.src == {coa} && ipv6.dst == {CN_ADDRESS} && udp.dstport == 9")
    assert udp and float(udp[0][0]) < over, (udp, over)
