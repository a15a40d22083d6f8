"""What one conformance run is pointed at and how patient it is (the command line, as data)."""

from __future__ import annotations

from dataclasses import dataclass

from scapy_fama.conformance.patience import LATE


@dataclass(frozen=True)
class RunConfig:
    role: str  # the IUT's role: "dar" or "mn"
    target: str = "inproc"  # "inproc" or "iface"
    iface: str | None = None
    iut: str = "2001:db8:1::1"  # a DAR IUT's address (--iut-address)
    prefix: str = "2001:db8:1::/64"  # the prefix a DAR IUT serves (--prefix)
    coa_prefix: str = "2001:db8:ca::/64"  # the tester's CoAs; the IUT's network routes it back
    cn: str = "2001:db8:cc::1"  # the tester's correspondent node
    wait: float = 1.0  # seconds to wait for an answer (virtual in-process)
    secure: bool = False  # a DAR IUT requires the care-of test (profile §5)
    sec: int = 0  # Sec of the tester's CGAs
    mn_keep: str = "all"  # the keep policy an MN IUT on an interface runs with
    max_case_time: float | None = None  # a case needing more executor time is inconclusive
    mn_echo_port: int | None = None  # the UDP port of an MN IUT's echo service (RFC 862)
    mn_optimistic: bool = True  # an MN IUT on an interface uses a new address while DAD runs (RFC 4429)
    grace: float = LATE  # seconds past ``wait`` an expected answer is still awaited (a slow IUT, not a silent one)
