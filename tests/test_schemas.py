"""The JSON each tool writes, validated against the JSON Schema shipped for it (jsonschema).

Real output only: fama-analyze on every capture of pcaps/ and ../shared/pcaps, fama-conformance
on DAR and MN cases in-process, fama-fuzz's summary and a finding of a planted defect, fama-cga's
three commands. Each document names its schema in its first key, ``schema``, and carries no float
finer than a microsecond. The lab's documents (demo, status) are validated where the lab runs
(tests/lab, root).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from scapy_fama import schemas
from scapy_fama.analysis.report import SCHEMA as ANALYZE
from scapy_fama.cli.analyze import main as analyze_main
from scapy_fama.cli.cga import SCHEMAS as CGA
from scapy_fama.cli.cga import main as cga_main
from scapy_fama.cli.conformance import main as conformance_main
from scapy_fama.cli.fuzz import main as fuzz_main
from scapy_fama.conformance.report import SCHEMA as CONFORMANCE
from scapy_fama.fuzz.campaign import SUMMARY_FORMAT as FUZZ
from scapy_fama.fuzz.findings import FORMAT as FUZZ_FINDING
from scapy_fama.fuzz.findings import MINIMISED, Finding
from scapy_fama.fuzz.findings import load as load_finding
from scapy_fama.fuzz.libfuzzer import Run
from scapy_fama.fuzz.oracles import Failure
from scapy_fama.lab.control import STATUS_SCHEMA as LAB_STATUS
from scapy_fama.lab.demo import SCHEMA as LAB_DEMO

jsonschema = pytest.importorskip("jsonschema")

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = sorted((ROOT / "pcaps").glob("*.pcap*")) + sorted((ROOT.parent / "shared" / "pcaps").glob("*.pcap"))
NAMES = (ANALYZE, CONFORMANCE, FUZZ, FUZZ_FINDING, LAB_DEMO, LAB_STATUS, *CGA.values())


def floats(value: Any) -> list[float]:
    if isinstance(value, float):
        return [value]
    if isinstance(value, dict):
        return [f for v in value.values() for f in floats(v)]
    if isinstance(value, list):
        return [f for v in value for f in floats(v)]
    return []


def valid(name: str, doc: Any) -> None:
    """``doc`` is a ``name`` document: its schema says so, and so does the document itself."""
    jsonschema.Draft202012Validator(schemas.load(name)).validate(doc)
    assert next(iter(doc)) == "schema" and doc["schema"] == name
    fine = [f for f in floats(doc) if round(f, schemas.DECIMALS) != f]
    assert not fine, f"floats finer than a microsecond: {fine[:5]}"


@pytest.mark.parametrize("name", NAMES)
def test_each_schema_is_a_valid_draft_2020_12_schema_named_for_its_document(name: str) -> None:
    schema = schemas.load(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["title"] == name and schema["properties"]["schema"] == {"const": name}


def test_a_document_without_its_schema_is_an_error() -> None:
    with pytest.raises(ValueError, match="no JSON Schema for 'fama-nothing/1'"):
        schemas.load("fama-nothing/1")


def test_rounding_is_to_the_microsecond() -> None:
    doc = schemas.document("x/1", {"a": 0.1 + 0.2, "b": [1.23456789, {"c": 2.0000004}], "d": 7})
    assert doc == {"schema": "x/1", "a": 0.3, "b": [1.234568, {"c": 2.0}], "d": 7}


@pytest.mark.parametrize("path", CAPTURES, ids=[p.name for p in CAPTURES])
def test_fama_analyze_json(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ours = path.is_relative_to(ROOT / "pcaps")  # their MN keys are in pcaps/keys: PHKTs and BADs checked too
    code = analyze_main([str(path), "--json", *(["--keys", str(ROOT / "pcaps" / "keys")] if ours else [])])
    assert code in (0, 1)  # 1: a capture cut short, still a document
    valid(ANALYZE, json.loads(capsys.readouterr().out))


def test_fama_conformance_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for role, cases in (("dar", ["DAR-BU-00*", "DAR-CGA-001"]), ("mn", ["MN-BU-001"])):
        out = tmp_path / f"{role}.json"
        assert conformance_main(["--role", role, *cases, "--json", str(out), "--pcap", str(tmp_path / role)]) in (0, 1)
        capsys.readouterr()
        doc = json.loads(out.read_text())
        valid(CONFORMANCE, doc)
        assert doc["cases"] and all(case["pcap"] for case in doc["cases"])


def test_fama_fuzz_summary_and_finding(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--target", "tests.fuzz.planted:OddLengthDissect", "--family", "structure", "--cases", "200",
            "--out", str(tmp_path), "--json"]
    assert fuzz_main(argv) == 1
    summary = json.loads(capsys.readouterr().out)
    valid(FUZZ, summary)
    assert summary["findings"]
    for finding in summary["findings"]:
        filed = json.loads(Path(finding["json"]).read_text())
        valid(FUZZ_FINDING, filed)
        assert filed["minimised"] == finding["minimised"] == "done"
        del filed["minimised"]  # a finding filed before fama-fuzz recorded it: still one, and still loads
        valid(FUZZ_FINDING, filed)
        Path(finding["json"]).write_text(json.dumps(filed))
        assert load_finding(Path(finding["json"])).minimised is None
    valid(FUZZ, json.loads((tmp_path / "summary.json").read_text()))
    minimised = schemas.load(FUZZ_FINDING)["properties"]["minimised"]["enum"]
    assert minimised == [*MINIMISED, None] == schemas.load(FUZZ)["properties"]["findings"]["items"]["properties"][
        "minimised"]["enum"]


def test_fama_fuzz_libfuzzer_summary(tmp_path: Path) -> None:
    """--engine libfuzzer's summary (atheris is not needed to write one): the same document."""
    failure = Failure("exception", "TypeError", "odd length", "planted.py:30")
    finding = Finding("dissect", 0, 0, "libfuzzer", False, "", [], [], failure, b"\x60", b"\x60", True,
                      engine="libfuzzer", minimised="no-chain")
    run = Run("dissect", False, ["fama-fuzz-harness", "-runs=10"], seconds=1.25, execs=10, cov=7, features=9,
              corpus=3, findings=[finding], paths={finding.id: tmp_path / f"{finding.id}.json"}, seeded=4, seeds=9)
    valid(FUZZ, run.as_dict())
    assert run.as_dict()["seed_corpus"] == {"written": 4, "inputs": 9}
    valid(FUZZ, replace(run, seeded=0, seeds=0).as_dict())  # a corpus not seeded: null
    valid(FUZZ_FINDING, finding.as_dict())


