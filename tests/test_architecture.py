"""DESIGN.md's layering, checked by walking every module's imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "scapy_fama"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules(sub: str) -> list[Path]:
    return sorted((PACKAGE / sub).rglob("*.py")) if (PACKAGE / sub).exists() else []


@pytest.mark.parametrize("sub", ["crypto", "proto"])
def test_core_and_crypto_do_not_import_scapy(sub: str) -> None:
    for path in _modules(sub):
        bad = {m for m in _imports(path) if m == "scapy" or m.startswith("scapy.")}
        assert not bad, f"{path.relative_to(PACKAGE)} imports {bad}"


def test_crypto_imports_nothing_above_it() -> None:
    for path in _modules("crypto"):
        above = {m for m in _imports(path) if m.startswith("scapy_fama.") and not m.startswith("scapy_fama.crypto")}
        assert not above, f"{path.relative_to(PACKAGE)} imports {above}"


def test_layers_import_only_crypto_and_themselves() -> None:
    for path in _modules("layers"):
        own = {m for m in _imports(path) if m.startswith("scapy_fama.")}
        assert all(m.startswith(("scapy_fama.layers", "scapy_fama.crypto")) for m in own), (path, own)


def test_nothing_imports_the_front_ends() -> None:
    for path in PACKAGE.rglob("*.py"):
        if "cli" in path.relative_to(PACKAGE).parts:
            continue
        front = {m for m in _imports(path) if m.startswith(("scapy_fama.cli", "fama_shell"))}
        assert not front, f"{path.relative_to(PACKAGE)} imports {front}"
