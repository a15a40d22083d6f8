"""Shared fixtures: RSA keys are slow to make, so each test session makes a few once."""

from __future__ import annotations

from pathlib import Path

import pytest

import scapy_fama  # noqa: F401  (registers the layers)
from scapy_fama.crypto import Cga, KeyPair, cga_generate, cga_with_prefix
from tests.corpus import SHARED_PCAPS


@pytest.fixture(scope="session")
def mn_key() -> KeyPair:
    return KeyPair.generate(1024)


@pytest.fixture(scope="session")
def dar_key() -> KeyPair:
    return KeyPair.generate(1024)


@pytest.fixture(scope="session")
def big_key() -> KeyPair:
    return KeyPair.generate(1536)


@pytest.fixture(scope="session")
def shared_pcaps() -> Path:
    if not SHARED_PCAPS.is_dir():
        pytest.skip(f"../shared/pcaps not found next to the clone ({SHARED_PCAPS})")
    return SHARED_PCAPS


@pytest.fixture(scope="session")
def cgas(mn_key: KeyPair) -> tuple[Cga, Cga]:
    """The MN's CGA at DAR1 (2001:db8:1::/64, Sec 0) and, modifier reused, at DAR2."""
    hoa = cga_generate("2001:db8:1::/64", mn_key, sec=0)
    return hoa, cga_with_prefix(hoa, "2001:db8:2::/64")
