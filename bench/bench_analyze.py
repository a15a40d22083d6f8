"""fama-analyze throughput and peak memory against tshark on the same capture, in the same run.

The capture (Ethernet pcap, written once per size into --dir and reused): 10 % signalling,
a BU and its BA for 64 MNs in turn (each MN's first BU CGA-signed with its own RSA-1024 key,
answered with an encrypted PHKT; then PHKT-authorised BUs with a valid BAD and their BAs, the
sequence number rising), 60 % IPv6-in-IPv6 between DAR1 and each MN's CoA (2/3 down, 1/3 up,
inner UDP) and 30 % native UDP between the CN and the CoAs; data payloads differ packet by
packet. Both commands run in a fresh process, output to a file, alternating, best of --rounds:

    fama-analyze FILE --json                                    (python -m scapy_fama.cli.analyze)
    tshark -r FILE -T fields -e ipv6.nxt -e mip6.mhtype

tshark 4.0 has no field ``mip6.type`` (the issue's command): ``mip6.mhtype`` is the Mobility
Header type field. Target: fama-analyze at least as fast as tshark (tshark time / ours >= 1.0)
on 1,000,000 packets, as pcap and as the same capture in pcapng (``editcap -F pcapng``), each
against tshark on the same file. Then a capture set: a folder of 8 such captures a day apart, read with
--jobs 1 and --jobs 2, and as 8 shards merged; the three JSON reports must be identical. Peak memory (VmHWM of the process, sampled while it runs) is reported for
100,000 and 1,000,000 packets: flat means it does not grow with the capture. Both outputs are
checked (frames, BU and BA counts, every first BU verified): a wrong count exits 1.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

from _common import Report, child_env, ensure_project_on_path, fmt_ratio, fmt_seconds, parser

ensure_project_on_path()

from scapy.layers.inet import UDP  # noqa: E402
from scapy.layers.inet6 import IPv6  # noqa: E402
from scapy.packet import Raw  # noqa: E402

from scapy_fama.codec import encode_bytes  # noqa: E402
from scapy_fama.wire import finish_bytes  # noqa: E402
from scapy_fama.crypto import KeyPair, cga_generate, cga_with_prefix, encrypt_phkt, kbm, new_phkt  # noqa: E402
from scapy_fama.proto.messages import BindingAck, BindingUpdate  # noqa: E402
from scapy_fama.wire import parse  # noqa: E402

DAR, CN = "2001:db8:1::1", "2001:db8:ff::1"
MOBILE_NODES = 64
# one cycle of 20 packets: 2 signalling (BU, BA), 8 tunnelled down, 4 up, 6 native (3 each way)
CYCLE = ["bu", "ba"] + ["down"] * 8 + ["up"] * 4 + ["native-down", "native-up"] * 3
ETHERNET = bytes.fromhex("020000000001020000000002") + b"\x86\xdd"
STEP = 0.001  # seconds between packets


@dataclass
class Mobile:
    """One MN's addresses, keys and the templates its packets are made from."""

    hoa: str
    coa: str
    key: KeyPair
    params: bytes
    phkt: bytes
    seq: int = 1000
    first: bool = True
    phkt_bu: bytes = b""
    seq_at: int = 0  # offset of the sequence number in phkt_bu


def mobile_nodes(count: int) -> list[Mobile]:
    out = []
    for _ in range(count):
        key = KeyPair.generate(1024)
        hoa = cga_generate("2001:db8:1::/64", key, sec=0)
        m = Mobile(hoa.address, cga_with_prefix(hoa, "2001:db8:2::/64").address, key, hoa.params, new_phkt())
        m.phkt_bu = encode_bytes(BindingUpdate(m.coa, DAR, m.hoa, 0, 3600, nonce_indices=(0, 0), auth_key=kbm(m.phkt)))
        info = parse(m.phkt_bu)
        assert info is not None and info.mh is not None
        m.seq_at = info.mh.offset + 6
        out.append(m)
    return out


def exchange(m: Mobile) -> tuple[bytes, bytes]:
    """The MN's next BU and the DAR's BA, finished (signature or BAD, checksum)."""
    m.seq += 1
    if m.first:
        m.first = False
        bu = encode_bytes(BindingUpdate(m.coa, DAR, m.hoa, m.seq, 3600, cga_params=m.params, sign_with=m.key))
        ba = BindingAck(DAR, m.coa, m.hoa, 0, m.seq, 3600, phkt_ciphertext=encrypt_phkt(m.key.public_der, m.phkt),
                        auth_key=kbm(m.phkt))
        return bu, encode_bytes(ba)
    raw = m.phkt_bu[: m.seq_at] + struct.pack("!H", m.seq) + m.phkt_bu[m.seq_at + 2 :]
    bu = finish_bytes(raw, coa=m.coa, correspondent=DAR, auth_key=kbm(m.phkt))
    return bu, encode_bytes(BindingAck(DAR, m.coa, m.hoa, 0, m.seq, 3600, auth_key=kbm(m.phkt)))


