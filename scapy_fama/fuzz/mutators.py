"""Structure-aware mutations of FAMA messages, in three families.

Theory of operation
-------------------
A mutation is a named, JSON-able step ``(name, args)``. ``draw`` picks the
args from a case's RNG and the frame as it is now; ``apply`` is pure, so a
finding replays from its chain alone, and a step whose target is gone (an
option index past the end, after minimisation dropped an earlier step) does
nothing. ::

    field      seq (around the 32768 wrap), lifetime 0/1/max, flags, status, MH type,
               Payload Proto, reserved, Nonce Indices, addresses, cookie
    structure  option order / duplication / removal / insertion, option Length
               (short, long, odd), CGA Parameters split boundaries and size (255!),
               padding, Header Len, Payload Length, truncation, trailing bytes,
               HAO and RH2 missing, doubled, misplaced, lying
    crypto     Signature, BAD and checksum bytes (``undone`` by --keep-valid, so
               left out there), CGA Parameters contents (modifier, prefix,
               collision count, DER key, extension fields), PHKT ciphertext

Offsets are RFC 6275 §6.1 (MH) and §6.3/§6.4 (HAO, RH2), RFC 3972 §3 (CGA
Parameters), RFC 4866 §5 (options).
"""

from __future__ import annotations

import random
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scapy_fama.fuzz.frame import Ext, Frame, Opt, render
from scapy_fama.wire.numbers import BA as BA_TYPE
from scapy_fama.wire.numbers import BU as BU_TYPE
from scapy_fama.wire.numbers import CGA_PARAMS, CGA_PIECE, DEST_OPTS, HOP_BY_HOP, ROUTING
from scapy_fama.wire.write import hao_body, rh2_body

Args = dict[str, Any]
FIELD, STRUCTURE, CRYPTO = "field", "structure", "crypto"
FAMILIES = (FIELD, STRUCTURE, CRYPTO)
SPECIAL_ADDRESSES = ["::", "::1", "ff02::1", "fe80::1", "2001:db8:1::1", "2001:db8:1::dead", "2001:db8:2::1"]


@dataclass(frozen=True)
class Mutator:
    name: str
    family: str
    draw: Callable[[random.Random, Frame], Args | None]
    apply: Callable[[Frame, Args], None]
    undone_by_resigning: bool = False  # the crypto bytes --keep-valid recomputes


MUTATORS: dict[str, Mutator] = {}


def mutator(name: str, family: str, draw: Callable[[random.Random, Frame], Args | None], *, undone: bool = False):  # type: ignore[no-untyped-def]
    def register(apply: Callable[[Frame, Args], None]) -> Callable[[Frame, Args], None]:
        MUTATORS[name] = Mutator(name, family, draw, apply, undone)
        return apply

    return register


STEPS = (1, 1, 1, 2, 2, 3, 4)  # how many mutations one case stacks


def mutate(rng: random.Random, frame: Frame, pool: list[Mutator]) -> list[tuple[str, Args]]:
    """Stack one to four mutations from ``pool`` on ``frame`` (in place); the chain applied."""
    chain: list[tuple[str, Args]] = []
    for _ in range(STEPS[rng.randrange(len(STEPS))]):
        for _attempt in range(4):
            m = pool[rng.randrange(len(pool))]
            args = m.draw(rng, frame)
            if args is not None:
                m.apply(frame, args)
                chain.append((m.name, args))
                break
    return chain


def apply_chain(frame: Frame, chain: list[tuple[str, Args]]) -> Frame:
    """A copy of ``frame`` with the steps applied in order."""
    out = frame.copy()
    for name, args in chain:
        MUTATORS[name].apply(out, args)
    return out


# ---------------------------------------------------------------- helpers


def _put(frame: Frame, off: int, size: int, value: int) -> None:
    if off + size <= len(frame.mh):
        frame.mh[off : off + size] = (value % (1 << 8 * size)).to_bytes(size, "big")


