"""Keep policies: which earlier addresses an MN keeps anchored (profile §3).

Theory of operation
-------------------
Every address the MN configured from an earlier DAR is either *kept* (a BU goes
to its DAR from the current CoA, traffic to it is tunnelled) or *released* (a
de-registration if it has a binding, then it is forgotten). The decision is per
address and on demand (draft §3): it is taken at each handover and again
whenever a flow ends or a pin changes::

    policy          keep(address) for an address that is not the current one
    flows (default) it has at least one open flow
    all             always
    none            never
    single-anchor   only the first address ever configured: legacy MIPv6 with the
                    first DAR as the only home agent (draft A.5); pins are ignored
    + pin / unpin   an explicit per-address yes / no that overrides flows/all/none

The current address is native and never asked about. The rules hold no timers
and send nothing: :class:`scapy_fama.proto.mn.MnCore` acts on the answers.
"""

from __future__ import annotations

from collections import Counter
from enum import StrEnum


class KeepPolicy(StrEnum):
    """The policies of profile §3."""

    FLOWS = "flows"
    ALL = "all"
    NONE = "none"
    SINGLE_ANCHOR = "single-anchor"


class KeepRules:
    """Flow counts, pins and the policy; answers "keep this address?"."""

    def __init__(self, policy: KeepPolicy) -> None:
        self.policy = KeepPolicy(policy)
        self.anchor: str | None = None  # the first address ever configured (single-anchor)
        self._flows: Counter[str] = Counter()
        self._pins: dict[str, bool] = {}

    def configured(self, address: str) -> None:
        """Note a newly configured address; the first one is the single-anchor home address."""
        if self.anchor is None:
            self.anchor = address

    def open_flow(self, address: str) -> None:
        self._flows[address] += 1

    def close_flow(self, address: str) -> None:
        if self._flows[address] <= 0:
            raise ValueError(f"no open flow on {address}")
        self._flows[address] -= 1

    def pin(self, address: str, keep: bool) -> None:
        """An explicit per-address decision (profile §3 "pin/unpin")."""
        self._pins[address] = keep

    def forget(self, address: str) -> None:
        """The address is gone: drop its flows and pin (the anchor stays the anchor)."""
        self._flows.pop(address, None)
        self._pins.pop(address, None)

    def withdraw(self, address: str) -> None:
        """The address turned out a duplicate (DAD): forget it, and it anchors nothing; the
        next address configured becomes the single-anchor home address if it was that one."""
        self.forget(address)
        if self.anchor == address:
            self.anchor = None

    def keep(self, address: str) -> bool:
        if self.policy is KeepPolicy.SINGLE_ANCHOR:
            return address == self.anchor  # draft A.5: never anchor at a later DAR
        if address in self._pins:
            return self._pins[address]
        if self.policy is KeepPolicy.FLOWS:
            return self._flows[address] > 0
        return self.policy is KeepPolicy.ALL
