"""The MN's addresses: one CGA per visited DAR, with what it needs to keep it (profile §2).

Theory of operation
-------------------
On each RA with a new prefix the MN configures a CGA (RFC 3972) from it::

    RA(prefix_i, R=1, DAR_i) --> CGA_i = cga_with_prefix(base, prefix_i)   (microseconds)
                                 DAD for dad_delay ... collision? -> count + 1 (max 2)
                             --> AddressRecord(CGA_i, prefix_i, DAR_i, BUL entry)

While DAD runs an address is *optimistic* (RFC 4429, the profile's default:
usable at once) or *tentative* (RFC 4862, ``MnConfig.optimistic = False``:
unusable until DAD ends); then it is preferred. An optimistic address follows
RFC 4429 §3.3 on the link, which is the driver's part: no Source Link-Layer
Address option in an NS or RS sent from it (the core's own RSs come from
``::``), and its NAs never set the Override flag, so it never replaces another
node's neighbour cache entry::

    state        DAD running   usable   NA for it      SLLAO from it
    tentative    yes           no       none           -
    optimistic   yes           yes      O=0            never
    preferred    no            yes      O=1            yes

The expensive Sec > 0 modifier search runs once per key: later prefixes reuse
the modifier and only recompute Hash1 (RFC 3972 §4 allows it; profile §2
step 2), unless the policy asks for a fresh modifier per prefix, which makes
the addresses unlinkable. The search runs in this process (``workers=1``): a
core starts no processes, and the modifier's starting point comes from the
injected ``rand``, so one seed gives one address.

Only a Prefix Information option a host may autoconfigure from is taken
(:func:`prefix_problem`): from a link-local source (RFC 4861 §6.1.2), a /64
global unicast prefix (RFC 4862 §5.5.3 b and the length rule after e; RFC 3972
§3), a preferred lifetime not above the valid one (§5.5.3 c), and for a new
prefix a valid lifetime above 0 (§5.5.3 d). An RA for a prefix the MN holds an
address of cannot shorten that address's valid lifetime below two hours
(:func:`kept_lifetime`, §5.5.3 e): one unauthenticated RA with valid lifetime 0
would otherwise make every later BU for the address ask for lifetime 0, a
de-registration (RFC 6275 §6.1.7)::

    RA valid 0 for the HoA's prefix    --> valid lifetime max(0, min(2592000, 7200)) = 7200
    RA valid 0 for a new prefix        --> ignored (no address, the MN keeps soliciting)
    RA for a /48, fe80::/64, ff02::/64 --> ignored (no CGA can be made of it)
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

from scapy_fama.crypto import Cga, KeyPair, cga_generate, cga_with_prefix
from scapy_fama.proto.bul import BulEntry
from scapy_fama.proto.messages import RouterAdvertisement

MODIFIER_LEN = 16
TWO_HOURS = 7200  # RFC 4862 §5.5.3 e: an RA cannot bring a valid lifetime below this
NOT_UNICAST = ipaddress.IPv6Network("::/8")  # unspecified, loopback, IPv4-mapped (RFC 4291 §2.4)


@dataclass
class AddressRecord:
    """Per address (profile §2 step 4): prefix, DAR global address, CGA parameters, BUL entry."""

    cga: Cga
    prefix: str
    dar: str
    valid_lifetime: int  # from the RA's PIO; caps the lifetime the MN requests
    bul: BulEntry
    dad_until: float | None = None  # DAD runs until then
    optimistic: bool = False  # usable while DAD runs (RFC 4429)
    released: bool = False  # the keep policy let it go; dropped once de-registered

    @property
    def address(self) -> str:
        return self.cga.address

    @property
    def usable(self) -> bool:
        """Preferred, or optimistic: it may be the CoA and the source of data."""
        return self.dad_until is None or self.optimistic

    @property
    def in_optimistic_state(self) -> bool:
        """DAD runs on an address in use: RFC 4429 §3.3 rules apply (no SLLAO, NA with O=0)."""
        return self.dad_until is not None and self.optimistic


class CgaSource:
    """Builds the MN's CGA for each prefix, reusing the modifier unless told otherwise."""

    def __init__(
        self, keypair: KeyPair, sec: int, fresh_modifier: bool, rand: Callable[[int], bytes]
    ) -> None:
        self._keypair = keypair
        self._sec = sec
        self._fresh = fresh_modifier
        self._rand = rand
        self._base: Cga | None = None

    def for_prefix(self, prefix: str) -> Cga:
        if self._base is None or self._fresh:
            self._base = cga_generate(
                prefix, self._keypair, self._sec, modifier=self._rand(MODIFIER_LEN), workers=1
            )
            return self._base
        return cga_with_prefix(self._base, prefix)  # RFC 3972 §4 from step 4


def prefix_problem(ra: RouterAdvertisement, new: bool) -> str | None:
    """Why the MN must not configure from ``ra``'s PIO (``new``: no address of it yet), or None."""
    if not ipaddress.IPv6Address(ra.src).is_link_local:
        return f"source {ra.src} is not link-local (RFC 4861 §6.1.2)"
    prefix = ipaddress.IPv6Network(ra.prefix)
    if prefix.prefixlen != 64:
        return f"{ra.prefix} is not a /64 (RFC 4862 §5.5.3, RFC 3972 §3)"
    if prefix.is_link_local or prefix.is_multicast or prefix.subnet_of(NOT_UNICAST):
        return f"{ra.prefix} is not a global unicast prefix (RFC 4862 §5.5.3 b, RFC 4291 §2.4)"
    if ra.preferred_lifetime > ra.valid_lifetime:
        return f"preferred lifetime {ra.preferred_lifetime} above valid {ra.valid_lifetime} (RFC 4862 §5.5.3 c)"
    if new and ra.valid_lifetime == 0:
        return "valid lifetime 0 for a new prefix (RFC 4862 §5.5.3 d)"
    return None


def kept_lifetime(current: int, advertised: int) -> int:
    """RFC 4862 §5.5.3 e: the valid lifetime of an address after an RA for its prefix
    advertises ``advertised``; ``current`` is the last one taken (the MN counts no time down
    on it, so this is the rule with the remaining lifetime as the last one advertised)."""
    return max(advertised, min(current, TWO_HOURS))
