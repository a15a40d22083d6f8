"""A DAR's tunnel entry in the kernel: a route's BPF lightweight tunnel that puts the HoA's packets into IPv6-in-IPv6.

Theory of operation
-------------------
This kernel has no ip6tnl (CONFIG_IPV6_TUNNEL unset) but has BPF lightweight
tunnels (CONFIG_LWTUNNEL_BPF): a route may carry a program of type
``BPF_PROG_TYPE_LWT_XMIT`` that the kernel runs on every packet the route sends,
before the neighbour lookup (net/core/lwt_bpf.c). The program for one binding
writes the RFC 2473 outer header on its stack and pushes it in front of the
packet (``bpf_lwt_push_encap(skb, BPF_LWT_ENCAP_IP, hdr, 40)``); returning
``BPF_LWT_REROUTE`` makes the kernel route the packet again by its new (outer)
destination, the CoA::

    route HoA/128 dev fama-tun encap bpf xmit <tunnel(DAR, CoA)>
    CN -> HoA --kernel forwards (hop limit - 1, RFC 2473 §3.1)--> the route's program:
        [Next Header not TCP, UDP or ICMPv6, or a GSO packet that is not TCP:
         BPF_OK, the route goes on to fama-tun, the data plane]
        r6 = skb; r2 = skb->len; stack[-40..0] = 6 | 0 | htons(len) | 41 | 64 | DAR | CoA
        bpf_lwt_push_encap(skb, BPF_LWT_ENCAP_IP, stack - 40, 40) != 0 -> BPF_DROP
        -> BPF_LWT_REROUTE: the kernel routes DAR -> CoA, Next Header 41, hop limit 64

The program fills the Payload Length itself (``__sk_buff.len``, the inner packet's
whole length before the push; the kernel copies the header as given, as the
kernel's selftest test_lwt_ip_encap does). A TCP super-packet (GSO) stays one:
the kernel marks it ``SKB_GSO_IPXIP6`` and takes the 40 bytes off its segment
size (handle_gso_encap), so the segments cut later, by a device or by software
GSO, fit the path (RFC 2473 §6.7) and each gets its outer Payload Length. The
kernel refuses any other GSO packet only after pushing the header, so the
program sends those on to the route's device instead (``gso_size != 0`` and an
inner Next Header other than TCP): fama-tun, where the data plane encapsulates
them one by one. A packet with a partial checksum keeps it (the receiver's
kernel, or the MN's data plane with ``PACKET_VNET_HDR``, completes it).

Only data is tunnelled here: TCP, UDP and ICMPv6 right behind the IPv6 header
(``wire.numbers.DATA_NEXT_HEADERS``, which the data plane reads too).
Anything else, a Mobility Header above all, goes on to fama-tun, and the data
plane hands signalling to the automaton, which routes it in the order the
packets came (:mod:`scapy_fama.automata.dataplane`). A Binding Ack another DAR
sends to an MN back home, whose CoA is then the HoA this route still tunnels,
so waits for the automaton to handle the home de-registration that came before
it, instead of being tunnelled to the CoA the MN has left (profile §7: the BUs
to the DARs leave together; the lab lost such a BA now and then, and the MN
asked again 250 ms later).

One program per binding, the addresses as immediates: a new CoA is a new program
and the route is replaced (one rtnetlink request, atomic); deleting the route
frees the program, and so does the TUN's disappearance (the routes on it go).
"""

from __future__ import annotations

import os
import socket
import struct

from scapy_fama.net import ebpf
from scapy_fama.net.ebpf import JEQ, JNE, R0, R1, R2, R3, R4, R6, R10, B, H, W
from scapy_fama.wire.numbers import DATA_NEXT_HEADERS, IPV6_HEADER, IPV6_IN_IPV6, TCP

