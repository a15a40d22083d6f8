"""eBPF for the roles' kernel mode: instructions by hand, a program loaded by the bpf() syscall.

Theory of operation
-------------------
A program the kernel runs on a packet (here a route's lightweight tunnel,
:mod:`scapy_fama.net.lwt`) is a list of ``struct bpf_insn`` (linux/bpf.h), eight
bytes each, little-endian on this host::

    code u8 | dst_reg:4 src_reg:4 (dst in the low nibble) | off s16 | imm s32

``code`` is the class (ALU64, JMP, LDX, ST, STX) or'ed with the operation and the
operand's source (BPF_K: ``imm``, BPF_X: ``src``) or the access size (B/H/W/DW);
the helpers in this module each build one instruction, named as the kernel's
``BPF_*`` macros of include/linux/filter.h name them, so that a program reads like
the kernel's samples. Registers: r0 the return value and a helper's result, r1-r5
a helper's arguments (clobbered by a call), r6-r9 kept across calls, r10 the
read-only frame pointer (512 bytes of stack below it). Jumps count instructions
after the jump.

:func:`load` hands the program to ``bpf(BPF_PROG_LOAD, union bpf_attr *, size)``
(syscall 321 on x86_64) through ctypes; the verifier's log is asked for when it
refuses a program (a second load), so a refusal is one :class:`OSError` with the
kernel's errno and the verifier's last line before its statistics. The program lives while a descriptor or a kernel object (a route) holds it.
"""

from __future__ import annotations

import ctypes
import functools
import os
import platform
import struct

# linux/bpf.h and linux/bpf_common.h
ALU, JMP, ALU64 = 0x04, 0x05, 0x07
LDX, ST, STX = 0x01, 0x02, 0x03
MEM = 0x60
W, H, B, DW = 0x00, 0x08, 0x10, 0x18
K, X = 0x00, 0x08
ADD, MOV, END = 0x00, 0xB0, 0xD0
TO_BE = 0x08  # BPF_END's source bit: convert to big-endian
JEQ, JNE, JGT = 0x10, 0x50, 0x20
CALL, EXIT = 0x80, 0x90
R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10 = range(11)
BPF_PROG_LOAD = 5
_SYS_BPF = {"x86_64": 321, "aarch64": 280}
_LOG_SIZE = 1 << 16
_INSN = struct.Struct("<BBhi")
# union bpf_attr for BPF_PROG_LOAD, up to prog_name: prog_type, insn_cnt, insns, license,
# log_level, log_size, log_buf, kern_version, prog_flags, prog_name[16] (offsets 0 .. 64)
_PROG_LOAD = struct.Struct("=IIQQIIQII16s")
_STATISTICS = ("processed ", "verification time", "stack depth")  # the log's closing lines
_ATTR_SIZE = 144  # sizeof(union bpf_attr) in this kernel's uapi


def insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    """One ``struct bpf_insn``; ``imm`` may be given unsigned (it is a 32-bit pattern)."""
    if imm >= 1 << 31:
        imm -= 1 << 32
    return _INSN.pack(code, dst | src << 4, off, imm)


def mov64_reg(dst: int, src: int) -> bytes:
    return insn(ALU64 | MOV | X, dst, src)


def mov64_imm(dst: int, imm: int) -> bytes:
    return insn(ALU64 | MOV | K, dst, imm=imm)


def add64_imm(dst: int, imm: int) -> bytes:
    return insn(ALU64 | ADD | K, dst, imm=imm)


def to_be(dst: int, bits: int) -> bytes:
    """``dst = htobe<bits>(dst)`` (BPF_ENDIAN(BPF_TO_BE, dst, bits))."""
    return insn(ALU | END | TO_BE, dst, imm=bits)


def ldx_mem(size: int, dst: int, src: int, off: int) -> bytes:
    """``dst = *(size *)(src + off)``."""
    return insn(LDX | size | MEM, dst, src, off)


def stx_mem(size: int, dst: int, src: int, off: int) -> bytes:
    """``*(size *)(dst + off) = src``."""
    return insn(STX | size | MEM, dst, src, off)


def st_mem(size: int, dst: int, off: int, imm: int) -> bytes:
    """``*(size *)(dst + off) = imm``."""
    return insn(ST | size | MEM, dst, off=off, imm=imm)


def jmp_imm(op: int, dst: int, imm: int, off: int) -> bytes:
    """``if dst <op> imm goto +off``."""
    return insn(JMP | op | K, dst, off=off, imm=imm)


def jmp_reg(op: int, dst: int, src: int, off: int) -> bytes:
    """``if dst <op> src goto +off``."""
    return insn(JMP | op | X, dst, src, off)


def call(helper: int) -> bytes:
    return insn(JMP | CALL, imm=helper)


def exit_insn() -> bytes:
    return insn(JMP | EXIT)


@functools.cache
def _syscall() -> tuple[ctypes.CDLL, int]:
    """libc's ``syscall`` and bpf()'s number, looked up once: the process has libc already (no
    ``ctypes.util.find_library``, which runs ``ldconfig -p`` in a child process, a millisecond
    and more of the role's thread at every binding's route)."""
    number = _SYS_BPF.get(platform.machine())
    if number is None:
        raise OSError(f"bpf(): no syscall number known for {platform.machine()}")
    return ctypes.CDLL(None, use_errno=True), number


def _prog_load(prog_type: int, program: bytes, name: str, license: str, log: ctypes.Array[ctypes.c_char] | None) -> int:
    """bpf(BPF_PROG_LOAD): the descriptor, or -1 with errno set; the verifier writes its log
    into ``log`` when one is given (log level 1), else none."""
    libc, number = _syscall()
    code = ctypes.create_string_buffer(program, len(program))
    licence = ctypes.create_string_buffer(license.encode())
    log_level, log_size, log_buf = (1, len(log), ctypes.addressof(log)) if log is not None else (0, 0, 0)
    fields = _PROG_LOAD.pack(prog_type, len(program) // _INSN.size, ctypes.addressof(code),
                             ctypes.addressof(licence), log_level, log_size, log_buf, 0, 0,
                             name.encode()[:15])  # fmt: skip
    attr = ctypes.create_string_buffer(fields.ljust(_ATTR_SIZE, b"\0"), _ATTR_SIZE)
    return int(libc.syscall(number, BPF_PROG_LOAD, attr, _ATTR_SIZE))


def load(prog_type: int, program: bytes, name: str, license: str = "GPL") -> int:
    """Load ``program`` (instructions) as a program of ``prog_type``; its file descriptor.

    A refusal is an OSError with the kernel's errno and the verifier's last line. The
    verifier is asked for its log only then, loading the program a second time: writing the
    log of every instruction it checks made a load four times slower (0.3-0.4 ms against
    0.07-0.09 ms for a tunnel's program here), and a DAR loads one at every new binding's
    route, after its BA has left and before the first packet can be tunnelled."""
    fd = _prog_load(prog_type, program, name, license, None)
    if fd >= 0:
        return fd
    log = ctypes.create_string_buffer(_LOG_SIZE)
    fd = _prog_load(prog_type, program, name, license, log)
    if fd >= 0:  # taken the second time (a transient refusal, e.g. memory): use it
        return fd
    errno = ctypes.get_errno()
    lines = [line for line in log.value.decode(errors="replace").splitlines()
             if line.strip() and not line.startswith(_STATISTICS)]  # fmt: skip
    why = f": {lines[-1]}" if lines else ""
    raise OSError(errno, f"bpf(BPF_PROG_LOAD) {name}: {os.strerror(errno)}{why}")
