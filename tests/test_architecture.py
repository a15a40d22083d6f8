"""DESIGN.md's house rules, checked by walking every module's imports and syntax.

The layers of the house, lowest first; a module imports only from its own rank or below,
the tools never import one another (but the fuzzer's harness of the analyser), and nothing
imports the front ends::

    crypto < wire, schemas < layers < proto < codec < craft, verify < automata, net < tools < front ends
                                                       (analysis, conformance, fuzz, lab, wireshark)  (cli, shell)

Then the rules that keep one home per fact: the core and the byte model import no Scapy
(the core reads the wire's numbers, never its reader or writer); only the codec both
imports protocol messages and Scapy's Mobility Header classes; only ``wire`` packs
Mobility Header bytes (no ``struct`` elsewhere but for kernel and file formats, no MH
common part laid out by hand); the wire's numbers and the sequence-number space are
assigned nowhere else.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "scapy_fama"
SHELL = ROOT / "shell"

RANKS = [
    ("scapy_fama.crypto", 0),
    ("scapy_fama.interrupt", 0),
    ("scapy_fama.wire", 1),
    ("scapy_fama.schemas", 1),
    ("scapy_fama.layers", 2),
    ("scapy_fama.proto", 3),
    ("scapy_fama.codec", 4),
    ("scapy_fama.craft", 5),
    ("scapy_fama.verify", 5),
    ("scapy_fama.automata", 6),
    ("scapy_fama.net", 6),
    ("scapy_fama.analysis", 7),
    ("scapy_fama.conformance", 7),
    ("scapy_fama.fuzz", 7),
    ("scapy_fama.lab", 7),
    ("scapy_fama.wireshark", 7),
    ("scapy_fama.cli", 8),
    ("fama_shell", 8),
]
TOOLS = ("scapy_fama.analysis", "scapy_fama.conformance", "scapy_fama.fuzz", "scapy_fama.lab", "scapy_fama.wireshark")
FRONT_ENDS = ("scapy_fama.cli", "fama_shell")
# the one tool that may import another: the fuzzer has a harness for the analyser's fast path
TOOL_USES = {("scapy_fama.fuzz", "scapy_fama.analysis")}
MESSAGES = {"BindingUpdate", "BindingAck", "BindingError", "CareOfTest", "CareOfTestInit", "Datagram",
            "RouterAdvertisement", "RouterSolicitation", "Tunnelled", "UnknownMobility", "Undecodable"}  # fmt: skip
# Scapy's and our Mobility Header and option classes
MH_CLASS = re.compile(r"^(MIP6MH_\w+|MIP6Opt\w+|BU|BA|BE|BRR|HoT|HoTI|CoT|CoTI|GenericMH|MobilityOption|PHKTOpt|"
                      r"SignatureOpt|CGAParamsOpt|CareOfTest(Init)?Opt|NonceIndices|BindingAuthData|CGAParams(Request)?)$")
# struct is for kernel and file formats only: BPF programs, ioctls, pcap/pcapng records
STRUCT_ALLOWED = {"net/bpf.py", "net/ebpf.py", "net/lwt.py", "net/vnet.py", "net/kernel.py", "net/rtnetlink.py", "analysis/reader.py", "analysis/pcapng.py"}
# names of wire numbers and of the sequence-number space: one home each
FACT_NAME = re.compile(r"^(MH_TYPES|OPTION_NAMES|OPTION_LENGTHS|OPTIONS_START|MIN_HEADER_LEN|ALIGNMENT|LIFETIME_UNIT|"
                       r"MAX_OPTIONS|MH_PROTO|SEQ_SPACE|SEQ_MOD|\w+_TYPE|\w+_OPTION)$")  # fmt: skip
FACT_HOMES = {"wire/numbers.py", "proto/seqno.py"}


def _module_name(path: Path) -> str:
    if path.is_relative_to(SHELL):
        return "fama_shell." + path.relative_to(SHELL).with_suffix("").as_posix().replace("/", ".")
    return "scapy_fama." + path.relative_to(PACKAGE).with_suffix("").as_posix().replace("/", ".")


def _rank(module: str) -> tuple[str, int] | None:
    found = [(prefix, rank) for prefix, rank in RANKS if module == prefix or module.startswith(prefix + ".")]
    return max(found, key=lambda f: len(f[0])) if found else None


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text())


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _imported_names(path: Path) -> dict[str, set[str]]:
    """module -> the names imported from it (``from m import a, b``)."""
    out: dict[str, set[str]] = {}
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.setdefault(node.module, set()).update(a.name for a in node.names)
    return out


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py")) + sorted(SHELL.glob("*.py"))


def _modules(sub: str) -> list[Path]:
    return sorted((PACKAGE / sub).rglob("*.py")) if (PACKAGE / sub).exists() else []


def _rel(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix() if path.is_relative_to(PACKAGE) else path.name


@pytest.mark.parametrize("path", _sources(), ids=_rel)
def test_a_module_imports_only_its_rank_and_below(path: Path) -> None:
    here = _rank(_module_name(path))
    if here is None:  # the package's own __init__ and __main__
        return
    for module in _imports(path):
        there = _rank(module)
        if there is None or there[0] == here[0]:
            continue
        assert there[1] <= here[1], f"{_rel(path)} ({here[0]}) imports {module} from above it"
        if here[0] in TOOLS and (here[0], there[0]) not in TOOL_USES:
            assert there[0] not in TOOLS, f"{_rel(path)}: one tool imports another ({module})"


def test_nothing_imports_the_front_ends() -> None:
    for path in _sources():
        own = _rank(_module_name(path))
        if own is not None and own[0] in FRONT_ENDS:
            continue
        front = {m for m in _imports(path) if m.startswith(FRONT_ENDS)}
        assert not front, f"{_rel(path)} imports {front}"


@pytest.mark.parametrize("sub", ["crypto", "wire", "proto"])
def test_the_core_and_the_byte_model_import_no_scapy(sub: str) -> None:
    for path in _modules(sub):
        bad = {m for m in _imports(path) if m == "scapy" or m.startswith("scapy.")}
        assert not bad, f"{_rel(path)} imports {bad}"


def test_the_core_reads_the_wire_s_numbers_and_nothing_else_of_it() -> None:
    for path in _modules("proto"):
        wire = {m for m in _imports(path) if m.startswith("scapy_fama.wire")}
        assert wire <= {"scapy_fama.wire.numbers"}, f"{_rel(path)} imports {wire}"


def test_only_the_codec_knows_both_messages_and_scapy_mobility_classes() -> None:
    for path in _sources():
        module = _module_name(path)
        if module == "scapy_fama.codec" or module.startswith(("scapy_fama.layers",) + FRONT_ENDS):
            continue
        names = _imported_names(path)
        messages = names.get("scapy_fama.proto.messages", set()) & MESSAGES
        scapy_mh = {n for m, ns in names.items() if m.startswith(("scapy.layers", "scapy_fama.layers"))
                    for n in ns if MH_CLASS.match(n)}  # fmt: skip
        assert not (messages and scapy_mh), f"{_rel(path)} converts: {sorted(messages)} and {sorted(scapy_mh)}"


def test_only_wire_packs_bytes_with_struct() -> None:
    for path in _modules(""):
        rel = _rel(path)
        if rel.startswith(("wire/", "crypto/", "layers/")) or rel in STRUCT_ALLOWED:
            continue
        assert "struct" not in _imports(path), f"{rel} packs bytes with struct; the byte model is scapy_fama.wire"


def _lays_out_an_mh(node: ast.AST) -> bool:
    """``bytes((59, ...))`` or ``bytes([59, ...])``: an MH common part (Payload Proto 59) by hand."""
    return (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "bytes" and node.args != []
        and isinstance(node.args[0], (ast.Tuple, ast.List)) and node.args[0].elts != []
        and isinstance(node.args[0].elts[0], ast.Constant) and node.args[0].elts[0].value == 59
    )  # fmt: skip


def test_no_mobility_header_is_laid_out_by_hand_outside_wire() -> None:
    for path in _sources():
        if _rel(path).startswith("wire/"):
            continue
        assert not any(_lays_out_an_mh(n) for n in ast.walk(_tree(path))), f"{_rel(path)} lays out an MH by hand"


def test_wire_numbers_and_the_sequence_space_have_one_home() -> None:
    for path in _sources():
        if _rel(path) in FACT_HOMES:
            continue
        for node in _tree(path).body:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
            for target in targets:
                for name in [t.id for t in ast.walk(target) if isinstance(t, ast.Name)]:
                    assert not FACT_NAME.match(name), f"{_rel(path)} assigns {name}: import it from its one home"
