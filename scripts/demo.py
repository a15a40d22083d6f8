"""The main job until fama-shell exists: one FAMA binding, built, captured, verified.

An MN attached to DAR1 (prefix 2001:db8:1::/64) has a CGA there; it moves to DAR2
(2001:db8:2::/64) and keeps its DAR1 address:

1. first BU to DAR1 from the new CoA, CGA Parameters + Signature;
2. DAR1's BA with the PHKT encrypted to the MN's key, and a BAD;
3. a later, PHKT-authorised BU (Nonce Indices + BAD).

The three packets go to a pcap, are read back and verified, and printed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from scapy.utils import rdpcap, wrpcap

from scapy_fama.craft import binding_ack, first_bu, phkt_bu
from scapy_fama.crypto import KeyPair, cga_generate, cga_with_prefix, new_phkt
from scapy_fama.verify import Verdict, verify_ba, verify_bu

DAR1, DAR2 = "2001:db8:1::1", "2001:db8:2::1"


def main() -> int:
    console = Console()
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "out/demo.pcap")
    out.parent.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    mn_key = KeyPair.generate(1024)
    hoa = cga_generate("2001:db8:1::/64", mn_key, sec=1)
    coa = cga_with_prefix(hoa, "2001:db8:2::/64")  # RFC 3972 §4: modifier reuse
    console.print(f"MN key RSA-{mn_key.bits}, CGA Sec=1 in {time.perf_counter() - t0:.2f} s")
    console.print(f"  HoA at DAR1 [bold]{hoa.address}[/]  CoA at DAR2 [bold]{coa.address}[/]")

    bu1 = first_bu(coa.address, hoa.address, DAR1, seq=100, lifetime=3600, keypair=mn_key, params=hoa.params)
    phkt = new_phkt()
    ba1 = binding_ack(bu1, status=0, lifetime=3600, phkt=phkt, mn_public_key=mn_key.public_der)
    bu2 = phkt_bu(coa.address, hoa.address, DAR1, seq=101, lifetime=3600, phkt=phkt)
    wrpcap(str(out), [bu1, ba1, bu2])
    console.print(f"wrote {out} (open it with: tshark -r {out} -V)")

    read = rdpcap(str(out))
    verdicts: list[tuple[str, Verdict]] = [
        ("first BU (CGA)", verify_bu(read[0])),
        ("BA (PHKT)", verify_ba(read[1], mn_keypair=mn_key, bu=read[0])),
        ("BU (PHKT)", verify_bu(read[2], phkt=phkt)),
    ]
    for (label, verdict), pkt in zip(verdicts, read):
        table = Table(title=f"{label}: {pkt.summary()}", title_justify="left")
        for col in ("check", "result", "detail"):
            table.add_column(col)
        for check in verdict.checks:
            style = {True: "green", False: "red", None: "yellow"}[check.ok]
            table.add_row(check.name, f"[{style}]{check.result}[/]", check.detail)
        console.print(table)
    ok = all(v for _, v in verdicts)
    console.print("[bold green]all verified[/]" if ok else "[bold red]verification failed[/]")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