def test_fama_cga_gen_verify_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Each of fama-cga's --json outputs is its document; the parameters are the bytes --out wrote."""

    def cga(*argv: str) -> tuple[int, dict[str, Any]]:
        code = cga_main([*argv, "--json"])
        return code, json.loads(capsys.readouterr().out)

    params = tmp_path / "mn.params"
    code, gen = cga("gen", "--prefix", "2001:db8:7::/64", "--sec", "0", "--key", str(tmp_path / "mn.pem"),
                    "--out", str(params))
    assert code == 0 and gen["params"] == params.read_bytes().hex() and gen["params_file"] == str(params)
    valid(CGA["gen"], gen)
    for address, expected in ((gen["address"], (0, True, "OK")), ("2001:db8:7::1", (1, False, "HASH1"))):
        code, verdict = cga("verify", address, str(params))
        assert (code, verdict["valid"], verdict["step"]) == expected
        valid(CGA["verify"], verdict)
    code, shown = cga("show", str(params))
    assert code == 0 and shown["subnet_prefix"] == "2001:db8:7::/64" and shown["length"] == len(params.read_bytes())
    valid(CGA["show"], shown)


def test_fama_cga_show_rfc_3972_example(shared_pcaps: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Another tool's parameters (sendd, RFC 3972 Appendix A: an RSA-512 key)."""
    assert cga_main(["show", str(shared_pcaps / "cga" / "sendd_rfc3972_example.params"), "--json"]) == 0
    valid(CGA["show"], json.loads(capsys.readouterr().out))
