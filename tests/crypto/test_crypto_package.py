"""scapy_fama.crypto as a package: its public names and the layering rule of DESIGN.md."""

import ast
from pathlib import Path

import scapy_fama.crypto as crypto

PACKAGE = Path(crypto.__file__).parent
ALLOWED_ROOTS = {
    "cryptography", "hashlib", "hmac", "secrets", "multiprocessing", "concurrent", "scapy_fama",
    "atexit", "collections", "ctypes", "dataclasses", "enum", "functools", "ipaddress", "itertools",
    "os", "pathlib", "signal", "threading",
    "socket",  # inet_pton/inet_ntop only: address text <-> bytes, no I/O
}


def test_every_public_name_is_exported() -> None:
    assert sorted(crypto.__all__) == sorted(set(crypto.__all__))
    for name in crypto.__all__:
        assert getattr(crypto, name) is not None


def test_crypto_imports_no_scapy_and_nothing_above_it() -> None:
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in ALLOWED_ROOTS, f"{path.name} imports {name}"
                if name.startswith("scapy_fama"):
                    assert name.startswith("scapy_fama.crypto"), f"{path.name} imports {name}"


def test_each_module_opens_with_a_theory_of_operation() -> None:
    for path in PACKAGE.glob("*.py"):
        docstring = ast.get_docstring(ast.parse(path.read_text()))
        assert docstring and len(docstring.splitlines()) >= 3, path.name
