"""Full Scapy dissection of a realistic FAMA capture: stock Scapy vs Scapy + scapy_fama.

What is measured
    Reading a pcap with ``PcapReader`` and calling ``pkt.summary()`` on every
    packet (Scapy dissects every layer when a packet is read), in two fresh
    subprocesses: one that only does ``import scapy.all`` (stock Scapy 2.8, as
    ``from scapy.all import *``) and one that also does ``import scapy_fama``.
    Each side runs ``--rounds`` times (at least 3), alternating which side goes
    first, and the best run of each side counts. Interpreter start-up and
    imports are not in the timed loop (the import time is reported apart).

Baseline and target
    ratio = fama packets/s ÷ stock packets/s, target ≥ 0.9 (registering the
    FAMA layers may cost at most 10 % of the stock dissection speed).

The capture
    ``--packets`` packets (default 100,000) on Ethernet: 10 % FAMA signalling
    (first BUs with CGA Parameters + Signature, BAs with an encrypted PHKT and
    a BAD, PHKT BUs, BAs to them), 60 % IPv6-in-IPv6 tunnelled data between the
    DAR and the MN's CoA (inner UDP, TCP, ICMPv6 Echo) and 30 % native IPv6 UDP.
    A few signalling packets are crafted (and verified) once per mobile node
    and repeated; data packets are repeated from templates with a different
    payload (or TCP sequence) in each, their checksums recomputed. Crafting
    cost is not what is measured.

Correctness (exit 1 when wrong)
    both subprocesses must see every packet and the same number of Mobility
    Headers as were written, the stock one must not have loaded scapy_fama and
    the fama one must dissect the MH with the FAMA classes.
"""

from __future__ import annotations

import json
import random
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402
from _common import Report, fmt_rate, fmt_ratio, fmt_seconds, pct  # noqa: E402

TARGET = 0.9
DAR = "2001:db8:1::1"
CN = "2001:db8:ff::10"
HOME_PREFIX = "2001:db8:1::/64"
VISITED_PREFIX = "2001:db8:2::/64"
MAC_DAR = bytes.fromhex("020000000001")
MAC_MN = bytes.fromhex("020000000002")
ETH_IPV6 = b"\x86\xdd"
ETH_LEN = 14

# Per 40 packets: 4 signalling (10 %), 24 tunnelled (60 %), 12 native (30 %).
PATTERN = (
    ["sig:first_bu", "sig:ba_phkt", "sig:phkt_bu", "sig:ba_bad"]
    + ["tun:udp"] * 12
    + ["tun:tcp"] * 10
    + ["tun:icmp"] * 2
    + ["nat:udp"] * 12
)
KIND_LABELS = {
    "sig:first_bu": "first BU (CGA Params + Signature)",
    "sig:ba_phkt": "BA (PHKT + BAD)",
    "sig:phkt_bu": "PHKT BU (Nonce Indices + BAD)",
    "sig:ba_bad": "BA (BAD)",
    "tun:udp": "IPv6-in-IPv6 / UDP",
    "tun:tcp": "IPv6-in-IPv6 / TCP",
    "tun:icmp": "IPv6-in-IPv6 / ICMPv6 Echo",
    "nat:udp": "native IPv6 / UDP",
}


# --- the capture ----------------------------------------------------------------------------


def _eth(frame_from_dar: bool, ip: bytes) -> bytes:
    dst, src = (MAC_MN, MAC_DAR) if frame_from_dar else (MAC_DAR, MAC_MN)
    return dst + src + ETH_IPV6 + ip


