"""Reports of a conformance run: the live rich table, JUnit XML, JSON and one pcap per case.

Theory of operation
-------------------
Reports read :class:`scapy_fama.conformance.runner.Outcome` objects and nothing
else (the cases and executors know nothing of them)::

    outcomes --> LiveTable   a row per case as it ends (ID, verdict, seconds, reason)
             --> matrix_table()  requirement clause -> its cases, coloured by verdict
             --> junit()     <testsuite> with <failure> (FAIL), <error> (ERROR), <skipped>
                             (INCONCLUSIVE); per case a <property name="requirement"> for
                             each clause it cites, the requirement and the pcap in <system-out>
             --> to_json()   schema "fama-conformance/1": the run, the counts, every case,
                             and the requirement matrix (clause -> {case: verdict})
             --> pcaps()     DIR/<ID>.pcap: the case's packets both ways, raw IPv6 (link type 101)

Seconds are the executor's everywhere (the live table, JUnit ``time``, the
JSON's ``seconds``): virtual seconds in-process, where a 30 s back-off costs
nothing, and wall-clock seconds on an interface; the JSON's ``clock`` and the
JUnit property ``clock`` say which ("virtual" or "wall"), and ``wall_seconds``
is the real time a case took here. A pcap's timestamps are real dates: the
case's start (``Outcome.epoch``, on the run's virtual timeline in-process)
plus each frame's time in the case.

CI systems read the JUnit file; a developer opens the pcap of a failed case in
Wireshark next to the reason; a TAHI-style user reads the matrix.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text
from scapy.utils import RawPcapWriter

from scapy_fama.conformance.case import Verdict
from scapy_fama.conformance.config import RunConfig
from scapy_fama.conformance.requirements import clauses, matrix
from scapy_fama.conformance.runner import Outcome
from scapy_fama.net.sim_topology import LINKTYPE_RAW
from scapy_fama.schemas import document

SCHEMA = "fama-conformance/1"
CLOCKS = {"inproc": "virtual", "iface": "wall"}  # what the seconds of a run's target are
STYLE = {
    Verdict.PASS: "green",
    Verdict.FAIL: "bold red",
    Verdict.INCONCLUSIVE: "yellow",
    Verdict.ERROR: "bold magenta",
}


def counts(outcomes: list[Outcome]) -> dict[str, int]:
    seen = Counter(o.verdict for o in outcomes)
    return {v.value: seen.get(v, 0) for v in Verdict}


class LiveTable:
    """Prints one line per finished case, then a summary."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def __call__(self, o: Outcome) -> None:
        line = Text()
        line.append(f"{o.case.id:<14}", "bold")
        line.append(f"{o.verdict.value.upper():<13}", STYLE[o.verdict])
        line.append(f"{o.duration:6.1f} s  ")
        line.append(o.case.title if o.verdict is Verdict.PASS else o.reason)
        self.console.print(line, overflow="fold")

    def summary(self, outcomes: list[Outcome]) -> None:
        table = Table(title="fama-conformance", show_header=True)
        for verdict in Verdict:
            table.add_column(verdict.value, justify="right", style=STYLE[verdict])
        table.add_row(*(str(n) for n in counts(outcomes).values()))
        self.console.print(table)


def requirement_matrix(outcomes: list[Outcome]) -> dict[str, dict[str, str]]:
    """Every clause the cases cite -> {case ID: its verdict}, in clause order."""
    verdicts = {o.case.id: o.verdict.value for o in outcomes}
    cited = matrix(o.case for o in outcomes)
    return {clause: {i: verdicts[i] for i in ids} for clause, ids in cited.items()}


def matrix_table(outcomes: list[Outcome]) -> Table:
    """The requirement matrix for the console: a clause per row, its cases by verdict colour."""
    table = Table("requirement", "cases", title="requirements -> cases")
    for clause, cases in requirement_matrix(outcomes).items():
        ids = Text()
        for n, (case_id, verdict) in enumerate(cases.items()):
            ids.append(("  " if n else "") + case_id, STYLE[Verdict(verdict)])
        table.add_row(clause, ids)
    return table


