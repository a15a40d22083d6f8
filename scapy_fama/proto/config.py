"""Configuration of the two roles, with the profile's and the RFCs' defaults.

Theory of operation
-------------------
A core never reads a clock or a file: everything it may tune arrives in one
frozen dataclass at construction. The protocol constants the RFCs fix are
module constants next to them, each citing where it comes from; the fields are
the knobs the profile leaves to policy::

    DarCore(address, prefix, config=DarConfig(require_coa_test=True), rand=...)
    MnCore(keypair, config=MnConfig(keep=KeepPolicy.ALL, sec=0), rand=...)

Where the profile departs from an RFC's conservative default for speed, a
switch brings the RFC back (profile §2, §9)::

    profile (default)                          RFC behaviour
    MnConfig.rs_delay = 0 (RS at once)         1.0  RFC 4861 §6.3.7 MAX_RTR_SOLICITATION_DELAY
    MnConfig.optimistic = True (RFC 4429)      False: the address waits DAD out (RFC 4862)
    DarConfig.ra_delay = 0 (RA at once)        0.5  RFC 4861 §6.2.6 MAX_RA_DELAY_TIME
    DarConfig.min_delay_between_ras = 0.03     3.0  RFC 4861 §6.2.6 MIN_DELAY_BETWEEN_RAS
      (RFC 6275 §7.5: a mobility router's floor)

Lifetimes are whole seconds on the way in and out of the cores, rounded down to
the 4-second units the Binding Update and Acknowledgement carry
(:func:`scapy_fama.proto.messages.wire_lifetime`), so that what a core grants or
requests is exactly what goes on the wire.
"""

from __future__ import annotations

from dataclasses import dataclass

from scapy_fama.proto.keep import KeepPolicy

# RFC 6275 §12 / §13 and RFC 4866 §6.5
INITIAL_BINDACK_TIMEOUT = 1.0
INITIAL_BINDACK_TIMEOUT_FIRST_REG = 1.5  # 1.5 x RetransTimer (1 s) x DupAddrDetectTransmits (1)
MAX_BINDACK_TIMEOUT = 32.0
MAX_UPDATE_RATE = 3  # messages of one type to one peer per second
MAX_NONCE_LIFETIME = 240.0
MAX_TOKEN_LIFETIME = 210.0
NONCE_REGENERATION = 30.0  # RFC 6275 §5.2.7: a new nonce about every 30 s
MAX_CGA_BINDING_LIFETIME = 86_400  # RFC 4866 §4.2, profile §6 step 5
# records are kept for MNs that de-registered too (profile §6 step 5): room for this many per
# binding the cache can hold
RECORDS_PER_BINDING = 4
# RFC 4861 §6.2.1 / §6.3.7 / §10
ADV_VALID_LIFETIME = 2_592_000
ADV_PREFERRED_LIFETIME = 604_800
MAX_RTR_ADV_INTERVAL = 600.0
RTR_SOLICITATION_INTERVAL = 4.0
MAX_RTR_SOLICITATIONS = 3
MAX_RTR_SOLICITATION_DELAY = 1.0  # the RFC's random delay of the first RS (profile: none)
MAX_RA_DELAY_TIME = 0.5  # §6.2.6: the RFC's random delay of a solicited RA (profile §9: none)
MIN_DELAY_BETWEEN_RAS = 3.0  # §6.2.6: multicast RAs at most this often
MOBILE_MIN_DELAY_BETWEEN_RAS = 0.03  # RFC 6275 §7.5: a mobility router may go down to 30 ms
# RFC 4862 §5.1: RetransTimer (1 s) x DupAddrDetectTransmits (1)
DAD_DELAY = 1.0


def _positive(owner: object, *names: str) -> None:
    for name in names:
        if getattr(owner, name) <= 0:
            raise ValueError(f"{type(owner).__name__}.{name} must be positive")