class DataTemplate:
    """One data packet whose 8 bytes at ``var_off`` change per copy, checksum recomputed."""

    def __init__(self, frame: bytes, l4_off: int, proto: int, csum_off: int, var_off: int, src: bytes, dst: bytes):
        self.frame, self.l4_off, self.proto = frame, l4_off, proto
        self.csum_off, self.var_off, self.src, self.dst = csum_off, var_off, src, dst

    def copy(self, variation: bytes) -> bytes:
        from scapy.utils import checksum

        buf = bytearray(self.frame)
        buf[self.var_off : self.var_off + 8] = variation
        buf[self.csum_off : self.csum_off + 2] = b"\0\0"
        l4 = bytes(buf[self.l4_off :])
        pseudo = self.src + self.dst + struct.pack("!I3xB", len(l4), self.proto)
        c = checksum(pseudo + l4)
        if self.proto == 17 and c == 0:
            c = 0xFFFF  # RFC 8200 §8.1: a computed UDP checksum of 0 is sent as 0xFFFF
        buf[self.csum_off : self.csum_off + 2] = struct.pack("!H", c)
        return bytes(buf)


def _data_templates(hoa: str, coa: str) -> dict[str, list[DataTemplate]]:
    import socket

    from scapy.layers.inet import TCP, UDP
    from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6

    def addr(a: str) -> bytes:
        return socket.inet_pton(socket.AF_INET6, a)

    out: dict[str, list[DataTemplate]] = {"tun:udp": [], "tun:tcp": [], "tun:icmp": [], "nat:udp": []}
    for downlink in (True, True, False):  # 2/3 DAR -> CoA, 1/3 reverse tunnel CoA -> DAR
        outer = IPv6(src=DAR, dst=coa) if downlink else IPv6(src=coa, dst=DAR)
        inner_src, inner_dst = (CN, hoa) if downlink else (hoa, CN)
        inner = IPv6(src=inner_src, dst=inner_dst, hlim=63)
        l4_off = ETH_LEN + 80
        pa, pb = addr(inner_src), addr(inner_dst)
        for size in (64, 256, 1200):
            ip = bytes(outer / inner / UDP(sport=40000, dport=5004) / bytes(size))
            out["tun:udp"].append(DataTemplate(_eth(downlink, ip), l4_off, 17, l4_off + 6, l4_off + 8, pa, pb))
        for size, flags in ((0, "A"), (1200, "PA")):  # pure ACKs vary seq/ack, segments their payload
            seg = TCP(sport=443, dport=51000, flags=flags, seq=1, ack=1)
            ip = bytes(outer / inner / seg / bytes(size)) if size else bytes(outer / inner / seg)
            var = l4_off + 4 if size == 0 else l4_off + 20
            out["tun:tcp"].append(DataTemplate(_eth(downlink, ip), l4_off, 6, l4_off + 16, var, pa, pb))
        ip = bytes(outer / inner / ICMPv6EchoRequest(id=7, seq=1, data=bytes(56)))
        out["tun:icmp"].append(DataTemplate(_eth(downlink, ip), l4_off, 58, l4_off + 2, l4_off + 8, pa, pb))
    for size in (64, 256, 1200):  # native traffic of a node that does not move
        src, dst = "2001:db8:2::77", CN
        ip = bytes(IPv6(src=src, dst=dst) / UDP(sport=40001, dport=5006) / bytes(size))
        l4_off = ETH_LEN + 40
        out["nat:udp"].append(DataTemplate(_eth(False, ip), l4_off, 17, l4_off + 6, l4_off + 8, addr(src), addr(dst)))
    return out