def _pcap_name(o: Outcome) -> str:
    return f"{o.case.id}.pcap"


def pcaps(outcomes: list[Outcome], folder: Path) -> None:
    """One pcap per case with its frames, each at its real date (see the module doc)."""
    for o in outcomes:
        with RawPcapWriter(str(folder / _pcap_name(o)), linktype=LINKTYPE_RAW, sync=True) as out:
            out.write_header(None)  # an empty case still gets a readable file
            for frame in o.frames:
                sec, usec = divmod(round((o.epoch + frame.time) * 1e6), 1_000_000)
                out.write_packet(frame.raw, sec=sec, usec=usec)


def junit(outcomes: list[Outcome], run: RunConfig, path: Path, pcap_dir: Path | None) -> None:
    n = counts(outcomes)
    suite = ET.Element(
        "testsuite",
        name=f"fama-conformance {run.role.upper()} ({run.target})",
        tests=str(len(outcomes)),
        failures=str(n["fail"]),
        errors=str(n["error"]),
        skipped=str(n["inconclusive"]),
        time=f"{sum(o.duration for o in outcomes):.3f}",
    )
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", name="clock", value=CLOCKS[run.target])
    wall = f"{sum(o.wall for o in outcomes):.3f}"
    ET.SubElement(properties, "property", name="wall_seconds", value=wall)
    for o in outcomes:
        tc = ET.SubElement(
            suite,
            "testcase",
            classname=f"fama.{o.case.role}.{o.case.group}",
            name=f"{o.case.id} {o.case.title}",
            time=f"{o.duration:.3f}",
        )
        cited = ET.SubElement(tc, "properties")
        for clause in clauses(o.case.requirement):
            ET.SubElement(cited, "property", name="requirement", value=clause)
        if o.verdict is Verdict.FAIL:
            ET.SubElement(tc, "failure", message=o.reason, type="nonconformance").text = o.reason
        elif o.verdict is Verdict.ERROR:
            ET.SubElement(tc, "error", message=o.reason, type="tester").text = o.reason
        elif o.verdict is Verdict.INCONCLUSIVE:
            ET.SubElement(tc, "skipped", message=f"inconclusive: {o.reason}")
        out = f"requirement: {o.case.requirement}\npackets: {len(o.frames)}"
        if pcap_dir is not None:
            out += f"\npcap: {pcap_dir / _pcap_name(o)}"
        ET.SubElement(tc, "system-out").text = out
    root = ET.Element("testsuites")
    root.append(suite)
    tree = ET.ElementTree(root)
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)


def to_json(outcomes: list[Outcome], run: RunConfig, pcap_dir: Path | None) -> dict[str, Any]:
    """The run as the ``fama-conformance/1`` document (scapy_fama/schemas/fama-conformance-1.json)."""
    return document(SCHEMA, {
        "run": asdict(run),
        "clock": CLOCKS[run.target],
        "counts": counts(outcomes),
        "cases": [
            {
                "id": o.case.id,
                "title": o.case.title,
                "requirement": o.case.requirement,
                "group": o.case.group,
                "verdict": o.verdict.value,
                "reason": o.reason,
                "seconds": round(o.duration, 6),
                "wall_seconds": round(o.wall, 6),
                "packets": len(o.frames),
                "pcap": None if pcap_dir is None else str(pcap_dir / _pcap_name(o)),
            }
            for o in outcomes
        ],
        "requirements": requirement_matrix(outcomes),
    })


def write_json(outcomes: list[Outcome], run: RunConfig, path: Path, pcap_dir: Path | None) -> None:
    path.write_text(json.dumps(to_json(outcomes, run, pcap_dir), indent=2) + "\n")
