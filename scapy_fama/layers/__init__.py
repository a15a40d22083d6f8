"""Scapy layers for FAMA signalling: MH messages, mobility options, CGA Parameters.

Importing this package registers the classes with Scapy, so ``IPv6(raw)``,
``rdpcap``, ``ls()``, ``show()``, ``fuzz()`` and ``sr()`` use them: the MH type
table that ``IPv6`` dispatches on, the option table of Scapy's generic mobility
option, the type 2 routing header and the BU/BA matching fix
(:mod:`scapy_fama.layers.routing`). Nothing in Scapy's files is changed.
"""

from __future__ import annotations

from scapy.layers import inet6

from scapy_fama.layers.cga_params import CGAExtension, CGAParams
from scapy_fama.layers.checksum import checksum_ok, pseudo_addresses, wire_mh
from scapy_fama.wire.checksum import mh_checksum
from scapy_fama.layers.mh import (
    BA,
    BA_STATUS,
    BE,
    BE_STATUS,
    BRR,
    BU,
    MH_CLASSES,
    MH_TYPES,
    CoT,
    CoTI,
    GenericMH,
    HoT,
    HoTI,
)
from scapy_fama.layers.options import (
    OPTION_CLASSES,
    BindingAuthData,
    CareOfTestInitOpt,
    CareOfTestOpt,
    CGAParamsOpt,
    CGAParamsRequest,
    MobilityOption,
    NonceIndices,
    PHKTOpt,
    SignatureOpt,
    split_lengths,
)
from scapy_fama.layers.guards import install_guards
from scapy_fama.layers.routing import RH2, install_rh2_hashret


def register() -> None:
    """Make Scapy dissect Mobility Headers, their options and RH2 with these classes."""
    inet6._mip6_mhtype2cls.update({t: MH_CLASSES.get(t, GenericMH) for t in range(256)})
    inet6.moboptcls.update(OPTION_CLASSES)
    inet6.ipv6nhcls[43] = RH2
    inet6.ipv6nh.setdefault(135, "Mobility Header")
    install_rh2_hashret()
    install_guards()


register()

__all__ = [
    "BA",
    "BA_STATUS",
    "BE",
    "BE_STATUS",
    "BRR",
    "BU",
    "BindingAuthData",
    "CGAExtension",
    "CGAParams",
    "CGAParamsOpt",
    "CGAParamsRequest",
    "CareOfTestInitOpt",
    "CareOfTestOpt",
    "CoT",
    "CoTI",
    "GenericMH",
    "HoT",
    "HoTI",
    "MH_CLASSES",
    "MH_TYPES",
    "MobilityOption",
    "NonceIndices",
    "OPTION_CLASSES",
    "PHKTOpt",
    "RH2",
    "SignatureOpt",
    "checksum_ok",
    "mh_checksum",
    "pseudo_addresses",
    "register",
    "split_lengths",
    "wire_mh",
]
