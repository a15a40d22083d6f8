"""Every number of the IPv6 / Mobility Header wire format that the toolkit uses, written once.

Theory of operation
-------------------
Protocol numbers, Mobility Header and option types, fixed sizes and the
alignment rules are facts of the wire (RFC 8200, RFC 6275 §6, RFC 4866 §5,
RFC 4861 §4); every module that needs one imports it from here, so that the
reader, the writer, the layers, the analyser, the fuzzer and the conformance
tester cannot disagree. What a number *means* for the protocol (statuses,
de-registration, lifetimes in seconds) is :mod:`scapy_fama.proto`'s business.
"""

from __future__ import annotations

# IPv6 Next Header values (IANA "Assigned Internet Protocol Numbers")
HOP_BY_HOP = 0
TCP = 6
UDP = 17
IPV6_IN_IPV6 = 41  # RFC 2473
ROUTING = 43
FRAGMENT = 44
ICMPV6 = 58
NO_NEXT_HEADER = 59
DEST_OPTS = 60
OLD_MH = 62  # the Mobility Header's number in drafts before RFC 3775 (IANA: CFTP)
MH = 135  # RFC 6275 §6.1
EXTENSION_HEADERS = frozenset({HOP_BY_HOP, ROUTING, FRAGMENT, DEST_OPTS})
# data, right behind the IPv6 header: what a DAR's tunnel entry encapsulates without a look inside
# (the kernel's program, net/lwt.py; the data plane, automata/dataplane.py); any other Next Header,
# a Mobility Header above all, may be signalling and goes to the automaton in the order it came
DATA_NEXT_HEADERS = frozenset({TCP, UDP, ICMPV6})

IPV6_HEADER = 40
FRAGMENT_HEADER = 8
ETHER_HEADER = 14
ETHERTYPE_IPV6 = 0x86DD

# Destination options (RFC 8200 §4.2) and the Home Address option (RFC 6275 §6.3)
OPT_PAD1, OPT_PADN = 0, 1
HAO = 0xC9  # alignment 8n+6
HAO_LEN = 16
ROUTING_TYPE_2 = 2  # RFC 6275 §6.4: Hdr Ext Len 2, Segments Left 1, one address

# Mobility Header types (IANA "Mobility Header Types", RFC 6275 §6.1)
BRR, HOTI, COTI, HOT, COT, BU, BA, BE = range(8)
MH_TYPES = {
    0: "BRR", 1: "HoTI", 2: "CoTI", 3: "HoT", 4: "CoT", 5: "BU", 6: "BA", 7: "BE", 8: "FBU",
    9: "FBack", 10: "FNA", 11: "Experimental", 12: "Home Agent Switch", 13: "Heartbeat", 14: "HI",
    15: "HAck", 16: "Binding Revocation", 17: "LRI", 18: "LRA", 19: "Update Notification",
    20: "Update Notification Ack",
}  # fmt: skip
MH_COMMON = 6  # Payload Proto, Header Len, MH Type, Reserved, Checksum (RFC 6275 §6.1.1)
# where the options of each message start (the end of its fixed part), RFC 6275 §6.1.2-§6.1.9
OPTIONS_START = {BRR: 8, HOTI: 16, COTI: 16, HOT: 24, COT: 24, BU: 12, BA: 12, BE: 24}
# the smallest Header Len of each message (RFC 6275 §6.1.2-§6.1.9, §9.2)
MIN_HEADER_LEN = {BRR: 0, HOTI: 1, COTI: 1, HOT: 2, COT: 2, BU: 1, BA: 1, BE: 2}
MAX_OPTIONS = 64  # profile §6 "Cost before trust": a Mobility Header carries at most 64 options

# BU flags (16-bit word after the sequence number, RFC 6275 §6.1.7) and BA flags (§6.1.8)
BU_A, BU_H, BU_L, BU_K = 0x8000, 0x4000, 0x2000, 0x1000
BU_P = 0x0200  # RFC 5213 §8.1: a Proxy Binding Update (PMIPv6)
BU_DRAFT_PROXY = 0x0080  # the proxy flag of pre-RFC 5213 drafts (UMIP-based pmip6d, the OAI captures)
BA_K, BA_R, BA_P = 0x80, 0x40, 0x20

