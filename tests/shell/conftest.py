"""Fixtures of the shell tests: a session on the default topology, and after the story
of figures 1-3 (shell_story.py); the MN key cache is a folder of the test run's."""

from __future__ import annotations

import pytest
from fama_shell.session import Session
from shell_story import Story, figures


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """The MN key cache and IPython's folder of these tests: one each for the run, never the user's."""
    base = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("FAMA_SHELL_CACHE", str(base / "fama-shell-cache"))
    monkeypatch.setenv("IPYTHONDIR", str(base / "ipython"))


@pytest.fixture
def session() -> Session:
    return Session.default()


@pytest.fixture
def story(session: Session) -> Story:
    return figures(session)