@dataclass(frozen=True)
class DarConfig:
    """What a DAR advertises, grants and defends (profile §1, §5, §6)."""

    valid_lifetime: int = ADV_VALID_LIFETIME  # PIO valid lifetime, also caps bindings (§6 step 5)
    preferred_lifetime: int = ADV_PREFERRED_LIFETIME
    router_lifetime: int = 1800
    ra_interval: float = MAX_RTR_ADV_INTERVAL  # unsolicited RAs
    # profile §2 step 1: solicited multicast RAs at most this often (RFC 4861: 3 s)
    min_delay_between_ras: float = MOBILE_MIN_DELAY_BETWEEN_RAS
    ra_delay: float = 0.0  # random delay of a solicited RA, up to this (RFC 4861: 0.5 s; §9)
    max_binding_lifetime: int = MAX_CGA_BINDING_LIFETIME  # local policy (§6 step 5)
    cache_capacity: int = 4096  # bindings; one more gets BA 130 (§6 step 6)
    # security records (§6 "Bounded state"); at the cap a new one replaces the record that
    # expires first among those without a binding. None: 4 x cache_capacity
    record_capacity: int | None = None
    require_coa_test: bool = False  # secure mode (§5)
    cga_checks_per_second: float = 200.0  # DoS guard, all sources together (§6)
    cga_burst: int = 50
    cga_checks_per_prefix_per_second: float = 10.0  # DoS guard, per /64 of the BU's source
    cga_prefix_burst: int = 5
    binding_errors_per_second: float = 1.0  # RFC 6275 §9.3.3: rate-limited like ICMPv6
    binding_error_burst: int = 5
    binding_errors_per_prefix_per_second: float = 0.2  # §6: per /64 of the offending source
    binding_error_prefix_burst: int = 2

    def __post_init__(self) -> None:
        _positive(
            self,
            "valid_lifetime",
            "ra_interval",
            "max_binding_lifetime",
            "cache_capacity",
            "cga_checks_per_second",
            "cga_burst",
            "cga_checks_per_prefix_per_second",
            "cga_prefix_burst",
            "binding_errors_per_second",
            "binding_error_burst",
            "binding_errors_per_prefix_per_second",
            "binding_error_prefix_burst",
            "min_delay_between_ras",
        )
        if self.max_records < self.cache_capacity:
            raise ValueError("DarConfig.record_capacity must hold a record for every binding")
        if self.ra_delay < 0:
            raise ValueError("DarConfig.ra_delay must not be negative")


    @property
    def max_records(self) -> int:
        """The security records a DAR holds at most (profile §6 "Bounded state")."""
        if self.record_capacity is None:
            return RECORDS_PER_BINDING * self.cache_capacity
        return self.record_capacity


@dataclass(frozen=True)
class MnConfig:
    """How an MN builds addresses, keeps them and signals (profile §2, §3, §5, §7)."""

    sec: int = 1  # CGA Sec (profile §2 step 2)
    fresh_modifier: bool = False  # a new modifier per prefix, for unlinkability (§2 step 2)
    keep: KeepPolicy = KeepPolicy.FLOWS  # §3
    binding_lifetime: int = MAX_CGA_BINDING_LIFETIME  # requested, further capped by the RA
    coa_test: bool = False  # always CoTI/CoT first; otherwise learnt per DAR from a BA 137 (§5)
    request_dar_signature: bool = False  # CGA Parameters Request; a PHKT BA must then be signed
    refresh_fraction: float = 0.8  # §7: refresh at 80 % of the granted lifetime
    dad_delay: float = DAD_DELAY  # DAD of a new address runs this long (§2 step 3)
    optimistic: bool = True  # RFC 4429: use the address while DAD runs; False: wait DAD out
    rs_delay: float = 0.0  # random delay of the first RS, up to this (RFC 4861: 1 s; §2 step 1)
    rs_interval: float = RTR_SOLICITATION_INTERVAL
    rs_count: int = MAX_RTR_SOLICITATIONS

    def __post_init__(self) -> None:
        _positive(self, "binding_lifetime", "rs_interval", "rs_count")
        if not 0 < self.refresh_fraction < 1:
            raise ValueError("MnConfig.refresh_fraction must lie strictly between 0 and 1")
        for name in ("dad_delay", "rs_delay"):
            if getattr(self, name) < 0:
                raise ValueError(f"MnConfig.{name} must not be negative")
