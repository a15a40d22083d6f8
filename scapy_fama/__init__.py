"""scapy-fama: Scapy toolkit for FAMA, distributed client mobility for IPv6.

``import scapy_fama`` registers the FAMA layers with Scapy (see
:mod:`scapy_fama.layers`). :mod:`scapy_fama.crypto` holds CGA, signatures, PHKT
and Binding Authorization Data; :mod:`scapy_fama.craft` builds complete
signalling packets and :mod:`scapy_fama.verify` checks them.
"""

from importlib.metadata import PackageNotFoundError, version

from scapy_fama import layers  # noqa: F401  (registers the layers with Scapy)

try:
    __version__ = version("scapy-fama")  # pyproject.toml's, as installed
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"
