"""DESIGN.md's layering for the analyser: a tool layer over the bridge, imported by the CLI only."""

from __future__ import annotations

from pathlib import Path

from tests.test_architecture import _imports as imports

PACKAGE = Path(__file__).resolve().parents[2] / "scapy_fama"
ALLOWED = ("scapy_fama.analysis", "scapy_fama.codec", "scapy_fama.wire", "scapy_fama.verify", "scapy_fama.latency",
           "scapy_fama.layers", "scapy_fama.crypto", "scapy_fama.proto.messages", "scapy_fama.proto.seqno", "scapy_fama.proto.status",
           "scapy_fama.schemas")  # proto: its rules (one home per fact, DESIGN.md), never its cores


def test_analysis_imports_only_the_layers_below_it() -> None:
    for path in sorted((PACKAGE / "analysis").glob("*.py")):
        own = {m for m in imports(path) if m.startswith("scapy_fama")}
        assert all(m.startswith(ALLOWED) for m in own), (path.name, own - {m for m in own if m.startswith(ALLOWED)})


def test_only_the_cli_and_the_fuzzer_import_the_analysis() -> None:
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).parts
        if parts[0] in ("analysis", "cli", "fuzz"):  # fuzz: the harness of the analyser's fast path
            continue
        assert not {m for m in imports(path) if m.startswith("scapy_fama.analysis")}, path
