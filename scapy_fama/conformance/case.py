"""Conformance cases: what one checks, the verdict it reaches, and the catalogue of all of them.

Theory of operation
-------------------
A case is a plain function of a tester (the DAR tester or the MN tester, see
:mod:`scapy_fama.conformance.dar_tester` and ``mn_tester``) registered with
:func:`case`, which records its ID, title, the requirement it checks and its
group. The function sends packets through the tester and checks what comes
back; it ends in one of three verdicts::

    returns normally                    PASS
    raises Fail("why")                  FAIL          the IUT broke the requirement
    raises Inconclusive("why")          INCONCLUSIVE  the run could not decide (the IUT's
                                                      configuration, or a set-up step failed)

Any other exception is a fault of the tester, reported as an error verdict
with its one-line cause, so that one bad case never stops a run; only a
:class:`TestBedError` (the test bed, not the IUT, is broken) stops it. The
case knows nothing of the link or the clock (the executor's) nor of the
reports.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from scapy_fama.conformance.executor import Setup
from scapy_fama.conformance.requirements import clauses

ROLES = ("dar", "mn")


class Verdict(str, Enum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"  # the tester itself failed: a bug of ours, never the IUT's


class Fail(Exception):
    """The IUT does not meet the requirement: the message says what it did instead."""


class Inconclusive(Exception):
    """The case could not reach a verdict (say why, and what would let it)."""


class TestBedError(ValueError):
    """The test bed is broken, not the IUT: no verdict would be true, so the run stops (the
    command says why in one line, exit 2)."""

    __test__ = False  # not a pytest test class, whatever its name


@dataclass(frozen=True)
class Case:
    id: str  # "DAR-BU-001"
    title: str
    requirement: str  # "RFC 6275 §9.5.1 (status 135); profile §6 step 3": see requirements.py
    role: str  # "dar" or "mn": the IUT's role
    group: str  # "mh", "bu", "cga", ...
    run: Callable[[Any], None]
    setup: Setup = Setup()  # what the IUT must be (in-process: how it is built)

    def matches(self, pattern: str) -> bool:
        """ID glob (``DAR-CGA-*``), group name (``cga``), role (``dar``) or ``all``,
        case-insensitive."""
        p = pattern.lower()
        return p in ("all", self.group, self.role) or fnmatch.fnmatch(self.id.lower(), p)


CATALOGUE: dict[str, Case] = {}


def case(
    id: str, title: str, requirement: str, *, group: str, setup: Setup = Setup()
) -> Callable[[Callable[[Any], None]], Callable[[Any], None]]:
    """Register a case function under ``id`` (its role is the ID's first word); the
    requirement must be in the form :func:`scapy_fama.conformance.requirements.clauses` reads."""
    role = id.split("-", 1)[0].lower()
    if role not in ROLES:
        raise ValueError(f"case {id}: the ID starts with DAR- or MN-")
    clauses(requirement)

    def register(fn: Callable[[Any], None]) -> Callable[[Any], None]:
        if id in CATALOGUE:
            raise ValueError(f"case {id} registered twice")
        CATALOGUE[id] = Case(id, title, requirement, role, group, fn, setup)
        return fn

    return register


def select(role: str, patterns: list[str] | None = None) -> list[Case]:
    """The cases of ``role`` matching any of ``patterns`` (all without), in ID order."""
    chosen = [
        c
        for c in CATALOGUE.values()
        if c.role == role and (not patterns or any(c.matches(p) for p in patterns))
    ]
    if patterns and not chosen:
        raise ValueError(f"no {role.upper()} case matches {', '.join(patterns)} (see --list)")
    return sorted(chosen, key=lambda c: c.id)
