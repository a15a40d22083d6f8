"""Fixtures of the shell tests: a session on the default topology after the figures 1-3 story.

The story (DESIGN.md, the draft's figures): mn attaches to dar1 and opens flow 0 on its
address there (HoA1), hands over to dar2 (one CGA-signed BU to dar1), opens flow 1 on its
address at dar2 (CoA2), hands over to dar3 (a PHKT BU to dar1, a CGA BU to dar2).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from fama_shell.session import Session


@dataclass
class Story:
    session: Session
    hoa1: str
    coa2: str
    coa3: str


def figures(session: Session) -> Story:
    session.attach("mn", "dar1")
    hoa1 = session.mn().current_address
    session.flow("cn", "mn")
    session.handover("mn", "dar2")
    coa2 = session.mn().current_address
    session.flow("mn", "cn")
    session.handover("mn", "dar3")
    coa3 = session.mn().current_address
    assert hoa1 and coa2 and coa3
    return Story(session, hoa1, coa2, coa3)


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """The MN key cache of these tests: one folder for the run, never the user's."""
    monkeypatch.setenv("FAMA_SHELL_CACHE", str(tmp_path_factory.getbasetemp() / "fama-shell-cache"))


@pytest.fixture
def session() -> Session:
    return Session.default()


@pytest.fixture
def story(session: Session) -> Story:
    return figures(session)