def _get(frame: Frame, off: int, size: int) -> int | None:
    return int.from_bytes(frame.mh[off : off + size], "big") if off + size <= len(frame.mh) else None


def _seq_off(frame: Frame) -> int | None:
    return {BU_TYPE: 6, BA_TYPE: 8}.get(frame.mhtype)  # RFC 6275 §6.1.7, §6.1.8


def _real(frame: Frame) -> list[int]:
    """Indices of options that are not padding."""
    return [i for i, o in enumerate(frame.options) if o.otype > 1]


def _opt(frame: Frame, i: int) -> Opt | None:
    return frame.options[i] if 0 <= i < len(frame.options) else None


def _cga_run(frame: Frame) -> tuple[int, int] | None:
    """[first, last] indices of the first run of CGA Parameters options."""
    idx = [i for i, o in enumerate(frame.options) if o.otype == CGA_PARAMS]
    if not idx:
        return None
    last = idx[0]
    while last + 1 < len(frame.options) and frame.options[last + 1].otype == CGA_PARAMS:
        last += 1
    return idx[0], last


def cga_params(frame: Frame) -> bytes | None:
    run = _cga_run(frame)
    return None if run is None else b"".join(o.data for o in frame.options[run[0] : run[1] + 1])


def set_cga_params(frame: Frame, params: bytes, sizes: list[int] | None = None) -> None:
    """Replace the CGA Parameters run: split at ``sizes`` (the last piece takes the rest),
    or as RFC 4866 §5.1 says (255-byte pieces)."""
    run = _cga_run(frame)
    if run is None:
        return
    pieces, pos = [], 0
    for n in sizes or []:
        pieces.append(params[pos : pos + n])
        pos += n
    rest = params[pos:]
    pieces += [rest[k : k + CGA_PIECE] for k in range(0, len(rest), CGA_PIECE)] or ([] if pieces else [b""])
    frame.options[run[0] : run[1] + 1] = [Opt(CGA_PARAMS, p) for p in pieces]


def _ext(frame: Frame, nh: int) -> int | None:
    return next((i for i, e in enumerate(frame.ext) if e.nh == nh), None)


def _addr(text: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6, text)


def _home_address(frame: Frame) -> bytes:
    i = _ext(frame, DEST_OPTS)
    if i is not None and len(frame.ext[i].body) >= 22:
        return frame.ext[i].body[6:22]
    return frame.src


def _choice(rng: random.Random, values: list[Any]) -> Any:
    return values[rng.randrange(len(values))]


# ---------------------------------------------------------------- field values


def _draw_seq(rng: random.Random, f: Frame) -> Args | None:
    off = _seq_off(f)
    base = _get(f, off, 2) if off is not None else None
    if base is None:
        return None
    near = [0, 1, 0x7FFF, 0x8000, 0x8001, 0xFFFF, base - 1, base + 1, base + 0x7FFF, base + 0x8000, base + 0x8001]
    return {"value": _choice(rng, near) & 0xFFFF}


@mutator("seq", FIELD, _draw_seq)
def _seq(f: Frame, a: Args) -> None:
    off = _seq_off(f)
    if off is not None:
        _put(f, off, 2, a["value"])


def _draw_lifetime(rng: random.Random, f: Frame) -> Args | None:
    if f.mhtype not in (BU_TYPE, BA_TYPE):
        return None
    return {"units": _choice(rng, [0, 1, 2, 0x7FFF, 0xFFFE, 0xFFFF, 21600, rng.randrange(0x10000)])}


@mutator("lifetime", FIELD, _draw_lifetime)
def _lifetime(f: Frame, a: Args) -> None:
    if f.mhtype in (BU_TYPE, BA_TYPE):
        _put(f, 10, 2, a["units"])  # 4-second units (RFC 6275 §6.1.7)


def _draw_flags(rng: random.Random, f: Frame) -> Args | None:
    if f.mhtype == BU_TYPE:
        return {"value": _choice(rng, [0, 0x8000, 0x4000, 0xC000, 0xD000, 0xFE00, 0xFFFF, rng.randrange(0x10000)])}
    if f.mhtype == BA_TYPE:
        return {"value": _choice(rng, [0, 0x80, 0xE0, 0xFF, rng.randrange(0x100)])}
    return None


