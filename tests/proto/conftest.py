"""Fixtures of the proto tests: deterministic randomness, addresses, Sec 0 CGAs.

RSA keys come from the session fixtures of ``tests/conftest.py`` (made once per
run); the cores get ``random.Random(seed).randbytes`` so every run is the same.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from topology import P1, P2, seeded

from scapy_fama.crypto import Cga, KeyPair, cga_generate, cga_with_prefix


@pytest.fixture
def rand() -> Callable[[int], bytes]:
    return seeded()


@pytest.fixture(scope="session")
def hoa_cga(mn_key: KeyPair) -> Cga:
    """The MN's CGA on DAR1's prefix (Sec 0)."""
    return cga_generate(P1, mn_key, sec=0, modifier=bytes(16))


@pytest.fixture(scope="session")
def coa_cga(hoa_cga: Cga) -> Cga:
    """The same key and modifier on DAR2's prefix."""
    return cga_with_prefix(hoa_cga, P2)