def _signalling(mobile_nodes: int, variants: int, report: Report) -> tuple[dict[str, list[bytes]], list[DataTemplate]]:
    """Crafted, verified FAMA signalling per mobile node, and data templates for each MN."""
    from scapy.layers.inet6 import IPv6

    from scapy_fama.craft import binding_ack, first_bu, phkt_bu
    from scapy_fama.crypto import KeyPair, cga_generate, cga_with_prefix, new_phkt
    from scapy_fama.verify import verify_ba, verify_bu

    sig: dict[str, list[bytes]] = {k: [] for k in PATTERN if k.startswith("sig:")}
    data: dict[str, list[DataTemplate]] = {}
    for m in range(mobile_nodes):
        key = KeyPair.generate(1024)
        hoa = cga_generate(HOME_PREFIX, key, sec=1, workers=1)
        coa = cga_with_prefix(hoa, VISITED_PREFIX).address
        phkt = new_phkt()
        for v in range(variants):
            seq = (1000 + 100 * m + 2 * v) & 0xFFFF
            bu1 = first_bu(coa, hoa.address, DAR, seq, 3600, key, hoa.params)
            ba1 = binding_ack(bu1, 0, 3600, phkt=phkt, mn_public_key=key.public_der)
            bu2 = phkt_bu(coa, hoa.address, DAR, seq + 1, 3600, phkt)
            ba2 = binding_ack(bu2, 0, 3600, phkt=phkt)
            # the capture must hold real, valid signalling: check it read back from bytes
            r1, r2, r3, r4 = (IPv6(bytes(p)) for p in (bu1, ba1, bu2, ba2))
            verdicts = {
                "first BU": verify_bu(r1),
                "BA (PHKT)": verify_ba(r2, mn_keypair=key, bu=r1),
                "PHKT BU": verify_bu(r3, phkt=phkt),
                "BA (BAD)": verify_ba(r4, phkt=phkt, bu=r3),
            }
            for label, verdict in verdicts.items():
                if not verdict:
                    report.fail(f"crafted {label} of MN {m} does not verify: {[str(c) for c in verdict.failed]}")
            sig["sig:first_bu"].append(_eth(False, bytes(bu1)))
            sig["sig:ba_phkt"].append(_eth(True, bytes(ba1)))
            sig["sig:phkt_bu"].append(_eth(False, bytes(bu2)))
            sig["sig:ba_bad"].append(_eth(True, bytes(ba2)))
        for kind, templates in _data_templates(hoa.address, coa).items():
            data.setdefault(kind, []).extend(templates)
    return sig, data  # type: ignore[return-value]


def write_capture(path: Path, packets: int, mobile_nodes: int, variants: int, report: Report) -> Counter[str]:
    """Write the capture; returns how many packets of each kind it holds."""
    rng = random.Random(20240607)
    sig, data = _signalling(mobile_nodes, variants, report)
    pattern = list(PATTERN)
    rng.shuffle(pattern)
    counts: Counter[str] = Counter()
    next_index: Counter[str] = Counter()
    ts = 1_700_000_000.0
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))  # pcap, LINKTYPE_ETHERNET
        for i in range(packets):
            kind = pattern[i % len(pattern)]
            j = next_index[kind]
            next_index[kind] += 1
            if kind.startswith("sig:"):
                frame = sig[kind][j % len(sig[kind])]
            else:
                templates = data[kind]  # type: ignore[index]
                frame = templates[j % len(templates)].copy(struct.pack("!II", i, rng.getrandbits(32)))
            counts[kind] += 1
            ts += 0.0001
            sec = int(ts)
            f.write(struct.pack("<IIII", sec, int((ts - sec) * 1e6), len(frame), len(frame)))
            f.write(frame)
    return counts


def check_capture(path: Path, sample: int, report: Report) -> None:
    """Data checksums of the first ``sample`` packets must be what Scapy computes."""
    from scapy.layers.inet import TCP, UDP
    from scapy.layers.inet6 import ICMPv6EchoRequest
    from scapy.layers.l2 import Ether
    from scapy.utils import RawPcapReader

    bad = 0
    for n, (raw, _meta) in enumerate(RawPcapReader(str(path))):
        if n >= sample:
            break
        pkt = Ether(raw)
        for cls in (UDP, TCP, ICMPv6EchoRequest):
            layer = pkt.getlayer(cls)
            if layer is None:
                continue
            carried = layer.cksum if cls is ICMPv6EchoRequest else layer.chksum
            if cls is ICMPv6EchoRequest:
                del layer.cksum
            else:
                del layer.chksum
            rebuilt = Ether(bytes(pkt)).getlayer(cls)
            expected = rebuilt.cksum if cls is ICMPv6EchoRequest else rebuilt.chksum
            if carried != expected and {carried, expected} != {0, 0xFFFF}:
                bad += 1
            break
    if bad:
        report.fail(f"{bad} of the first {sample} packets carry a wrong transport checksum")