@mutator("flags", FIELD, _draw_flags)
def _flags(f: Frame, a: Args) -> None:
    if f.mhtype == BU_TYPE:
        _put(f, 8, 2, a["value"])
    elif f.mhtype == BA_TYPE:
        _put(f, 7, 1, a["value"])


def _draw_status(rng: random.Random, f: Frame) -> Args | None:
    if f.mhtype != BA_TYPE:
        return None
    return {"value": _choice(rng, [0, 1, 127, 128, 129, 130, 132, 133, 135, 136, 137, 139, 147, 148, 149, 150, 255])}


@mutator("status", FIELD, _draw_status)
def _status(f: Frame, a: Args) -> None:
    if f.mhtype == BA_TYPE:
        _put(f, 6, 1, a["value"])


def _draw_byte(offset: int, values: list[int]) -> Callable[[random.Random, Frame], Args | None]:
    def draw(rng: random.Random, f: Frame) -> Args | None:
        return {"offset": offset, "value": _choice(rng, values + [rng.randrange(256)])}

    return draw


@mutator("mh-type", FIELD, _draw_byte(2, [0, 1, 2, 3, 4, 5, 6, 7, 8, 16, 17, 255]))
@mutator("payload-proto", FIELD, _draw_byte(0, [59, 0, 6, 17, 41, 135, 255]))
@mutator("reserved", FIELD, _draw_byte(3, [1, 0x80, 0xFF]))
def _byte(f: Frame, a: Args) -> None:
    _put(f, a["offset"], 1, a["value"])


def _draw_nonces(rng: random.Random, f: Frame) -> Args | None:
    idx = [i for i, o in enumerate(f.options) if o.otype == 4]
    if not idx:
        return None
    values = [0, 1, 0x7FFF, 0xFFFF]
    return {"i": _choice(rng, idx), "hni": _choice(rng, values), "coni": _choice(rng, values)}


@mutator("nonce-indices", FIELD, _draw_nonces)
def _nonces(f: Frame, a: Args) -> None:
    o = _opt(f, a["i"])
    if o is not None:
        o.data = a["hni"].to_bytes(2, "big") + a["coni"].to_bytes(2, "big")


def _draw_address(rng: random.Random, f: Frame) -> Args | None:
    return {"which": _choice(rng, ["src", "dst"]), "address": _choice(rng, SPECIAL_ADDRESSES)}


@mutator("address", FIELD, _draw_address)
def _address(f: Frame, a: Args) -> None:
    setattr(f, a["which"], _addr(a["address"]))


def _draw_cookie(rng: random.Random, f: Frame) -> Args | None:
    return {"value": rng.randbytes(8).hex()} if len(f.mh) >= 16 and f.mhtype in (1, 2) else None


@mutator("cookie", FIELD, _draw_cookie)
def _cookie(f: Frame, a: Args) -> None:
    if len(f.mh) >= 16:
        f.mh[8:16] = bytes.fromhex(a["value"])


# ---------------------------------------------------------------- structure: options


def _draw_swap(rng: random.Random, f: Frame) -> Args | None:
    n = len(f.options)
    return {"i": rng.randrange(n), "j": rng.randrange(n)} if n >= 2 else None


@mutator("option-swap", STRUCTURE, _draw_swap)
def _swap(f: Frame, a: Args) -> None:
    i, j = a["i"], a["j"]
    if max(i, j) < len(f.options):
        f.options[i], f.options[j] = f.options[j], f.options[i]


def _draw_dup(rng: random.Random, f: Frame) -> Args | None:
    real = _real(f)
    return {"i": _choice(rng, real), "at": rng.randrange(len(f.options) + 1)} if real else None