# Mobility options (IANA "Mobility Options", RFC 6275 §6.2, RFC 4866 §5)
PAD1, PADN, BRA, ALT_COA, NONCE_INDICES, BAD = 0, 1, 2, 3, 4, 5
MNP, LLA, MNID, MSG_AUTH, REPLAY = 6, 7, 8, 9, 10
CGA_REQUEST, CGA_PARAMS, SIGNATURE, PHKT, COTI_OPT, COT_OPT = 11, 12, 13, 14, 15, 16
OPTION_NAMES = {
    0: "Pad1", 1: "PadN", 2: "Binding Refresh Advice", 3: "Alternate Care-of Address",
    4: "Nonce Indices", 5: "Binding Authorization Data", 6: "Mobile Network Prefix",
    7: "Link-Layer Address", 8: "Mobile Node Identifier", 9: "Mobility Message Authentication",
    10: "Replay Protection", 11: "CGA Parameters Request", 12: "CGA Parameters", 13: "Signature",
    14: "Permanent Home Keygen Token", 15: "Care-of Test Init", 16: "Care-of Test",
    22: "Home Network Prefix", 23: "Handoff Indicator", 24: "Access Technology Type",  # RFC 5213 §8
    25: "Mobile Node Link-layer Identifier", 26: "Link-local Address", 27: "Timestamp",
}  # fmt: skip
# the data length an option type is defined with (RFC 6275 §6.2, RFC 3963, RFC 4285, RFC 4866 §5)
OPTION_LENGTHS = {BRA: 2, ALT_COA: 16, NONCE_INDICES: 4, BAD: 12, MNP: 18, REPLAY: 8,
                  CGA_REQUEST: 0, COTI_OPT: 0, COT_OPT: 8}  # fmt: skip
# alignment "xn+y" of each option type (RFC 6275 §6.2; RFC 4866 options have none)
ALIGNMENT = {BRA: (2, 0), ALT_COA: (8, 6), NONCE_INDICES: (2, 0), BAD: (8, 2), MNP: (8, 4),
             MSG_AUTH: (4, 1), REPLAY: (8, 2)}  # fmt: skip
AUTHENTICATOR_LEN = 12  # RFC 6275 §5.2.6: First96 of the HMAC
CGA_PIECE = 255  # RFC 4866 §5.1: a CGA Parameters option holds at most 255 bytes of the block

# ICMPv6 (RFC 4443) and Neighbour Discovery (RFC 4861 §4)
ICMPV6_ERRORS = {1: "Destination Unreachable", 2: "Packet Too Big", 3: "Time Exceeded", 4: "Parameter Problem"}
TIME_EXCEEDED, PARAMETER_PROBLEM = 3, 4
TE_TRANSIT, TE_REASSEMBLY = 0, 1  # Time Exceeded codes (RFC 4443 §3.3)
PP_HEADER, PP_NEXT_HEADER, PP_OPTION = 0, 1, 2  # Parameter Problem codes (RFC 4443 §3.4)
# an unrecognised option's action bits (RFC 8200 §4.2): discard and report, even to a group; or not
ACTION_REPORT, ACTION_REPORT_UNICAST = 0b10, 0b11
ECHO_REQUEST, ECHO_REPLY = 128, 129
RS, RA, NS, NA, REDIRECT = 133, 134, 135, 136, 137
ND_HOP_LIMIT = 255  # RFC 4861 §6.1.1, §7.1.1: anything else was forwarded, not sent on the link
ND_SLLA, ND_TLLA, ND_PIO = 1, 2, 3  # ND option types
NA_R, NA_S, NA_O = 0x80, 0x40, 0x20
PIO_L, PIO_A, PIO_R = 0x80, 0x40, 0x20  # RFC 6275 §7.2: R says the prefix field holds the router's address

# Lifetime of BU and BA: 16 bits of 4-second units (RFC 6275 §6.1.7, §6.1.8)
LIFETIME_UNIT = 4
MAX_LIFETIME_UNITS = 0xFFFF
