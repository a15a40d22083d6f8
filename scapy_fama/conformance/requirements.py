"""Requirements: the clauses a case cites, and the requirement -> cases matrix of a run.

Theory of operation
-------------------
A case's ``requirement`` is one line in a fixed form, so that a matrix can be
read from it (TAHI-style traceability: which cases check this clause, and how
did they end)::

    RFC 6275 §11.5.5, §9.5.4 (no routing header); profile §4, §6 step 5
    '------------ one reference ------------'    '---- another ----'

References are separated by "; ". Each names a document (``RFC n``,
``profile`` for ../shared/spec/fama-profile.md, or a ``draft-...``) and then
its clauses separated by ", ": a section (``§9.5.4``, ``§A.5``), optionally
one step of it (``§6 step 5``), optionally a note in brackets that says what
of the clause the case checks. The matrix keys are the clauses without their
notes ("RFC 6275 §9.5.4", "profile §6 step 5"), sorted by document and then
section number. :func:`clauses` rejects a line that is not in this form, so a
case cannot be registered with a citation the matrix would misread.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Protocol

DOCUMENT = r"RFC \d{3,4}|profile|draft-[a-z0-9-]+"
CLAUSE = r"§(?:\d+|[A-Z])(?:\.\d+)*(?: step \d+)?"
NOTE = r"(?: \([^()]+\))?"
_REFERENCE = re.compile(rf"({DOCUMENT}) ({CLAUSE}{NOTE}(?:, {CLAUSE}{NOTE})*)")
_CLAUSE = re.compile(rf"({CLAUSE}){NOTE}")


class Cited(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def requirement(self) -> str: ...


def clauses(requirement: str) -> list[str]:
    """The clauses ``requirement`` cites, as matrix keys (ValueError if it is not in the form)."""
    found = []
    for reference in requirement.split("; "):
        match = _REFERENCE.fullmatch(reference)
        if match is None:
            raise ValueError(
                f"requirement {reference!r}: expected 'RFC n §x.y[ step n][ (note)], ...', "
                "'profile §n ...' or 'draft-... §x ...'"
            )
        document, rest = match.groups()
        found += [f"{document} {clause}" for clause in _CLAUSE.findall(rest)]
    return found


def _order(clause: str) -> tuple[int, int, tuple[int, ...]]:
    """Sort key: the profile first, then RFCs by number, then drafts; sections numerically."""
    document, section = clause.split(" §")
    number = re.sub(r"\D", "", document) if document.startswith("RFC") else ""
    rank = 0 if document == "profile" else (1 if number else 2)
    parts = tuple(int(p) if p.isdigit() else ord(p) for p in re.findall(r"\d+|[A-Z]", section))
    return rank, int(number or 0), parts


def matrix(cases: Iterable[Cited]) -> dict[str, list[str]]:
    """Every clause cited by ``cases`` -> the IDs of the cases citing it, in clause order."""
    cited: dict[str, list[str]] = {}
    for case in cases:
        for clause in clauses(case.requirement):
            cited.setdefault(clause, [])
            if case.id not in cited[clause]:
                cited[clause].append(case.id)
    return {clause: cited[clause] for clause in sorted(cited, key=_order)}