@mutator("option-duplicate", STRUCTURE, _draw_dup)
def _dup(f: Frame, a: Args) -> None:
    o = _opt(f, a["i"])
    if o is not None:
        f.options.insert(min(a["at"], len(f.options)), Opt(o.otype, o.data, o.length))


def _draw_remove(rng: random.Random, f: Frame) -> Args | None:
    return {"i": rng.randrange(len(f.options))} if f.options else None


@mutator("option-remove", STRUCTURE, _draw_remove)
def _remove(f: Frame, a: Args) -> None:
    if _opt(f, a["i"]) is not None:
        del f.options[a["i"]]


def _draw_insert(rng: random.Random, f: Frame) -> Args | None:
    otype = _choice(rng, [2, 3, 4, 5, 11, 12, 13, 14, 15, 16, 17, 200, 255])
    size = _choice(rng, [0, 1, 2, 4, 12, 16, 128, 255])
    return {"at": rng.randrange(len(f.options) + 1), "otype": otype, "data": rng.randbytes(size).hex()}


@mutator("option-insert", STRUCTURE, _draw_insert)
def _insert(f: Frame, a: Args) -> None:
    f.options.insert(min(a["at"], len(f.options)), Opt(a["otype"], bytes.fromhex(a["data"])))


def _draw_length(rng: random.Random, f: Frame) -> Args | None:
    real = _real(f)
    if not real:
        return None
    i = _choice(rng, real)
    n = len(f.options[i].data)
    return {"i": i, "length": _choice(rng, [0, 1, n - 1, n + 1, n ^ 1, n | 1, 255, rng.randrange(256)]) & 0xFF}


@mutator("option-length", STRUCTURE, _draw_length)
def _length(f: Frame, a: Args) -> None:
    o = _opt(f, a["i"])
    if o is not None and o.otype:
        o.length = a["length"]


def _draw_split(rng: random.Random, f: Frame) -> Args | None:
    params = cga_params(f)
    if params is None:
        return None
    n = len(params)
    cut = rng.randrange(n + 1)
    sizes = _choice(rng, [[1], [n - 1], [cut], [0], [n], [cut, rng.randrange(n - cut + 1)], [CGA_PIECE - 1]])
    return {"sizes": [min(s, CGA_PIECE) for s in sizes]}


@mutator("cga-split", STRUCTURE, _draw_split)
def _split(f: Frame, a: Args) -> None:
    params = cga_params(f)
    if params is not None:
        set_cga_params(f, params, a["sizes"])


def _draw_grow(rng: random.Random, f: Frame) -> Args | None:
    if cga_params(f) is None:
        return None
    return {"size": _choice(rng, [254, 255, 256, 300, 509, 510, 511, 765, 766]), "fill": rng.randrange(256)}


@mutator("cga-size", STRUCTURE, _draw_grow)
def _grow(f: Frame, a: Args) -> None:
    """Extension-field room (RFC 3972 §3) to an exact size, split as RFC 4866 §5.1 says."""
    params = cga_params(f)
    if params is not None:
        size = a["size"]
        set_cga_params(f, (params + bytes([a["fill"]]) * size)[:size])


def _draw_pad(rng: random.Random, f: Frame) -> Args | None:
    return {"at": rng.randrange(len(f.options) + 1), "size": _choice(rng, [1, 2, 3, 6, 7, 8, 257])}


@mutator("padding", STRUCTURE, _draw_pad)
def _padding(f: Frame, a: Args) -> None:
    size, at = a["size"], min(a["at"], len(f.options))
    if size >= 1:  # a minimised step may ask for none (RFC 6275 §6.2.2: PadN holds 2 bytes or more)
        f.options.insert(at, Opt(0) if size == 1 else Opt(1, bytes(size - 2)))


def _draw_nothing(rng: random.Random, f: Frame) -> Args | None:
    return {}


@mutator("no-tail-pad", STRUCTURE, _draw_nothing)
def _no_tail_pad(f: Frame, a: Args) -> None:
    f.pad_tail = False
    while f.options and f.options[-1].otype in (0, 1):
        f.options.pop()


