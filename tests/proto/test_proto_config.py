"""config: the profile's defaults, and the lifetime units of the wire."""

from __future__ import annotations

import pytest

from scapy_fama.proto.config import DarConfig, MnConfig
from scapy_fama.proto.messages import wire_lifetime
from scapy_fama.proto.keep import KeepPolicy


def test_profile_defaults() -> None:
    mn = MnConfig()
    assert (mn.sec, mn.keep, mn.refresh_fraction, mn.coa_test) == (1, KeepPolicy.FLOWS, 0.8, False)
    assert (mn.optimistic, mn.rs_delay, mn.dad_delay) == (True, 0.0, 1.0)  # profile §2
    dar = DarConfig()
    assert dar.max_binding_lifetime == 86_400 and dar.require_coa_test is False
    assert (dar.ra_delay, dar.min_delay_between_ras) == (0.0, 0.03)  # §2 step 1, RFC 6275 §7.5
    assert dar.max_records == 4 * 4096 and DarConfig(record_capacity=5000).max_records == 5000


def test_lifetimes_round_down_to_4_second_units_in_16_bits() -> None:
    assert [wire_lifetime(s) for s in (0, 3, 4, 7, 401.9)] == [0, 0, 4, 4, 400]
    assert wire_lifetime(10**7) == 0xFFFF * 4 and wire_lifetime(-5) == 0


@pytest.mark.parametrize(
    "make",
    [
        lambda: MnConfig(refresh_fraction=1.0),
        lambda: MnConfig(dad_delay=-1),
        lambda: MnConfig(rs_delay=-0.1),
        lambda: DarConfig(ra_delay=-0.1),
        lambda: DarConfig(min_delay_between_ras=0),
        lambda: DarConfig(cache_capacity=10, record_capacity=9),
        lambda: DarConfig(binding_error_prefix_burst=0),
        lambda: MnConfig(binding_lifetime=0),
        lambda: DarConfig(cache_capacity=0),
        lambda: DarConfig(cga_checks_per_second=0),
    ],
)
def test_nonsense_is_refused(make) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        make()
