"""Fixtures of the SimNet tests: the session's RSA keys (tests/conftest.py) plus an attacker's."""

from __future__ import annotations

import pytest

from scapy_fama.crypto import KeyPair


@pytest.fixture(scope="session")
def eve_key() -> KeyPair:
    """The attacker's own RSA key."""
    return KeyPair.generate(1024)
