"""The cases' citations: one readable form, profile clauses that exist, and the matrix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scapy_fama.conformance import catalogue
from scapy_fama.conformance.case import CATALOGUE, case
from scapy_fama.conformance.requirements import clauses, matrix

catalogue.load()
PROFILE = Path(__file__).resolve().parents[3] / "shared" / "spec" / "fama-profile.md"


def test_a_requirement_reads_as_its_clauses_without_the_notes() -> None:
    text = "RFC 6275 §11.5.5, §9.5.4 (no routing header, ever); profile §4, §6 step 5 (CoA == HoA)"
    assert clauses(text) == [
        "RFC 6275 §11.5.5", "RFC 6275 §9.5.4", "profile §4", "profile §6 step 5"
    ]  # fmt: skip
    assert clauses("profile §3; draft-bernardos-dmm-cmip §A.5") == [
        "profile §3", "draft-bernardos-dmm-cmip §A.5"
    ]  # fmt: skip


@pytest.mark.parametrize(
    "bad",
    ["RFC 6275 9.5.1", "RFC 6275 §9.5.1,§10.3.1", "RFC 4866 §5.1-§5.3", "profile §6 steps 4 and 7",
     "RFC 6275 §9.5.1; ", "the profile §6"],
)  # fmt: skip
def test_a_requirement_in_another_form_cannot_be_registered(bad: str) -> None:
    with pytest.raises(ValueError, match="expected 'RFC n"):
        case("DAR-XX-999", "never registered", bad, group="xx")


def _profile_clauses() -> set[str]:
    """'profile §N' for every section of ../shared/spec/fama-profile.md, 'profile §N step M'
    for every numbered item in it."""
    if not PROFILE.is_file():
        pytest.skip(f"{PROFILE} not found next to the clone")
    found, section = set(), None
    for line in PROFILE.read_text().splitlines():
        if heading := re.match(r"## (\d+)\. ", line):
            section = heading.group(1)
            found.add(f"profile §{section}")
        elif section and (item := re.match(r"(\d+)\. ", line)):
            found.add(f"profile §{section} step {item.group(1)}")
    return found


def test_every_profile_clause_a_case_cites_exists_in_the_profile() -> None:
    cited = {c for c in matrix(CATALOGUE.values()) if c.startswith("profile")}
    assert cited and cited <= _profile_clauses(), cited - _profile_clauses()


def test_the_citations_the_review_corrected() -> None:
    cites = {i: clauses(c.requirement) for i, c in CATALOGUE.items()}
    assert {"RFC 6275 §11.5.5", "RFC 6275 §9.5.4"} <= set(cites["DAR-BU-011"])
    assert "RFC 6275 §11.5.4" not in cites["DAR-BU-011"]  # multiple CoAs, not returning home
    for phkt in ("DAR-PHKT-003", "DAR-PHKT-004"):  # §5.3 is the PHKT option's format
        assert {"RFC 4866 §5.7", "RFC 4866 §4.2"} <= set(cites[phkt]) and "RFC 4866 §5.3" not in cites[phkt]
    assert "profile §5" in cites["DAR-PHKT-006"] and CATALOGUE["DAR-PHKT-006"].setup.secure
    assert "RFC 3972 §5 step 1" in cites["DAR-CGA-010"]  # the collision count is step 1
    assert "RFC 3972 §5 step 2" in cites["DAR-CGA-011"]  # the subnet prefix is step 2


def test_the_matrix_lists_each_clause_once_in_document_order() -> None:
    cited = matrix(CATALOGUE.values())
    keys = list(cited)
    assert keys[0].startswith("profile") and keys.index("RFC 2473 §3.1") < keys.index("RFC 6275 §6.1.1")
    assert keys.index("RFC 6275 §9.5.4") < keys.index("RFC 6275 §10.3.1")  # numerically, not as text
    assert set(cited["RFC 6275 §9.5.4"]) >= {"DAR-BU-011", "DAR-BA-001"}
    assert all(len(ids) == len(set(ids)) for ids in cited.values())
    every = {i for ids in cited.values() for i in ids}
    assert every == set(CATALOGUE)