# --- the measured subprocess ----------------------------------------------------------------


def worker(side: str, path: str) -> int:
    """One timed pass over the capture; prints one JSON line."""
    t0 = time.perf_counter()
    import scapy.all  # noqa: F401  (stock Scapy with every layer, as ``from scapy.all import *``)

    if side == "fama":
        import scapy_fama  # noqa: F401  (registers the FAMA layers)
    import_s = time.perf_counter() - t0
    from scapy.layers.inet6 import _MobilityHeader
    from scapy.packet import NoPayload
    from scapy.utils import PcapReader

    perf = time.perf_counter
    n = n_sig = 0
    t_sig = t_data = 0.0
    mh_classes: Counter[str] = Counter()
    reader = PcapReader(path)
    it = iter(reader)
    start = perf()
    while True:
        a = perf()
        try:
            pkt = next(it)
        except StopIteration:
            break
        pkt.summary()
        b = perf()
        n += 1
        layer = pkt
        while not isinstance(layer, NoPayload):  # untimed: which packets held a Mobility Header
            if isinstance(layer, _MobilityHeader):
                mh_classes[type(layer).__name__] += 1
                break
            layer = layer.payload
        if isinstance(layer, NoPayload):
            t_data += b - a
        else:
            n_sig += 1
            t_sig += b - a
    total = perf() - start
    reader.close()
    print(
        json.dumps(
            {
                "side": side,
                "packets": n,
                "mh_packets": n_sig,
                "seconds": total,
                "sig_seconds": t_sig,
                "data_seconds": t_data,
                "import_seconds": import_s,
                "scapy_fama_loaded": "scapy_fama" in sys.modules,
                "mh_classes": dict(mh_classes),
            }
        )
    )
    return 0


