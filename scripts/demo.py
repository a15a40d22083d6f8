"""make demo: a complete multi-DAR handover story on fama-shell's API, then a replay.

The draft's figures on the default topology (dar1..dar3 with 2001:db8:{1,2,3}::/64, cn, mn):

1. figure 1: mn attaches to dar1, flow 0 runs on its address there (HoA1); mn moves to dar2
   and keeps HoA1 with one CGA-signed BU to dar1 (through dar2), BA 0 with a PHKT;
2. figure 2: flow 1 starts on the address at dar2 (CoA2), native there;
3. figure 3: mn moves to dar3: a PHKT BU to dar1 (figure 4: the DAR's second BU from this
   MN needs no CGA) and a CGA-signed BU to dar2; both addresses are tunnelled to CoA3;
4. the pcaps are written; the capture's conversation with dar1 is replayed against dar1 as it
   was (refused: BA 135, the sequence numbers are old) and re-signed with a fresh key
   (reproduced: the same messages and statuses).

Everything it writes stays in its folder (``out/demo`` by default): the pcaps, the MN's key in
``cache/`` unless ``FAMA_SHELL_CACHE`` names another folder, and Scapy's own caches (its
manufacturer and services tables) in ``cache/scapy/`` unless ``XDG_CACHE_HOME`` names another:
nothing goes to ``~/.cache``.

It prints the charts, the binding caches and the pcap paths, and exits 0 only when every
step did what the draft says (so `make demo` fails loudly if the story breaks).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

OUT = Path(sys.argv[1] if len(sys.argv) > 1 else "out/demo")
if "XDG_CACHE_HOME" not in os.environ:  # read by Scapy when it is imported, just below
    (OUT / "cache").mkdir(parents=True, exist_ok=True)
    os.environ["XDG_CACHE_HOME"] = str(OUT / "cache")

from fama_shell.session import Session  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.rule import Rule  # noqa: E402

from scapy_fama.cli.common import rich_console  # noqa: E402


def check(what: str, ok: bool, console: Console) -> bool:
    console.print(f"  [{'green' if ok else 'bold red'}]{'ok' if ok else 'FAILED'}[/] {what}")
    return ok


def main() -> int:
    console = rich_console()
    out = OUT
    os.environ.setdefault("FAMA_SHELL_CACHE", str(out / "cache"))  # the MN key stays with the demo
    s = Session.default()
    console.print(Rule("fama-shell demo: figures 1-3 of draft-bernardos-dmm-cmip on SimNet"))
    console.print(s.topo())

    console.print(s.attach("mn", "dar1"))
    hoa1 = s.mn().current_address
    s.flow("cn", "mn")
    fig1 = s.handover("mn", "dar2")
    coa2 = s.mn().current_address
    s.flow("mn", "cn")
    fig3 = s.handover("mn", "dar3")
    coa3 = s.mn().current_address
    s.run(2)

    console.print(Rule("the whole story"))
    console.print(s.msc())
    for dar in ("dar1", "dar2", "dar3"):
        console.print(s.bc(dar))
    console.print(s.addrs())
    console.print(s.flows())
    saved = s.save(out)
    console.print(saved)

    console.print(Rule("replay of the capture's conversation with dar1"))
    as_is = s.replay(out, "dar1", mode="as-is")
    console.print(as_is)
    resigned = s.replay(out, "dar1", mode="re-sign")
    console.print(resigned)

    console.print(Rule("checks"))
    bc1, bc2 = s.bc("dar1"), s.bc("dar2")
    fig3_bus = {r.dst: r.label for r in fig3.messages("BU")}
    results = [
        check(
            "figure 1: one CGA-signed BU mn -> dar1 via dar2, BA 0",
            [(r.dst, r.via, r.label.endswith("cga+sig")) for r in fig1.messages("BU")]
            == [("dar1", ("dar2",), True)]
            and [r.status for r in fig1.messages("BA")] == [0],
            console,
        ),
        check(
            "figure 3/4: a PHKT BU to dar1, a CGA BU to dar2, both BA 0",
            fig3_bus.get("dar1", "").endswith("ni+bad")
            and fig3_bus.get("dar2", "").endswith("cga+sig")
            and [r.status for r in fig3.messages("BA")] == [0, 0],
            console,
        ),
        check(
            "binding caches: HoA1 -> CoA3 at dar1, CoA2 -> CoA3 at dar2",
            (row1 := bc1.binding(hoa1 or "")) is not None
            and row1.coa == coa3
            and (row2 := bc2.binding(coa2 or "")) is not None
            and row2.coa == coa3,
            console,
        ),
        check(
            "both flows get data through after the moves",
            all(r.state == "running" and not r.down.startswith("0/") for r in s.flows().rows),
            console,
        ),
        check("replay as-is refused by dar1", not as_is.accepted, console),
        check("replay re-signed reproduces the handover", resigned.same, console),
    ]
    console.print(f"pcaps: {', '.join(saved.paths.values())} (tshark -r FILE -V)")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
