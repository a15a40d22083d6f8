"""A PNG timeline per MN (matplotlib, imported only when a plot is asked for).

Theory of operation
-------------------
Two panels share the time axis (seconds since the capture's first frame)::

    signalling  one lane per binding (HoA @ DAR): BU ▲, BA ● (green accepted, red refused),
                a line from each BU to its BA; dotted lines: attachments (RS), dashed:
                handovers (first signalling from a new CoA), labelled with the CoA
    tunnel      packets per second through each binding's tunnel, down (DAR -> CoA) and up

One MN writes ``OUT.png``; several write ``OUT-mn1.png``, ``OUT-mn2.png``, ...; none
writes nothing (the caller says so). The Agg backend is used, so no display is
needed. :func:`output` checks the path before any work: a folder that exists and
can be written, and a format the backend writes (named by the suffix; none: PNG).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.backends.backend_agg import FigureCanvasAgg

from scapy_fama.analysis.analyze import Analysis
from scapy_fama.analysis.reconstruct import MobileNode


def _short(address: str) -> str:
    """The last two groups of an address: enough to tell an MN's addresses apart."""
    return "…" + ":".join(address.split(":")[-2:])


def plot_mn(m: MobileNode, first: float, out: Path) -> Path:
    """Draw ``m``'s timeline into ``out``."""
    lanes = {(b.hoa, b.dar): i for i, b in enumerate(m.bindings)}
    fig, (top, bottom) = plt.subplots(
        2, 1, sharex=True, figsize=(11, 2.5 + 0.5 * len(lanes) + 2.5), gridspec_kw={"height_ratios": [1 + len(lanes), 3]}
    )
    for b in m.bindings:
        y = lanes[(b.hoa, b.dar)]
        for ex in b.exchanges:
            t0 = ex.time - first
            top.plot([t0], [y], marker="^", color="tab:blue", markersize=7, linestyle="none")
            if ex.ba_time is not None:
                t1 = ex.ba_time - first
                colour = "tab:green" if ex.accepted else "tab:red"
                top.plot([t0, t1], [y, y], color=colour, linewidth=1.5)
                top.plot([t1], [y], marker="o", color=colour, markersize=6, linestyle="none")
                if not ex.accepted:
                    top.annotate(str(ex.status), (t1, y), textcoords="offset points", xytext=(3, 6), fontsize=7)
        for way, count, style in (("down", b.tunnel_down, "-"), ("up", b.tunnel_up, "--")):
            if count.packets:
                seconds = range(count.base - 1, count.base + len(count.counts) + 1)  # idle seconds are 0
                values = [0, *count.counts, 0]
                bottom.step([s - first for s in seconds], values, where="post",
                            linestyle=style, label=f"{_short(b.hoa)} @ {b.dar} {way}")
    for a in m.attachments:
        top.axvline(a.time - first, color="grey", linestyle=":", linewidth=1)
        top.annotate(f"RS {a.prefix}", (a.time - first, len(lanes) - 0.4), fontsize=7, rotation=90, va="top")
    for h in m.handovers:
        top.axvline(h.time - first, color="tab:purple", linestyle="--", linewidth=1)
        top.annotate(f"CoA {_short(h.coa)}", (h.time - first, -0.6), fontsize=7, color="tab:purple")
    top.set_yticks(list(lanes.values()), [f"{_short(h)} @ {d}" for h, d in lanes])
    top.set_ylim(-0.8, len(lanes) - 0.2 if lanes else 0.5)
    top.set_title(f"{m.id}: {', '.join(m.addresses)}", fontsize=9)
    top.grid(axis="x", alpha=0.3)
    bottom.set_ylabel("tunnel packets/s")
    bottom.set_xlabel("seconds since the first frame")
    if bottom.get_legend_handles_labels()[0]:
        bottom.legend(fontsize=7, loc="upper right")
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def output(out: Path) -> Path:
    """``out`` as the plot will be written (``.png`` added when it has no suffix), or a one-line
    ValueError: no backend writes its format (fama-analyze checks the path itself)."""
    out = out if out.suffix else out.with_suffix(".png")
    formats = FigureCanvasAgg.get_supported_filetypes()
    if out.suffix[1:].lower() not in formats:
        raise ValueError(f"--plot {out}: cannot write {out.suffix} images; "
                         f"use one of .{', .'.join(sorted(formats))}")
    return out


def plot_timelines(analysis: Analysis, out: Path) -> list[Path]:
    """One image per MN (none for no MN): ``out`` itself for one, ``<stem>-<mn id><suffix>`` for
    several; ``out`` as :func:`output` returned it."""
    first = analysis.first_time or 0.0
    if len(analysis.mns) == 1:
        return [plot_mn(analysis.mns[0], first, out)]
    return [plot_mn(m, first, out.with_name(f"{out.stem}-{m.id}{out.suffix}")) for m in analysis.mns]