PROG_TYPE_LWT_XMIT = 12  # enum bpf_prog_type
FUNC_LWT_PUSH_ENCAP = 73  # enum bpf_func_id
LWT_ENCAP_IP = 2  # enum bpf_lwt_encap_mode
BPF_OK, BPF_DROP, BPF_LWT_REROUTE = 0, 2, 128  # enum bpf_ret_code
SKB_LEN, SKB_DATA, SKB_DATA_END, SKB_GSO_SIZE = 0, 76, 80, 176  # offsets in struct __sk_buff
OUTER_HLIM = 64  # RFC 2473 §3.1 default hop limit of the tunnel entry point; profile §8
PROGRAM_NAME = "fama_tunnel"
_HEAD = -IPV6_HEADER  # the outer header's place on the stack, below r10
_NEXT_HEADER = 6  # byte of the IPv6 header
# the data the kernel encapsulates only as single packets: it refuses a GSO packet of any but TCP
_SINGLE = sorted(DATA_NEXT_HEADERS - {TCP})


def _words(address: str) -> list[int]:
    """An IPv6 address as the four 32-bit immediates that store its bytes in order."""
    return list(struct.unpack("<4I", socket.inet_pton(socket.AF_INET6, address)))


def program(local: str, remote: str) -> bytes:
    """The instructions that tunnel every packet of the route from ``local`` to ``remote``."""
    singles = len(_SINGLE)  # the jumps below skip them, then BPF_OK and exit, to the header
    head = [
        ebpf.mov64_reg(R6, R1),
        ebpf.ldx_mem(W, R2, R6, SKB_DATA),
        ebpf.ldx_mem(W, R3, R6, SKB_DATA_END),
        ebpf.mov64_reg(R4, R2),
        ebpf.add64_imm(R4, IPV6_HEADER),
        ebpf.jmp_reg(ebpf.JGT, R4, R3, singles + 4),  # no whole IPv6 header: to the data plane
        ebpf.ldx_mem(B, R2, R2, _NEXT_HEADER),
        ebpf.jmp_imm(JEQ, R2, TCP, singles + 4),  # TCP, a super-packet or not: encapsulated here
        ebpf.ldx_mem(W, R3, R6, SKB_GSO_SIZE),
        ebpf.jmp_imm(JNE, R3, 0, singles),  # a GSO packet that is not TCP (see the docstring)
        *(ebpf.jmp_imm(JEQ, R2, proto, singles + 1 - i) for i, proto in enumerate(_SINGLE)),  # UDP, ICMPv6
        ebpf.mov64_imm(R0, BPF_OK),  # fama-tun: the data plane encapsulates it, or hands it on
        ebpf.exit_insn(),
    ]
    header = [
        ebpf.ldx_mem(W, R2, R6, SKB_LEN),
        ebpf.to_be(R2, 16),
        ebpf.st_mem(W, R10, _HEAD, 0x60),  # version 6, traffic class 0, flow label 0 (RFC 8200 §3)
        ebpf.stx_mem(H, R10, R2, _HEAD + 4),  # Payload Length: the whole inner packet
        ebpf.st_mem(B, R10, _HEAD + 6, IPV6_IN_IPV6),  # RFC 2473 §3: Next Header 41
        ebpf.st_mem(B, R10, _HEAD + 7, OUTER_HLIM),
    ]
    header += [ebpf.st_mem(W, R10, _HEAD + 8 + 4 * i, word) for i, word in enumerate(_words(local) + _words(remote))]
    push = [
        ebpf.mov64_reg(R1, R6),
        ebpf.mov64_imm(R2, LWT_ENCAP_IP),
        ebpf.mov64_reg(R3, R10),
        ebpf.add64_imm(R3, _HEAD),
        ebpf.mov64_imm(R4, IPV6_HEADER),
        ebpf.call(FUNC_LWT_PUSH_ENCAP),
        ebpf.jmp_imm(JNE, R0, 0, 2),
        ebpf.mov64_imm(R0, BPF_LWT_REROUTE),
        ebpf.exit_insn(),
        ebpf.mov64_imm(R0, BPF_DROP),
        ebpf.exit_insn(),
    ]
    return b"".join(head + header + push)


def load(local: str, remote: str) -> int:
    """The loaded program of the tunnel ``local`` -> ``remote``: a descriptor, the caller's to close
    once a route holds it."""
    return ebpf.load(PROG_TYPE_LWT_XMIT, program(local, remote), PROGRAM_NAME)


def supported() -> str | None:
    """None when this kernel loads the tunnel program, else why not (one line)."""
    try:
        fd = load("::1", "::1")
    except OSError as exc:
        return str(exc)
    os.close(fd)
    return None
