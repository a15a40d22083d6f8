"""Status codes of Binding Acknowledgements and Binding Errors, as the cores use them.

Theory of operation: a BA status below 128 accepts the BU, 128 and above
refuses it (RFC 6275 §6.1.8); the codes FAMA produces or acts on are named
here, once, for both roles::

    DAR --BA(status)--> MN      0 accepted | 130 132 135 137 139 147 148 149 refused
    DAR --BE(status)--> sender  1 HAO without a binding | 2 unknown MH type
"""

from __future__ import annotations

from enum import IntEnum

REFUSED = 128  # BA statuses from here on refuse the BU (RFC 6275 §6.1.8)


class BaStatus(IntEnum):
    """RFC 6275 §6.1.8 and RFC 4866 §5.7."""

    ACCEPTED = 0
    INSUFFICIENT_RESOURCES = 130
    NOT_HOME_SUBNET = 132
    SEQ_OUT_OF_WINDOW = 135  # carries the last accepted sequence number
    EXPIRED_CARE_OF_NONCE = 137
    REG_TYPE_CHANGE_DISALLOWED = 139  # H=0 for a home registration (RFC 6275 §9.5.1)
    PHKT_UNAVAILABLE = 147
    CGA_VERIFICATION_FAILED = 148
    PHKT_EXISTS = 149


class BeStatus(IntEnum):
    """RFC 6275 §6.1.9."""

    UNKNOWN_BINDING = 1  # a Home Address option without a binding
    UNKNOWN_MH_TYPE = 2
