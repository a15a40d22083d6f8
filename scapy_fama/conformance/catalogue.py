"""Where the cases and the role-specific pieces live: importing the case modules registers them.

The MN side (its tester and interface executor) is imported only when an MN
run asks for it, so a DAR run never pays for it.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from scapy_fama.conformance.config import RunConfig
from scapy_fama.conformance.executor import Executor

CASE_MODULES = ("dar_signalling", "dar_auth", "dar_service", "dar_link", "dar_refusals", "dar_framing", "dar_nd", "mn_cases", "mn_attach")


def load() -> None:
    for name in CASE_MODULES:
        import_module(f"scapy_fama.conformance.{name}")


def iface_dar(config: RunConfig) -> Executor:
    from scapy_fama.conformance.iface import IfaceDar

    assert config.iface is not None
    return IfaceDar(config.iface, config.iut, config.wait, beyond=(config.coa_prefix, f"{config.cn}/128"))


def iface_mn(config: RunConfig) -> Executor:
    from scapy_fama.conformance.iface_mn import IfaceMn

    assert config.iface is not None
    return IfaceMn(config.iface)


def mn_tester(executor: Executor, config: RunConfig) -> Any:
    from scapy_fama.conformance.mn_tester import make_tester

    return make_tester(executor, config)
