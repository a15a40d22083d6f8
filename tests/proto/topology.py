"""Addresses of the test topology and deterministic randomness, shared by the proto tests."""

from __future__ import annotations

import random
from collections.abc import Callable

P1, P2, P3 = "2001:db8:1::/64", "2001:db8:2::/64", "2001:db8:3::/64"
DAR1, DAR2, DAR3 = "2001:db8:1::1", "2001:db8:2::1", "2001:db8:3::1"
CN = "2001:db8:ff::1"


def seeded(seed: int = 1) -> Callable[[int], bytes]:
    """``rand(n)`` for a core: n bytes from a seeded generator, the same on every run."""
    return random.Random(seed).randbytes
