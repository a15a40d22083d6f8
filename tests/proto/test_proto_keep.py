"""keep: the keep policies of profile §3."""

from __future__ import annotations

import pytest

from scapy_fama.proto.keep import KeepPolicy, KeepRules

A, B = "2001:db8:1::a", "2001:db8:2::b"


def test_flows_keeps_an_address_while_a_flow_uses_it() -> None:
    rules = KeepRules(KeepPolicy.FLOWS)
    assert not rules.keep(A)
    rules.open_flow(A)
    rules.open_flow(A)
    rules.close_flow(A)
    assert rules.keep(A)
    rules.close_flow(A)
    assert not rules.keep(A)
    with pytest.raises(ValueError, match="no open flow"):
        rules.close_flow(A)


@pytest.mark.parametrize(("policy", "kept"), [(KeepPolicy.ALL, True), (KeepPolicy.NONE, False)])
def test_all_and_none(policy: KeepPolicy, kept: bool) -> None:
    rules = KeepRules(policy)
    rules.open_flow(A)
    assert rules.keep(A) is kept and rules.keep(B) is kept


def test_pin_and_unpin_override_the_policy() -> None:
    rules = KeepRules(KeepPolicy.NONE)
    rules.pin(A, True)
    assert rules.keep(A)
    rules = KeepRules(KeepPolicy.FLOWS)
    rules.open_flow(B)
    rules.pin(B, False)
    assert not rules.keep(B)
    rules.pin(B, True)
    rules.forget(B)
    assert not rules.keep(B)  # neither the flow nor the pin survives forget()


def test_single_anchor_keeps_only_the_first_address_and_ignores_pins() -> None:
    rules = KeepRules(KeepPolicy("single-anchor"))
    rules.configured(A)
    rules.configured(B)
    rules.pin(B, True)
    rules.pin(A, False)
    assert rules.anchor == A and rules.keep(A) and not rules.keep(B)