def _draw_header_len(rng: random.Random, f: Frame) -> Args | None:
    now = (len(f.mh) + sum(len(o.wire()) for o in f.options) + 7) // 8 - 1
    return {"value": _choice(rng, [0, 1, now - 1, now + 1, now + 2, 255]) & 0xFF}


@mutator("header-len", STRUCTURE, _draw_header_len)
def _header_len(f: Frame, a: Args) -> None:
    f.header_len = a["value"]


def _draw_plen(rng: random.Random, f: Frame) -> Args | None:
    return {"delta": _choice(rng, [-1, 1, -8, 8, -100, 1000, -65536, 65535])}


@mutator("payload-length", STRUCTURE, _draw_plen)
def _plen(f: Frame, a: Args) -> None:
    honest = len(render(f.copy())) - 40 if f.payload_length is None else f.payload_length
    f.payload_length = max(0, honest + a["delta"]) & 0xFFFF


def _draw_truncate(rng: random.Random, f: Frame) -> Args | None:
    return {"keep": _choice(rng, [0, 1, 39, 40, 41, 46, 47, 48, rng.randrange(40, 400)])}


@mutator("truncate", STRUCTURE, _draw_truncate)
def _truncate(f: Frame, a: Args) -> None:
    f.truncate = a["keep"] if f.truncate is None else min(f.truncate, a["keep"])


def _draw_trailing(rng: random.Random, f: Frame) -> Args | None:
    return {"data": rng.randbytes(_choice(rng, [1, 7, 8, 64])).hex()}


@mutator("trailing-bytes", STRUCTURE, _draw_trailing)
def _trailing(f: Frame, a: Args) -> None:
    f.tail += bytes.fromhex(a["data"])


# ---------------------------------------------------------------- structure: extension headers


def _draw_ext_op(rng: random.Random, f: Frame) -> Args | None:
    ops = ["hao-remove", "hao-double", "hao-hop-by-hop", "hao-add", "rh2-add", "rh2-remove", "rh2-double", "reverse"]
    return {"op": _choice(rng, ops)}


@mutator("ext-headers", STRUCTURE, _draw_ext_op)
def _ext_headers(f: Frame, a: Args) -> None:
    """HAO and RH2 missing, doubled, misplaced (RFC 6275 §6.1: HAO only in a BU, RH2 only in a BA)."""
    op, home = a["op"], _home_address(f)
    hao, rh = _ext(f, DEST_OPTS), _ext(f, ROUTING)
    if op == "hao-remove" and hao is not None:
        del f.ext[hao]
    elif op == "hao-double" and hao is not None:
        f.ext.insert(hao, Ext(DEST_OPTS, f.ext[hao].body))
    elif op == "hao-hop-by-hop" and hao is not None:
        f.ext[hao] = Ext(HOP_BY_HOP, f.ext[hao].body)
    elif op == "hao-add":
        f.ext.append(Ext(DEST_OPTS, hao_body(home)))
    elif op == "rh2-add":
        f.ext.insert(0, Ext(ROUTING, rh2_body(home)))
    elif op == "rh2-remove" and rh is not None:
        del f.ext[rh]
    elif op == "rh2-double" and rh is not None:
        f.ext.insert(rh, Ext(ROUTING, f.ext[rh].body))
    elif op == "reverse":
        f.ext.reverse()


def _draw_hao_field(rng: random.Random, f: Frame) -> Args | None:
    if _ext(f, DEST_OPTS) is None and _ext(f, ROUTING) is None:
        return None
    return {
        "field": _choice(rng, ["address", "length", "ext-len", "rh-type", "segleft"]),
        "address": _choice(rng, SPECIAL_ADDRESSES),
        "value": _choice(rng, [0, 1, 2, 3, 15, 17, 255]),
    }


