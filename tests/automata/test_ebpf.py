"""The eBPF assembler against instruction bytes worked out by hand from linux/bpf.h, the tunnel
program's outer header against RFC 2473 §3 / RFC 8200 §3, and the virtio_net_hdr rewrite.

``struct bpf_insn`` is code u8, dst_reg:4 | src_reg:4 (dst in the low nibble on this
little-endian host), off s16, imm s32, little-endian. Opcodes from linux/bpf.h and
bpf_common.h: BPF_ALU64 0x07 | BPF_MOV 0xb0 | BPF_X 0x08 = 0xbf; BPF_LDX 0x01 | BPF_W 0x00 |
BPF_MEM 0x60 = 0x61; BPF_ST 0x02 | BPF_W | BPF_MEM = 0x62; BPF_STX 0x03 | BPF_H 0x08 | BPF_MEM =
0x6b; BPF_ALU 0x04 | BPF_END 0xd0 | BPF_TO_BE 0x08 = 0xdc; BPF_JMP 0x05 | BPF_CALL 0x80 = 0x85;
BPF_JMP | BPF_EXIT 0x90 = 0x95; BPF_JMP | BPF_JNE 0x50 | BPF_K = 0x55; BPF_JMP | BPF_JGT 0x20 |
BPF_X = 0x2d.
"""

from __future__ import annotations

import os
import socket
import struct

import pytest

from scapy_fama.net import ebpf, lwt, vnet
from scapy_fama.net.ebpf import H, JGT, JNE, R0, R1, R2, R3, R4, R6, R10, W
from scapy_fama.wire.numbers import DATA_NEXT_HEADERS


@pytest.mark.parametrize(
    ("built", "expected"),
    [
        (ebpf.mov64_reg(R6, R1), "bf16000000000000"),  # r6 = r1
        (ebpf.ldx_mem(W, R2, R6, 176), "6162b00000000000"),  # r2 = *(u32 *)(r6 + 176)
        (ebpf.st_mem(W, R10, -40, 0x60), "620ad8ff60000000"),  # *(u32 *)(r10 - 40) = 0x60
        (ebpf.st_mem(W, R10, -4, 0xFFFFFFFF), "620afcffffffffff"),  # an unsigned 32-bit pattern
        (ebpf.stx_mem(H, R10, R2, -36), "6b2adcff00000000"),  # *(u16 *)(r10 - 36) = r2
        (ebpf.to_be(R2, 16), "dc02000010000000"),  # r2 = htobe16(r2)
        (ebpf.call(73), "8500000049000000"),  # bpf_lwt_push_encap
        (ebpf.jmp_imm(JNE, R0, 0, 2), "5500020000000000"),  # if r0 != 0 goto +2
        (ebpf.jmp_reg(JGT, R4, R3, 2), "2d34020000000000"),  # if r4 > r3 goto +2
        (ebpf.exit_insn(), "9500000000000000"),
    ],
)
def test_each_instruction_encodes_as_the_kernel_s_struct_bpf_insn(built: bytes, expected: str) -> None:
    assert built.hex() == expected


def test_the_tunnel_program_stores_an_rfc_2473_outer_header_from_the_dar_to_the_coa() -> None:
    """Replay the program's stores to the stack: the 40 bytes it pushes, with 1234 as skb->len."""
    local, remote = "2001:db8:1::1", "2001:db8:2:0:1:2:3:4"
    stack = bytearray(40)
    code = lwt.program(local, remote)
    for at in range(0, len(code), 8):
        op, regs, off, imm = struct.unpack("<BBhi", code[at : at + 8])
        if op == 0x62 and regs & 0xF == R10:  # st w
            stack[40 + off : 44 + off] = struct.pack("<i", imm)
        elif op == 0x72 and regs & 0xF == R10:  # st b (BPF_ST | BPF_B 0x10 | BPF_MEM)
            stack[40 + off] = imm
        elif op == 0x6B and regs & 0xF == R10:  # stx h of r2 = htobe16(skb->len)
            stack[40 + off : 42 + off] = (1234).to_bytes(2, "big")
    assert stack[:8] == bytes.fromhex("60000000") + (1234).to_bytes(2, "big") + bytes((41, 64))
    assert stack[8:24] == socket.inet_pton(socket.AF_INET6, local)
    assert stack[24:] == socket.inet_pton(socket.AF_INET6, remote)