def run_worker(side: str, path: Path) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", side, "--pcap", str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_common.child_env())
    if proc.returncode != 0:
        raise RuntimeError(f"{side} worker failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- main -----------------------------------------------------------------------------------


def main() -> int:
    p = _common.parser(__doc__.split("\n\n")[0])
    p.add_argument("--packets", type=int, default=None, help="capture size (default 100000; quick 1000)")
    p.add_argument("--rounds", type=int, default=3, help="runs of each side, alternating (at least 3)")
    p.add_argument("--mobile-nodes", type=int, default=None, help="distinct MNs (keys, CGAs) in the capture")
    p.add_argument("--keep", type=Path, default=None, help="also keep the capture at this path")
    p.add_argument("--worker", choices=("stock", "fama"), help=argparse_hidden())
    p.add_argument("--pcap", help=argparse_hidden())
    args = p.parse_args()
    if args.worker:
        return worker(args.worker, args.pcap)

    _common.ensure_project_on_path()
    packets = args.packets or (1000 if args.quick else 100_000)
    mobile_nodes = args.mobile_nodes or (2 if args.quick else 4)
    variants = 2 if args.quick else 8
    rounds = max(3, args.rounds)
    report = Report("bench_dissect: Scapy dissection, stock vs + scapy_fama")
    import scapy

    report.header([("scapy", scapy.__version__)])

    with tempfile.TemporaryDirectory(prefix="fama-bench-") as tmp:
        path = args.keep or Path(tmp) / "mix.pcap"
        t0 = time.perf_counter()
        counts = write_capture(path, packets, mobile_nodes, variants, report)
        check_capture(path, min(packets, 400), report)
        gen_s = time.perf_counter() - t0
        expected_mh = sum(v for k, v in counts.items() if k.startswith("sig:"))
        report.table(
            f"capture: {packets} packets, {path.stat().st_size / 1e6:.1f} MB, "
            f"{mobile_nodes} MNs × {variants} signalling variants, built in {gen_s:.1f} s (not measured)",
            ["kind", "packets", "share"],
            [(KIND_LABELS[k], counts[k], pct(counts[k], packets)) for k in KIND_LABELS],
        )

        runs: list[dict] = []
        for r in range(rounds):
            order = ("stock", "fama") if r % 2 == 0 else ("fama", "stock")  # ABBA against drift
            for side in order:
                res = run_worker(side, path)
                res["round"] = r + 1
                runs.append(res)
                report.note(
                    f"  round {r + 1} {side:>5}: {res['packets']} packets in {res['seconds']:.2f} s "
                    f"= {fmt_rate(res['packets'] / res['seconds'], ' pkt/s')}"
                )

    # correctness: every run saw every packet and every Mobility Header
    for res in runs:
        tag = f"{res['side']} round {res['round']}"
        if res["packets"] != packets:
            report.fail(f"{tag}: read {res['packets']} packets, {packets} were written")
        if res["mh_packets"] != expected_mh:
            report.fail(f"{tag}: found {res['mh_packets']} Mobility Headers, {expected_mh} were written")
        if res["side"] == "stock" and res["scapy_fama_loaded"]:
            report.fail(f"{tag}: scapy_fama was loaded in the stock-Scapy process")
        if res["side"] == "fama" and set(res["mh_classes"]) - {"BU", "BA"}:
            report.fail(f"{tag}: Mobility Headers not dissected by the FAMA classes: {res['mh_classes']}")
    if len({res["packets"] for res in runs}) != 1:
        report.fail("the two processes did not see the same packet count")

    best = {side: min((r for r in runs if r["side"] == side), key=lambda r: r["seconds"]) for side in ("stock", "fama")}
    rate = {side: best[side]["packets"] / best[side]["seconds"] for side in best}
    ratio = rate["fama"] / rate["stock"]

    report.table(
        f"all runs (best of {rounds} per side counts)",
        ["round", "side", "packets", "MH packets", "time", "packets/s", "import time"],
        [
            (
                r["round"],
                r["side"],
                r["packets"],
                r["mh_packets"],
                fmt_seconds(r["seconds"]),
                f"{r['packets'] / r['seconds']:,.0f}",
                fmt_seconds(r["import_seconds"]),
            )
            for r in runs
        ],
    )

    def per_pkt(res: dict, key: str, n: int) -> float:
        return res[key] / n if n else float("nan")

    n_mh = expected_mh
    n_data = packets - n_mh
    rows = []
    for label, key, n in (
        ("all packets", "seconds", packets),
        ("signalling (has a Mobility Header)", "sig_seconds", n_mh),
        ("data (tunnelled + native)", "data_seconds", n_data),
    ):
        s, f = per_pkt(best["stock"], key, n), per_pkt(best["fama"], key, n)
        rows.append((label, n, fmt_seconds(s), fmt_seconds(f), fmt_ratio(s / f) if f else "n/a"))
    report.table(
        "per packet, best run of each side (read + dissect + summary())",
        ["packets", "count", "stock", "+ scapy_fama", "speed ratio fama/stock"],
        rows,
        caption="the split times each packet with perf_counter; 'all packets' includes the loop itself",
    )
    sig_share = best["fama"]["sig_seconds"] / best["fama"]["seconds"]
    report.table(
        "result",
        ["", "stock Scapy", "Scapy + scapy_fama", "ratio fama/stock", "target"],
        [
            (
                "packets/s",
                f"{rate['stock']:,.0f}",
                f"{rate['fama']:,.0f}",
                fmt_ratio(ratio),
                f"≥ {TARGET}",
            )
        ],
        caption=f"signalling is {pct(n_mh, packets)} of the packets and {sig_share * 100:.1f} % of the fama time",
    )
    report.target("dissection speed with scapy_fama vs stock Scapy", ratio, TARGET, higher_is_better=True)
    return report.exit_code()


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    sys.exit(main())