@mutator("ext-fields", STRUCTURE, _draw_hao_field)
def _ext_fields(f: Frame, a: Args) -> None:
    """HAO address and option length, Hdr Ext Len, RH type and Segments Left."""
    i = _ext(f, DEST_OPTS)
    j = _ext(f, ROUTING)
    which, value = a["field"], a["value"]
    if which == "address" and (i is not None or j is not None):
        k = i if i is not None else j
        assert k is not None
        body = f.ext[k].body
        f.ext[k].body = body[:6] + _addr(a["address"]) + body[22:]
    elif which == "length" and i is not None and len(f.ext[i].body) >= 6:
        body = f.ext[i].body
        f.ext[i].body = body[:5] + bytes([value]) + body[6:]
    elif which == "ext-len" and (i is not None or j is not None):
        f.ext[i if i is not None else j].hlen = value  # type: ignore[index]
    elif which in ("rh-type", "segleft") and j is not None:
        body = bytearray(f.ext[j].body)
        body[0 if which == "rh-type" else 1] = value
        f.ext[j].body = bytes(body)


# ---------------------------------------------------------------- crypto


def _draw_flip(otype: int) -> Callable[[random.Random, Frame], Args | None]:
    def draw(rng: random.Random, f: Frame) -> Args | None:
        idx = [i for i, o in enumerate(f.options) if o.otype == otype and o.data]
        if not idx:
            return None
        i = _choice(rng, idx)
        return {"i": i, "pos": rng.randrange(len(f.options[i].data)), "mask": 1 << rng.randrange(8),
                "zero": rng.random() < 0.2}

    return draw


@mutator("signature-bits", CRYPTO, _draw_flip(13), undone=True)
@mutator("bad-bits", CRYPTO, _draw_flip(5), undone=True)
@mutator("phkt-bits", CRYPTO, _draw_flip(14))
def _flip(f: Frame, a: Args) -> None:
    o = _opt(f, a["i"])
    if o is not None and a["pos"] < len(o.data):
        data = bytearray(bytes(len(o.data)) if a["zero"] else o.data)
        data[a["pos"]] ^= a["mask"]
        o.data = bytes(data)


def _draw_checksum(rng: random.Random, f: Frame) -> Args | None:
    return {"value": _choice(rng, [0, 0xFFFF, rng.randrange(0x10000)])}


@mutator("checksum", CRYPTO, _draw_checksum, undone=True)
def _checksum(f: Frame, a: Args) -> None:
    f.checksum = a["value"]


def _draw_params(rng: random.Random, f: Frame) -> Args | None:
    params = cga_params(f)
    if not params:
        return None
    part = _choice(rng, ["modifier", "prefix", "collision", "key-header", "key", "cut", "extension"])
    return {"part": part, "pos": rng.randrange(len(params)), "value": rng.randrange(256),
            "size": _choice(rng, [0, 16, 24, 25, 26, 27, 60, len(params) - 1]),
            "ext": rng.randbytes(_choice(rng, [1, 3, 4, 8])).hex()}


@mutator("cga-contents", CRYPTO, _draw_params)
def _params(f: Frame, a: Args) -> None:
    """RFC 3972 §3: modifier 0-15, subnet prefix 16-23, collision count 24, DER key from 25."""
    params = cga_params(f)
    if not params:
        return
    out = bytearray(params)
    part, value = a["part"], a["value"]
    spot = {"modifier": a["pos"] % 16, "prefix": 16 + a["pos"] % 8, "collision": 24,
            "key-header": 25 + a["pos"] % 4, "key": a["pos"]}.get(part)
    if spot is not None and spot < len(out):
        out[spot] = value
    elif part == "cut":
        out = out[: a["size"]]
    elif part == "extension":  # an RFC 4581 TLV whose length lies, or a stub of one
        out += bytes.fromhex(a["ext"])
    set_cga_params(f, bytes(out))


def mutators_of(family: str, keep_valid: bool) -> list[Mutator]:
    """The mutators of ``family``; with --keep-valid, not those re-signing undoes."""
    return [m for m in MUTATORS.values() if m.family == family and not (keep_valid and m.undone_by_resigning)]