def _encapsulates(code: bytes, packet: bytes, gso_size: int) -> bool:
    """Run the program up to its first store to the stack (it writes the outer header: True) or
    its exit (False, r0 BPF_OK): the loads, moves, adds and jumps of its head, on an skb holding
    ``packet``. Opcodes from linux/bpf.h (see the module docstring), and BPF_LDX | BPF_B | BPF_MEM
    0x71, BPF_ALU64 | BPF_ADD | BPF_K 0x07, BPF_ALU64 | BPF_MOV | BPF_K 0xb7, BPF_JMP | BPF_JEQ |
    BPF_K 0x15, BPF_ALU | BPF_END | BPF_TO_BE 0xdc; struct __sk_buff: len 0, data 76, data_end 80,
    gso_size 176."""
    data = 1 << 20  # where the packet lies, as the program sees it
    skb = {0: len(packet), 76: data, 80: data + len(packet), 176: gso_size}
    regs = {R1: -1}  # the context
    pc = 0
    while True:
        op, both, off, imm = struct.unpack("<BBhi", code[8 * pc : 8 * pc + 8])
        dst, src = both & 0xF, both >> 4
        pc += 1
        if op in (0x62, 0x72, 0x6B):  # st/stx into the outer header
            return True
        if op == 0x95:
            assert regs.get(R0) == 0  # BPF_OK: the route goes on to fama-tun
            return False
        if op == 0xBF:
            regs[dst] = regs[src]
        elif op == 0xB7:
            regs[dst] = imm
        elif op == 0x07:
            regs[dst] += imm
        elif op == 0x61:
            assert regs[src] == -1, "a 32-bit load from the context only"
            regs[dst] = skb[off]
        elif op == 0x71:
            regs[dst] = packet[regs[src] + off - data]
        elif op == 0xDC:  # htobe16 of skb->len, for the outer Payload Length
            regs[dst] = int.from_bytes((regs[dst] & 0xFFFF).to_bytes(2, "little"), "big")
        elif op in (0x2D, 0x15, 0x55):
            left, right = regs[dst], regs[src] if op == 0x2D else imm
            pc += off if (left > right if op == 0x2D else (left == right) == (op == 0x15)) else 0
        else:
            raise AssertionError(f"opcode {op:#04x} at {pc - 1}: not one of the program's head")


def test_the_tunnel_program_encapsulates_tcp_udp_and_icmpv6_the_data_plane_s_data_and_nothing_else() -> None:
    """Every Next Header, single packet or GSO super-packet: the kernel tunnels TCP (6), UDP (17)
    and ICMPv6 (58), of the super-packets only TCP's (it refuses others after the push), and
    leaves the rest, a Mobility Header (135) above all, to the data plane, which tunnels it or hands
    it to the automaton by the same list (wire.numbers.DATA_NEXT_HEADERS: one definition)."""
    assert DATA_NEXT_HEADERS == {6, 17, 58}
    code = lwt.program("2001:db8:1::1", "2001:db8:2::5")
    for next_header in range(256):
        packet = bytes((0x60, 0, 0, 0, 0, 0, next_header, 64)) + bytes(32)
        assert _encapsulates(code, packet, 0) == (next_header in (6, 17, 58)), next_header
        assert _encapsulates(code, packet, 1300) == (next_header == 6), next_header
    assert not _encapsulates(code, bytes((0x60, 0, 0, 0, 0, 0, 6, 64)), 0)  # no whole IPv6 header


@pytest.mark.skipif(os.geteuid() != 0, reason="loading a BPF program needs root (CAP_BPF)")
def test_a_program_the_verifier_refuses_is_one_line_with_the_errno_and_the_verifier_s_reason() -> None:
    with pytest.raises(OSError) as refused:
        ebpf.load(lwt.PROG_TYPE_LWT_XMIT, ebpf.exit_insn(), "fama_bad")  # r0 never set
    assert refused.value.errno == 13 or refused.value.errno == 22
    assert "fama_bad" in str(refused.value) and "\n" not in str(refused.value)
    assert "R0" in str(refused.value)



@pytest.mark.skipif(os.geteuid() != 0, reason="loading a BPF program needs root (CAP_BPF)")
def test_a_program_the_verifier_takes_is_loaded_once_without_asking_for_its_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """The verifier's log of every instruction made a tunnel's load four times slower; it is
    asked for only to say why a program was refused (the test above)."""
    logs: list[bool] = []
    real = ebpf._prog_load

    def spy(*args: object) -> int:
        logs.append(args[-1] is not None)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(ebpf, "_prog_load", spy)
    os.close(lwt.load("2001:db8:1::1", "2001:db8:2::77"))
    assert logs == [False]
    with pytest.raises(OSError):
        ebpf.load(lwt.PROG_TYPE_LWT_XMIT, ebpf.exit_insn(), "fama_bad")
    assert logs == [False, False, True]

def test_the_inner_packet_s_virtio_net_hdr_counts_from_the_inner_packet() -> None:
    # NEEDS_CSUM | DATA_VALID, GSO_TCPV6, hdr_len 134, gso_size 1300, csum_start 94 (14 + 40 + 40), offset 16
    outer = struct.pack("<BBHHHH", 0x03, 4, 134, 1300, 94, 16)
    assert vnet.inner(outer, 54) == struct.pack("<BBHHHH", 0x01, 4, 80, 1300, 40, 16)
    assert vnet.inner(outer, 100) is None  # the checksum would start in what is taken off
    assert vnet.inner(struct.pack("<BBHHHH", 0x02, 0, 0, 0, 0, 0), 54) == vnet.PLAIN  # checked by the kernel
