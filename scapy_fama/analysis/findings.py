"""Findings: what is wrong or worth a look in a capture, each with the packets that show it.

Theory of operation
-------------------
Every finding has a stable ``kind`` (the JSON schema lists them), a severity and
one sentence. Findings with the same kind, sentence and address are one entry
that counts its packets, so a capture with a million zero checksums yields one
line, not a million, and memory stays flat::

    add("checksum-zero", "MH checksum 0x0000: never computed", ref, address)
        -> Finding(kind, severity, message, address, count=1, packets=[ref])
    add(same kind, message, address) again -> count=2, packets=[ref, ref2] (first PACKETS_KEPT)

Packets are ``(file index, frame number)``: frame numbers count from 1 as in
tshark and Wireshark.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from scapy_fama.analysis.classify import PacketRef

PACKETS_KEPT = 50
ERROR, WARNING, INFO = "error", "warning", "info"

# kind -> (severity, what it means); the JSON schema documents this table
KINDS: dict[str, tuple[str, str]] = {
    "checksum-zero": (WARNING, "a Mobility Header with checksum 0x0000 (never computed)"),
    "checksum-wrong": (ERROR, "a Mobility Header checksum that does not match (RFC 6275 §6.1.1)"),
    "sequence-regression": (ERROR, "a BU whose sequence number is not newer than an earlier one's (mod 2^16)"),
    "replay": (ERROR, "a BU whose bytes repeat an earlier BU's (same sequence number)"),
    "verification-failed": (ERROR, "a CGA, signature, PHKT or BAD check failed"),
    "bu-unanswered": (WARNING, "a BU with the A flag that no BA answered in the capture"),
    "ba-without-bu": (WARNING, "a BA that answers no BU in the capture"),
    "error-status": (WARNING, "a BA with a status of 128 or more, or a Binding Error"),
    "framing": (WARNING, "non-conformant headers: misplaced HAO/RH2, Header Len, Payload Proto, old next header"),
    "malformed-option": (ERROR, "a mobility option whose length runs past the MH or differs from its definition"),
    "option-placement": (WARNING, "a BU or BA whose options are out of place: the BAD not the last option or more than "
                         "one BAD (profile §6, RFC 6275 §6.2.7), CGA Parameters and Signature (RFC 4866 §5.1/§5.2)"),
    "truncated-packet": (INFO, "a packet captured shorter than it was (snap length)"),
    "malformed-packet": (ERROR, "an IPv6 extension-header chain cut short"),
    "capture-truncated": (WARNING, "the file ends in the middle of a record, has a damaged block or record header, or (found in a "
                          "folder) is no capture or cannot be read: results up to the break"),
    "link-type-not-read": (WARNING, "a capture point in a link type fama-analyze does not read (802.11, Bluetooth, ...): "
                           "its frames were not analysed"),
    "timestamp-regression": (ERROR, "a Proxy BU whose Timestamp is older than an accepted one's (RFC 5213 §5.5)"),
    "timestamp-window": (WARNING, "a Proxy BU whose Timestamp is far from the capture's clock (RFC 5213 §5.5)"),
    "pre-standard": (INFO, "PMIPv6 messages with the option numbers of drafts before RFC 5213"),
}


@dataclass
class Finding:
    """One kind of problem with one message, for one address (or none), and its packets."""

    kind: str
    severity: str
    message: str
    address: str | None = None
    count: int = 0
    packets: list[PacketRef] = field(default_factory=list)
    mn: str | None = None  # the MN of ``address``, set when the capture is complete

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind, "severity": self.severity, "message": self.message,
            "address": self.address, "mn": self.mn, "count": self.count,
            "packets": [list(ref) for ref in self.packets],
        }  # fmt: skip


class Findings:
    """The findings of one analysis, merged by (kind, message, address)."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str, str | None], Finding] = {}

    def add(self, kind: str, message: str, ref: PacketRef | None = None, address: str | None = None) -> None:
        key = (kind, message, address)
        found = self._by_key.get(key)
        if found is None:
            found = self._by_key[key] = Finding(kind, KINDS[kind][0], message, address)
        found.count += 1
        if ref is not None and len(found.packets) < PACKETS_KEPT:
            found.packets.append(ref)

    def __iter__(self) -> Iterator[Finding]:
        """Errors first, then warnings, then information; each by its first packet."""
        order = {ERROR: 0, WARNING: 1, INFO: 2}
        return iter(sorted(self._by_key.values(), key=lambda f: (order[f.severity], f.packets[:1], f.kind)))

    def __len__(self) -> int:
        return len(self._by_key)

    def restrict(self, mns: set[str]) -> None:
        """Keep the findings of these MNs and those of no MN at all (the file's own)."""
        self._by_key = {k: f for k, f in self._by_key.items() if f.mn in mns or f.address is None}
