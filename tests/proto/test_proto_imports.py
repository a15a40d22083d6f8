"""The core is sans-I/O: walking the imports of every proto module finds no Scapy, clock,
sockets, threads, processes or hidden randomness, and nothing above crypto and proto but the
wire's numbers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import scapy_fama.proto

PROTO = Path(scapy_fama.proto.__file__).parent
FORBIDDEN = {
    "scapy",
    "time",
    "datetime",
    "socket",
    "select",
    "selectors",
    "asyncio",
    "threading",
    "multiprocessing",
    "concurrent",
    "subprocess",
    "random",
    "secrets",
    "os",
    "sched",
    "signal",
}


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted(PROTO.glob("*.py")), ids=lambda p: p.name)
def test_a_proto_module_does_no_io_and_keeps_its_layer(path: Path) -> None:
    names = imports(path)
    assert not {n for n in names if n.split(".")[0] in FORBIDDEN}, names
    ours = {n for n in names if n.startswith("scapy_fama")}
    # the wire's numbers (a lifetime unit, MH type names) but never its reader or writer
    assert all(n.startswith(("scapy_fama.proto", "scapy_fama.crypto")) or n == "scapy_fama.wire.numbers"
               for n in ours), ours


def test_every_module_opens_with_a_theory_of_operation() -> None:
    for path in PROTO.glob("*.py"):
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        assert "Theory of operation" in doc or "theory of operation" in doc.lower(), path.name
