"""The JSON documents the tools write: the rules they share, and a JSON Schema for each.

Theory of operation
-------------------
Every document a command writes names its format in its first key, ``schema``,
as ``<document>/<major version>``; within a major version a key is never removed
or renamed, new keys may be added. Times and durations are seconds, floats
rounded to the microsecond (six decimals), so two runs that agree print the same
digits and no float noise (``0.30000000000000004``) reaches a script::

    document(NAME, body)   {"schema": NAME, **body}, every float in it rounded (in place)
    load(NAME)             the JSON Schema (draft 2020-12) of NAME, shipped beside this file
                           as <document>-<major>.json

    fama-analyze/1         fama-analyze --json                   scapy_fama.analysis.report
    fama-cga-gen/1         fama-cga gen --json                   scapy_fama.cli.cga
    fama-cga-verify/1      fama-cga verify --json
    fama-cga-show/1        fama-cga show --json
    fama-conformance/1     fama-conformance --json FILE          scapy_fama.conformance.report
    fama-fuzz/1            fama-fuzz --json, --out DIR/summary.json
    fama-fuzz-finding/1    fama-fuzz's DIR/<id>.json (read back by --replay)
    fama-lab-demo/1        fama-lab demo --json FILE             scapy_fama.lab.demo
    fama-lab-status/1      fama-lab status --json                scapy_fama.lab.control

The tests validate real output of every tool against these files with
``jsonschema``, so a key added to a document without its schema, or a schema
that no longer says what the tool writes, fails.
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

DECIMALS = 6  # a microsecond


def rounded(value: Any) -> Any:
    """``value`` with every float in it rounded to the microsecond; dicts and lists in place."""
    if isinstance(value, float):
        return round(value, DECIMALS)
    if isinstance(value, dict):
        for key, item in value.items():
            value[key] = rounded(item)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            value[i] = rounded(item)
    return value


def document(name: str, body: dict[str, Any]) -> dict[str, Any]:
    """The document ``name`` with ``body``: ``schema`` first, floats rounded."""
    return rounded({"schema": name, **body})


def load(name: str) -> dict[str, Any]:
    """The JSON Schema of document ``name`` ("fama-analyze/1" -> fama-analyze-1.json)."""
    resource = files(__name__).joinpath(name.replace("/", "-") + ".json")
    if not resource.is_file():
        raise ValueError(f"no JSON Schema for {name!r}")
    return json.loads(resource.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