def data_templates(m: Mobile) -> dict[str, bytes]:
    payload = Raw(bytes(100))
    inner_down = IPv6(src=CN, dst=m.hoa) / UDP(sport=5000, dport=5000) / payload
    inner_up = IPv6(src=m.hoa, dst=CN) / UDP(sport=5000, dport=5000) / payload
    return {
        "down": bytes(IPv6(src=DAR, dst=m.coa) / inner_down),
        "up": bytes(IPv6(src=m.coa, dst=DAR) / inner_up),
        "native-down": bytes(IPv6(src=CN, dst=m.coa) / UDP(sport=6000, dport=6000) / payload),
        "native-up": bytes(IPv6(src=m.coa, dst=CN) / UDP(sport=6000, dport=6000) / payload),
    }


def write_capture(path: Path, packets: int, mobiles: list[Mobile], start: int = 1_700_000_000) -> Counter[str]:
    """The capture of ``packets`` frames; returns how many of each kind it holds."""
    templates = [data_templates(m) for m in mobiles]
    counts: Counter[str] = Counter()
    pending: bytes | None = None
    turn = 0
    with path.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i in range(packets):
            kind = CYCLE[i % len(CYCLE)]
            if kind == "bu":
                frame, pending = exchange(mobiles[turn % len(mobiles)])
            elif kind == "ba":
                assert pending is not None
                frame, pending = pending, None
                turn += 1
            else:
                template = templates[i % len(templates)][kind]
                frame = template[:-4] + struct.pack("!I", i)  # the payload's last bytes differ
            counts[kind] += 1
            usec = round(i * STEP * 1e6)
            f.write(struct.pack("<IIII", start + usec // 1_000_000, usec % 1_000_000, 14 + len(frame), 14 + len(frame)))
            f.write(ETHERNET + frame)
    return counts


@dataclass
class Run:
    seconds: float
    peak_kib: int
    output: Path


def _high_water_kib(pid: int) -> int:
    """VmHWM of a running process: its own peak RSS, from exec on. (wait4's ru_maxrss would
    also count the pages the child shared with this big benchmark process when it forked.)"""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0)


def timed(command: list[str], output: Path) -> Run:
    """Wall time and peak RSS (VmHWM, sampled every 20 ms) of ``command``, stdout to ``output``."""
    peak = 0
    with output.open("wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.DEVNULL, env=child_env())
        while proc.poll() is None:
            peak = max(peak, _high_water_kib(proc.pid))
            time.sleep(0.02)
        elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{command[0]} exited {proc.returncode}")
    return Run(elapsed, peak, output)


def check_fama(run: Run, counts: Counter[str], packets: int, report: Report) -> None:
    doc = json.loads(run.output.read_text())
    got = (doc["totals"]["frames"], doc["signalling"].get("BU", 0), doc["signalling"].get("BA", 0),
           doc["totals"]["tunnelled"], doc["totals"]["native"], len(doc["mns"]))
    want = (packets, counts["bu"], counts["ba"], counts["down"] + counts["up"],
            counts["native-down"] + counts["native-up"], min(MOBILE_NODES, counts["bu"]))
    if got != want:
        report.fail(f"fama-analyze counted (frames, BU, BA, tunnelled, native, MNs) {got}, the capture holds {want}")
    first = [m["bindings"][0]["exchanges"][0]["verified"] for m in doc["mns"]]
    if first != [True] * len(first):
        report.fail(f"first BUs not all verified: {Counter(first)}")


def check_tshark(run: Run, counts: Counter[str], packets: int, report: Report) -> None:
    lines = run.output.read_text().splitlines()
    types = Counter(line.split("\t")[1] for line in lines if "\t" in line)
    if (len(lines), types["5"], types["6"]) != (packets, counts["bu"], counts["ba"]):
        report.fail(f"tshark: {len(lines)} lines, {types['5']} BUs, {types['6']} BAs")


def measure(path: Path, counts: Counter[str], packets: int, rounds: int, tshark: str | None, report: Report,
            scratch: Path) -> tuple[Run, Run | None]:
    """The best of ``rounds`` alternating runs of fama-analyze and tshark on ``path`` (with the
    highest peak memory of the rounds), the first of each checked against the capture's ``counts``."""
    fama_runs, tshark_runs = [], []
    for r in range(rounds):
        fama_runs.append(timed([sys.executable, "-m", "scapy_fama.cli.analyze", str(path), "--json"],
                               scratch / "fama.json"))
        if r == 0:
            check_fama(fama_runs[0], counts, packets, report)
        if tshark:
            tshark_runs.append(timed([tshark, "-r", str(path), "-T", "fields", "-e", "ipv6.nxt", "-e", "mip6.mhtype"],
                                     scratch / "tshark.txt"))
            if r == 0:
                check_tshark(tshark_runs[0], counts, packets, report)
    best = replace(min(fama_runs, key=lambda x: x.seconds), peak_kib=max(r.peak_kib for r in fama_runs))
    if not tshark_runs:
        return best, None
    return best, replace(min(tshark_runs, key=lambda x: x.seconds), peak_kib=max(r.peak_kib for r in tshark_runs))


def main() -> int:
    ap = parser(__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds per size (best is kept)")
    ap.add_argument("--dir", type=Path, default=Path("/tmp/fama-bench-analyze"), help="where captures are kept")
    args = ap.parse_args()
    tshark, editcap = shutil.which("tshark"), shutil.which("editcap")
    report = Report("fama-analyze vs tshark -T fields -e ipv6.nxt -e mip6.mhtype")
    sizes = [20_000, 100_000] if args.quick else [100_000, 1_000_000]
    report.header([("sizes", ", ".join(f"{n:,}" for n in sizes)), ("rounds", str(args.rounds)),
                   ("tshark", tshark or "missing: fama-analyze alone"),
                   ("pcapng", "the same capture, editcap -F pcapng" if editcap else "editcap missing: pcap alone")])
    args.dir.mkdir(parents=True, exist_ok=True)
    rows, ratios = [], {}
    for packets in sizes:
        path = args.dir / f"analyze-{packets}.pcap"
        t0 = time.perf_counter()
        counts = write_capture(path, packets, mobile_nodes(MOBILE_NODES))
        made = time.perf_counter() - t0
        files = [path]
        if editcap:
            files.append(path.with_suffix(".pcapng"))
            subprocess.run([editcap, "-F", "pcapng", str(path), str(files[-1])], check=True)
        for capture in files:
            best, theirs = measure(capture, counts, packets, args.rounds, tshark, report, args.dir)
            ratio = ratios[capture.suffix] = theirs.seconds / best.seconds if theirs else None
            rows.append((f"{packets:,}", capture.suffix[1:], f"{capture.stat().st_size / 1e6:.0f} MB", f"{made:.1f} s",
                         fmt_seconds(best.seconds), f"{packets / best.seconds / 1e3:.0f} k/s",
                         f"{best.seconds / packets * 1e6:.2f} µs", f"{best.peak_kib / 1024:.0f} MiB",
                         fmt_seconds(theirs.seconds) if theirs else "-",
                         f"{theirs.peak_kib / 1024:.0f} MiB" if theirs else "-",
                         fmt_ratio(ratio) if ratio else "-"))
    report.table("Throughput and peak memory (best of the rounds; memory: the highest peak)",
                 ["packets", "format", "file", "written in", "fama-analyze", "packets/s", "per packet", "peak RSS",
                  "tshark", "tshark RSS", "tshark ÷ fama"], rows)
    for suffix, ratio in ratios.items():
        if ratio is not None:
            report.target(f"{sizes[-1]:,} packets ({suffix[1:]}), tshark time ÷ fama-analyze time", ratio, 1.0,
                          higher_is_better=True)
    capture_set(report, args.dir / "set", 20_000 if args.quick else 200_000)
    return report.exit_code()


def capture_set(report: Report, folder: Path, packets: int) -> None:
    """A folder of 8 captures a day apart: --jobs 2 against --jobs 1, and shards + --merge."""
    folder.mkdir(parents=True, exist_ok=True)
    mobiles = mobile_nodes(MOBILE_NODES)
    for k in range(8):
        write_capture(folder / f"day{k}.pcap", packets, mobiles, start=1_700_000_000 + 86_400 * k)
    analyze = [sys.executable, "-m", "scapy_fama.cli.analyze"]
    one = timed([*analyze, str(folder), "--json"], folder.parent / "set-1.json")
    two = timed([*analyze, str(folder), "--jobs", "2", "--json"], folder.parent / "set-2.json")
    shards = folder.parent / "shards"
    shutil.rmtree(shards, ignore_errors=True)
    subprocess.run([*analyze, str(folder), "--jobs", "2", "--shard-out", str(shards)], check=True,
                   capture_output=True, env=child_env())
    merged = timed([*analyze, "--merge", str(shards), "--json"], folder.parent / "set-merged.json")
    reports = [json.loads(r.output.read_text()) for r in (one, two, merged)]
    if reports[1] != reports[0] or reports[2] != reports[0]:
        report.fail("a capture set's report differs between --jobs 1, --jobs 2 and merged shards")
    report.table(f"Capture set: 8 captures of {packets:,} packets, one folder",
                 ["--jobs 1", "--jobs 2", "speed-up", "merge of 8 shards", "reports identical"],
                 [(fmt_seconds(one.seconds), fmt_seconds(two.seconds), fmt_ratio(one.seconds / two.seconds),
                   fmt_seconds(merged.seconds), str(reports[0] == reports[1] == reports[2]))])


if __name__ == "__main__":
    sys.exit(main())
