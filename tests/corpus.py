"""A deterministic corpus of FAMA signalling packets, with the ground truth we intend.

Theory of operation
-------------------
``build_corpus(seed)`` draws every choice (addresses, sequence numbers, lifetimes,
flags, cookies, CGA extension sizes, which options) from one seeded
``random.Random`` and builds each packet with the project's craft helpers or
layer classes. Next to the bytes, each :class:`Entry` records what we *meant*
to send, computed here from the construction inputs and not read back from
the packet: MH type, Header Len, sequence number, status, lifetime, flags,
and the option layout (types in wire order, padding included, lengths and MH
offsets), laid out by :func:`layout` from the RFC 6275 §6.2 alignment rules::

    inputs --craft/layers--> bytes --+--> our dissection  --+
       |                             +--> tshark 4.0       --+--> must all agree
       +--layout()--> ground truth ------------------------+

RSA keys come from seeded primes (:func:`seeded_keypair`), so signatures,
CGA parameters and authenticators are the same on every run. The one
exception is the PHKT ciphertext: RSAES-PKCS1-v1_5 encryption is randomised
by design (RFC 3447 §7.2.1), so its bytes change between runs, its length
does not.

The module also holds the test side's own reading of raw bytes
(:func:`raw_view`, :func:`rfc6275_checksum`): an extension-header walk and a
one's-complement checksum written from RFC 6275 §6.1.1 / RFC 8200 §8.1, used
to check the layers without going through them.
"""

from __future__ import annotations

import atexit
import json
import os
import random
import shutil
import socket
import struct
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from scapy.layers.inet6 import (
    HAO,
    IPv6,
    IPv6ExtHdrDestOpt,
    MIP6OptAltCoA,
    MIP6OptBRAdvice,
)
from scapy.packet import Packet
from scapy.utils import PcapWriter

import scapy_fama  # noqa: F401  (registers the layers)
from scapy_fama import craft
from scapy_fama.crypto import KeyPair, cga_generate, new_phkt
from scapy_fama.layers import (
    BA,
    BE,
    BRR,
    BU,
    RH2,
    BindingAuthData,
    CareOfTestOpt,
    CGAParamsOpt,
    HoT,
    HoTI,
    NonceIndices,
)
from scapy_fama.layers.spans import option_spans

SEED = 4866
PUBLIC_EXPONENT = 65537

# --- ground truth ---------------------------------------------------------------------------

PAD1, PADN = 0, 1
OPT_BRA, OPT_ALTCOA, OPT_NI, OPT_BAD = 2, 3, 4, 5
OPT_CGA_REQ, OPT_CGA, OPT_SIG, OPT_PHKT, OPT_COTI, OPT_COT = 11, 12, 13, 14, 15, 16
PIECE = 255  # RFC 4866 §5.1: a CGA Parameters option carries at most 255 bytes

# RFC 6275 §6.2: option type -> (x, y), "the Type byte sits at an MH offset = y mod x".
# The RFC 4866 options (11-16) state no alignment.
ALIGNMENT = {OPT_BRA: (2, 0), OPT_ALTCOA: (8, 6), OPT_NI: (2, 0), OPT_BAD: (8, 2)}

# MH type -> length of the fixed part, options start there (RFC 6275 §6.1).
FIXED_PART = {0: 8, 1: 16, 2: 16, 3: 24, 4: 24, 5: 12, 6: 12, 7: 24}


@dataclass(frozen=True)
class Opt:
    """One mobility option as intended on the wire."""

    otype: int
    olen: int | None  # None for Pad1, which has no length byte
    offset: int  # MH offset of the type byte

    @property
    def size(self) -> int:
        return 1 if self.olen is None else 2 + self.olen

    @property
    def end(self) -> int:
        return self.offset + self.size


@dataclass(frozen=True)
class Entry:
    """One corpus packet and the ground truth it was built to carry."""

    index: int
    kind: str
    raw: bytes  # the whole IPv6 packet
    mhtype: int
    hlen: int  # MH Header Len (8-octet units after the first 8)
    options: tuple[Opt, ...]
    src: str
    dst: str
    mh_offset: int
    hao: str | None = None  # Home Address option value
    rh2: str | None = None  # type 2 routing header address
    seq: int | None = None
    status: int | None = None  # BA or BE status
    lifetime: int | None = None  # 4-second units
    flags: frozenset[str] = frozenset()  # BU: A H L K M R P; BA: K R P
    extra: dict[str, Any] = field(default_factory=dict)  # cookies, indices, tokens, BE HoA


def cga_pieces(total: int) -> list[int]:
    """RFC 4866 §5.1 split of a CGA Parameters block into option data lengths."""
    if total == 0:
        return [0]
    full, rest = divmod(total, PIECE)
    return [PIECE] * full + ([rest] if rest else [])


def layout(mhtype: int, wanted: list[tuple[int, int]]) -> tuple[tuple[Opt, ...], int]:
    """Place (type, data length) options after the fixed part, padding as RFC 6275 §6.2 says.

    Returns the options (padding included) and the MH Header Len.
    """
    pos = FIXED_PART[mhtype]
    out: list[Opt] = []

    def pad(n: int) -> None:
        nonlocal pos
        if n == 1:
            out.append(Opt(PAD1, None, pos))
        elif n >= 2:
            out.append(Opt(PADN, n - 2, pos))
        pos += n

    for otype, olen in wanted:
        x, y = ALIGNMENT.get(otype, (1, 0))
        pad((y - pos) % x)
        out.append(Opt(otype, olen, pos))
        pos += 2 + olen
    pad(-pos % 8)
    return tuple(out), pos // 8 - 1


# --- deterministic keys -----------------------------------------------------------------------

_SMALL_PRIMES = [p for p in range(3, 2000) if all(p % d for d in range(2, int(p**0.5) + 1))]


def _probable_prime(n: int, rng: random.Random, rounds: int = 40) -> bool:
    """Miller-Rabin with random bases."""
    if any(n % p == 0 for p in _SMALL_PRIMES):
        return n in _SMALL_PRIMES
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(rounds):
        x = pow(rng.randrange(2, n - 1), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _seeded_prime(rng: random.Random, bits: int) -> int:
    while True:
        # top two bits set: the product of two such primes has exactly 2*bits bits
        cand = rng.getrandbits(bits) | (3 << (bits - 2)) | 1
        if cand % PUBLIC_EXPONENT != 1 and _probable_prime(cand, rng):
            return cand


@cache
def seeded_keypair(bits: int, label: str) -> KeyPair:
    """An RSA key pair that depends only on (bits, label): the corpus key cache."""
    rng = random.Random(f"{SEED}/{bits}/{label}")
    p = _seeded_prime(rng, bits // 2)
    q = _seeded_prime(rng, bits // 2)
    while q == p:
        q = _seeded_prime(rng, bits // 2)
    d = pow(PUBLIC_EXPONENT, -1, (p - 1) * (q - 1))
    numbers = rsa.RSAPrivateNumbers(
        p,
        q,
        d,
        rsa.rsa_crt_dmp1(d, p),
        rsa.rsa_crt_dmq1(d, q),
        rsa.rsa_crt_iqmp(p, q),
        rsa.RSAPublicNumbers(PUBLIC_EXPONENT, p * q),
    )
    return KeyPair(numbers.private_key())


# --- the generator ----------------------------------------------------------------------------

SPECIAL_SEQS = [0, 1, 2, 32766, 32767, 32768, 32769, 65534, 65535, 65536 + 7]
BA_STATUSES = [0, 130, 132, 135, 137, 147, 148, 149, 1, 128, 136, 150]
# Target CGA Parameters sizes: around one and two full 255-byte pieces, and beyond.
CGA_SIZES = [None, 255, 256, 300, 509, 510, 511, 560, None, 400]
LIFETIMES = [4, 100, 420, 3600, 86400, 262140, 300000, 7]
MN_KEYS = [(1024, "mn-a"), (1024, "mn-b"), (1536, "mn-c")]


def _addr(rng: random.Random, prefix: str) -> str:
    iid = rng.getrandbits(64).to_bytes(8, "big")
    net = socket.inet_pton(socket.AF_INET6, prefix)[:8]
    return socket.inet_ntop(socket.AF_INET6, net + iid)


def _seq(rng: random.Random, i: int) -> int:
    return SPECIAL_SEQS[(i // 2) % len(SPECIAL_SEQS)] if i % 2 == 0 else rng.randrange(0, 65536)


def _units(seconds: int) -> int:
    return min(seconds // 4, 0xFFFF)


def _ext_for(base_len: int, target: int | None) -> bytes:
    """RFC 4581 extension fields (experimental type 0xFFFD) bringing the block to ``target``."""
    if target is None or target < base_len + 4:
        return b""
    data_len = target - base_len - 4
    return struct.pack("!HH", 0xFFFD, data_len) + bytes((i * 7) & 0xFF for i in range(data_len))


@dataclass
class _Node:
    """A mobile node of the corpus: key, CGA home address, current care-of address."""

    keypair: KeyPair
    hoa: str
    params: bytes
    coa: str
    dar: str


class CorpusBuilder:
    """Builds the entries; every choice comes from ``self.rng``."""

    def __init__(self, seed: int = SEED) -> None:
        self.rng = random.Random(seed)
        self.entries: list[Entry] = []
        self.dar_key = seeded_keypair(1024, "dar")
        self.sent_bus: list[tuple[Packet, Entry, _Node]] = []

    # helpers
    def add(self, kind: str, pkt: Packet, mhtype: int, wanted: list[tuple[int, int]], **truth: Any) -> Entry:
        """Record ``pkt`` with the truth we meant: ``wanted`` options laid out by :func:`layout`."""
        raw = bytes(pkt)
        opts, hlen = layout(mhtype, wanted)
        has_ext = truth.get("hao") is not None or truth.get("rh2") is not None
        entry = Entry(
            index=len(self.entries),
            kind=kind,
            raw=raw,
            mhtype=mhtype,
            hlen=hlen,
            options=opts,
            mh_offset=40 + (24 if has_ext else 0),
            **truth,
        )
        self.entries.append(entry)
        return entry

    def node(self, i: int, cga_size: int | None = None) -> _Node:
        bits, label = MN_KEYS[i % len(MN_KEYS)]
        kp = seeded_keypair(bits, label)
        prefix = f"2001:db8:{self.rng.randrange(1, 0xFFFF):x}::"
        base = 25 + len(kp.public_der)
        modifier = self.rng.randbytes(16)
        cga = cga_generate(prefix, kp, sec=0, modifier=modifier, extensions=_ext_for(base, cga_size))
        coa = _addr(self.rng, f"2001:db8:{self.rng.randrange(1, 0xFFFF):x}::")
        return _Node(kp, cga.address, cga.params, coa, _addr(self.rng, prefix))

    # makers: each builds one or more entries
    def first_bu(self, i: int) -> None:
        n = self.node(i, CGA_SIZES[i % len(CGA_SIZES)])
        seq, lifetime = _seq(self.rng, i), LIFETIMES[i % len(LIFETIMES)]
        cga_request, secure = bool(i % 2), bool((i // 2) % 2)
        cot_token = self.rng.randbytes(8) if secure else None
        coni = self.rng.randrange(0, 65536) if secure else 0
        pkt = craft.first_bu(
            n.coa, n.hoa, n.dar, seq, lifetime, n.keypair, n.params,
            cga_request=cga_request, care_of_token=cot_token, coni=coni,
        )  # fmt: skip
        wanted = [(OPT_CGA, size) for size in cga_pieces(len(n.params))]
        wanted.append((OPT_SIG, n.keypair.bits // 8))
        if cga_request:
            wanted.append((OPT_CGA_REQ, 0))
        if secure:
            wanted += [(OPT_NI, 4), (OPT_BAD, 12)]
        extra: dict[str, Any] = {"cga_len": len(n.params)}
        if secure:
            extra |= {"hni": 0, "coni": coni}
        kind = f"first_bu/rsa{n.keypair.bits}/cga{len(n.params)}"
        kind += ("/req" if cga_request else "") + ("/secure" if secure else "")
        entry = self.add(
            kind, pkt, 5, wanted, src=n.coa, dst=n.dar, hao=n.hoa, seq=seq & 0xFFFF,
            lifetime=_units(lifetime), flags=frozenset("AH"), extra=extra,
        )  # fmt: skip
        self.sent_bus.append((pkt, entry, n))

    def phkt_bu(self, i: int) -> None:
        n = self.node(i)
        shape = ("away", "dereg_away", "dereg_home")[i % 3]
        lifetime = 0 if shape != "away" else LIFETIMES[i % len(LIFETIMES)]
        coa = n.hoa if shape == "dereg_home" else n.coa
        cot_token = self.rng.randbytes(8) if i % 2 else None
        coni = self.rng.randrange(1, 65536)
        seq = _seq(self.rng, i)
        phkt = new_phkt(self.rng.randbytes)
        pkt = craft.phkt_bu(coa, n.hoa, n.dar, seq, lifetime, phkt, cot_token, coni=coni)
        home = shape == "dereg_home"
        entry = self.add(
            f"phkt_bu/{shape}", pkt, 5, [(OPT_NI, 4), (OPT_BAD, 12)],
            src=coa, dst=n.dar, hao=None if home else n.hoa, seq=seq & 0xFFFF,
            lifetime=_units(lifetime), flags=frozenset("AH"),
            extra={"hni": 0, "coni": coni if shape == "away" else 0},
        )  # fmt: skip
        self.sent_bus.append((pkt, entry, n))

    def binding_ack(self, i: int) -> None:
        bu, bu_entry, n = self.sent_bus[self.rng.randrange(len(self.sent_bus))]
        status = BA_STATUSES[i % len(BA_STATUSES)]
        lifetime = LIFETIMES[(i * 3) % len(LIFETIMES)]
        seq = self.rng.randrange(0, 65536) if status == 135 else None
        with_phkt = self.rng.random() < 0.6
        with_key = with_phkt and self.rng.random() < 0.7  # PHKT option, else BAD only
        with_dar_cga = self.rng.random() < 0.4
        dar_params = None
        wanted: list[tuple[int, int]] = []
        phkt = new_phkt(self.rng.randbytes) if with_phkt else None
        if with_key:
            wanted.append((OPT_PHKT, n.keypair.bits // 8))
        if with_dar_cga:
            dar_params = cga_generate(
                n.dar, self.dar_key, sec=0, modifier=self.rng.randbytes(16),
                extensions=_ext_for(25 + len(self.dar_key.public_der), CGA_SIZES[i % len(CGA_SIZES)]),
            ).params  # fmt: skip
            wanted += [(OPT_CGA, s) for s in cga_pieces(len(dar_params))]
            wanted.append((OPT_SIG, self.dar_key.bits // 8))
        if with_phkt:
            wanted.append((OPT_BAD, 12))
        pkt = craft.binding_ack(
            bu, status, lifetime, phkt, n.keypair.public_der if with_key else None, seq=seq,
            care_of_token=self.rng.randbytes(8) if i % 2 else None,
            dar_keypair=self.dar_key if with_dar_cga else None, dar_params=dar_params,
        )  # fmt: skip
        kind = f"ba/{status}" + ("/phkt" if with_key else "") + ("/bad" if with_phkt else "")
        self.add(
            kind + ("/darcga" if with_dar_cga else ""), pkt, 6, wanted, src=bu_entry.dst, dst=bu_entry.src, rh2=bu_entry.hao,
            seq=bu_entry.seq if seq is None else seq, status=status,
            lifetime=0 if status >= 128 else _units(lifetime), flags=frozenset(),
        )  # fmt: skip

    def plain_bu(self, i: int) -> None:
        """A BU built from the layer classes: random flags, Alt-CoA, NI, BAD."""
        rng = self.rng
        coa, hoa, dar = (_addr(rng, "2001:db8:a::"), _addr(rng, "2001:db8:b::"), _addr(rng, "2001:db8:b::"))
        flags = frozenset(f for f in "AHLK" if rng.random() < 0.5)
        seq, lifetime = _seq(rng, i), rng.randrange(0, 0x10000)
        opts: list[Packet] = []
        wanted: list[tuple[int, int]] = []
        if i % 2:
            opts.append(MIP6OptAltCoA(acoa=coa))
            wanted.append((OPT_ALTCOA, 16))
        hni, coni = rng.randrange(65536), rng.randrange(65536)
        if i % 3:
            opts.append(NonceIndices(hni=hni, coni=coni))
            wanted.append((OPT_NI, 4))
        if i % 4 != 3:
            opts.append(BindingAuthData(authenticator=rng.randbytes(12)))
            wanted.append((OPT_BAD, 12))
        away = i % 5 != 0
        ip = IPv6(src=coa if away else hoa, dst=dar)
        if away:
            ip = ip / IPv6ExtHdrDestOpt(options=[HAO(hoa=hoa)])
        bu = BU(seq=seq & 0xFFFF, flags="".join(sorted(flags)), mhtime=lifetime, options=opts)
        self.add(
            "plain_bu", IPv6(bytes(ip / bu)), 5, wanted, src=ip.src, dst=dar,
            hao=hoa if away else None, seq=seq & 0xFFFF, lifetime=lifetime, flags=flags,
            extra={"hni": hni, "coni": coni} if i % 3 else {},
        )  # fmt: skip

    def plain_ba(self, i: int) -> None:
        """A BA from the layer classes: K flag, BRA, Care-of Test option, BAD."""
        rng = self.rng
        dar, coa, hoa = (_addr(rng, "2001:db8:c::"), _addr(rng, "2001:db8:d::"), _addr(rng, "2001:db8:c::"))
        status = BA_STATUSES[(i * 5) % len(BA_STATUSES)]
        seq, lifetime = _seq(rng, i + 1), rng.randrange(0, 0x10000)
        flags = frozenset("K") if i % 2 else frozenset()
        opts: list[Packet] = []
        wanted: list[tuple[int, int]] = []
        if i % 3 == 0:
            opts.append(MIP6OptBRAdvice(rinter=rng.randrange(65536)))
            wanted.append((OPT_BRA, 2))
        if i % 3 == 1:
            opts.append(CareOfTestOpt(cokt=rng.randbytes(8)))
            wanted.append((OPT_COT, 8))
        if i % 4:
            opts.append(BindingAuthData(authenticator=rng.randbytes(12)))
            wanted.append((OPT_BAD, 12))
        away = i % 4 != 2
        ip = IPv6(src=dar, dst=coa if away else hoa)
        if away:
            ip = ip / RH2(addresses=[hoa])
        ba = BA(status=status, flags="".join(flags), seq=seq & 0xFFFF, mhtime=lifetime, options=opts)
        self.add(
            "plain_ba", IPv6(bytes(ip / ba)), 6, wanted, src=dar, dst=ip.dst,
            rh2=hoa if away else None, seq=seq & 0xFFFF, status=status, lifetime=lifetime, flags=flags,
        )  # fmt: skip

    def binding_error(self, i: int) -> None:
        status = 1 + i % 2  # RFC 6275 §6.1.9
        src, dst = _addr(self.rng, "2001:db8:e::"), _addr(self.rng, "2001:db8:f::")
        hoa = _addr(self.rng, "2001:db8:9::") if status == 1 else "::"
        pkt = IPv6(bytes(IPv6(src=src, dst=dst) / BE(status=status, hoa=hoa)))
        self.add(f"be/{status}", pkt, 7, [], src=src, dst=dst, status=status, extra={"be_hoa": hoa})

    def brr(self, i: int) -> None:
        src, dst = _addr(self.rng, "2001:db8:e::"), _addr(self.rng, "2001:db8:f::")
        self.add("brr", IPv6(bytes(IPv6(src=src, dst=dst) / BRR())), 0, [], src=src, dst=dst)

    def return_routability(self, i: int) -> None:
        """HoTI + HoT (layers) or CoTI + CoT (craft), with random cookies, indices and tokens."""
        rng = self.rng
        mn, cn = _addr(rng, "2001:db8:1::"), _addr(rng, "2001:db8:2::")
        cookie, index, token = rng.randbytes(8), rng.randrange(65536), rng.randbytes(8)
        test = {"cookie": cookie, "index": index, "token": token}
        if i % 2:
            init = craft.coti(mn, cn, cookie)
            reply = craft.cot(init, index, token=token)
            names = ("coti", "cot")
        else:
            init = IPv6(bytes(IPv6(src=mn, dst=cn) / HoTI(cookie=cookie)))
            reply = IPv6(bytes(IPv6(src=cn, dst=mn) / HoT(index=index, cookie=cookie, token=token)))
            names = ("hoti", "hot")
        mhtype = 2 if i % 2 else 1
        self.add(names[0], init, mhtype, [], src=mn, dst=cn, extra={"cookie": cookie})
        self.add(names[1], reply, mhtype + 2, [], src=cn, dst=mn, extra=test)

    def build(self, rounds: int = 20) -> list[Entry]:
        makers: list[Callable[[int], None]] = [
            self.first_bu,
            self.phkt_bu,
            self.binding_ack,
            self.first_bu,
            self.binding_ack,
            self.plain_bu,
            self.plain_ba,
            self.binding_ack,
            self.binding_error,
            self.brr,
            self.return_routability,
        ]
        for r in range(rounds):
            for k, make in enumerate(makers):
                make(r * len(makers) + k)
        return self.entries


@lru_cache(maxsize=4)
def _cached_corpus(seed: int) -> tuple[Entry, ...]:
    return tuple(CorpusBuilder(seed).build())


def build_corpus(seed: int = SEED) -> list[Entry]:
    """The corpus for ``seed`` (built once per process)."""
    return list(_cached_corpus(seed))


def write_corpus(path: str | Path, seed: int = SEED) -> list[Entry]:
    """Write the corpus to a pcap (LINKTYPE_IPV6, frame i+1 = entry i) and return it."""
    entries = build_corpus(seed)
    with PcapWriter(str(path), linktype=229, sync=False) as w:  # 229 = LINKTYPE_IPV6
        for e in entries:
            pkt = IPv6(e.raw)
            pkt.time = 1_700_000_000 + e.index
            w.write(pkt)
    return entries


# --- the test side's own reading of raw bytes ----------------------------------------------------


@dataclass(frozen=True)
class RawView:
    """What RFC 6275 says about an IPv6 packet carrying a Mobility Header, read from bytes."""

    src: bytes
    dst: bytes
    hao: bytes | None
    rh_type: int | None
    rh_segleft: int | None
    rh_addr: bytes | None
    mh_offset: int
    mh: bytes  # Header Len bytes of MH (fewer if truncated)

    @property
    def pseudo_src(self) -> bytes:
        return self.hao or self.src

    @property
    def pseudo_dst(self) -> bytes:
        return self.rh_addr if self.rh_type == 2 and self.rh_addr else self.dst


def _tlv_options(data: bytes) -> Iterator[tuple[int, bytes]]:
    pos = 0
    while pos < len(data):
        if data[pos] == 0:
            pos += 1
            continue
        if pos + 2 > len(data):
            return
        size = data[pos + 1]
        yield data[pos], data[pos + 2 : pos + 2 + size]
        pos += 2 + size


def raw_view(ip: bytes) -> RawView | None:
    """Walk the extension headers of a raw IPv6 packet up to the MH (None if there is none)."""
    nh, pos = ip[6], 40
    hao = rh_type = rh_segleft = rh_addr = None
    while nh != 135:
        if nh not in (0, 43, 60) or pos + 2 > len(ip):
            return None
        end = pos + 8 * (ip[pos + 1] + 1)
        if nh == 43:
            rh_type, rh_segleft = ip[pos + 2], ip[pos + 3]
            rh_addr = ip[end - 16 : end] if end - pos >= 24 else None
        else:
            for otype, data in _tlv_options(ip[pos + 2 : end]):
                if otype == 0xC9 and len(data) == 16:
                    hao = data
        nh, pos = ip[pos], end
    if pos + 2 > len(ip):
        return None
    mh = ip[pos : pos + 8 * (ip[pos + 1] + 1)]
    return RawView(ip[8:24], ip[24:40], hao, rh_type, rh_segleft, rh_addr, pos, mh)


def ones_complement_sum(data: bytes) -> int:
    """16-bit one's-complement sum (RFC 1071) of ``data``, odd length padded with a zero."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def rfc6275_checksum(view: RawView) -> int:
    """The MH checksum RFC 6275 §6.1.1 asks for, over the pseudo-header of RFC 8200 §8.1."""
    mh = view.mh[:4] + b"\0\0" + view.mh[6:]
    pseudo = view.pseudo_src + view.pseudo_dst + struct.pack("!I3xB", len(mh), 135)
    return ~ones_complement_sum(pseudo + mh) & 0xFFFF


# --- reading tshark and our layers the same way (shared by the oracle tests) -------------------

TSHARK = shutil.which("tshark")
TSHARK_MISSING = "tshark not installed (make tshark, or apt-get install tshark): tshark comparison skipped"

# tshark's subtree name of each mobility option -> IANA option type
TSHARK_OPTION_TYPES = {
    "pad1": 0, "padn": 1, "bra": 2, "acoa": 3, "ni": 4, "bad_auth": 5, "mnp": 6, "mhlla": 7,
    "mnid": 8, "auth": 9, "mseg_id": 10, "cgapr": 11, "cgar": 12, "sign": 13, "phkt": 14,
    "coti": 15, "cot": 16,
}  # fmt: skip
# expert info severities (epan/proto.h): PI_WARN and above mean something is wrong
PI_WARN = 0x00600000
OptionFrame = tuple[int, "int | None", int, int]  # (type, length byte, MH offset, size)


class Node(list):  # type: ignore[type-arg]
    """A JSON object as its ordered (key, value) pairs: tshark repeats keys (``ipv6.opt``...)."""

    def get(self, key: str, default: Any = None) -> Any:
        return next((v for k, v in self if k == key), default)

    def walk(self) -> Iterator[tuple[str, Any]]:
        for k, v in self:
            yield k, v
            if isinstance(v, Node):
                yield from v.walk()

    def find(self, key: str, default: Any = None) -> Any:
        """The first value of ``key`` anywhere below this node."""
        return next((v for k, v in self.walk() if k == key), default)


SHARED_PCAPS = Path(__file__).resolve().parents[2] / "shared" / "pcaps"  # ../shared beside the clone, as in CI


def shared_file(*parts: str) -> Path:
    """A file of ../shared/pcaps; the test is skipped, saying so, in a clone without it beside."""
    path = SHARED_PCAPS.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not found: no ../shared/pcaps beside the clone")
    return path


@cache
def tshark_env() -> dict[str, str]:
    """The environment of an oracle run: tshark's own dissectors only. HOME points at an empty
    folder, so a plugin in the user's personal plugin folder (``fama-wireshark install``) or
    personal preferences cannot change what tshark says."""
    home = tempfile.mkdtemp(prefix="fama-tshark-home-")
    atexit.register(shutil.rmtree, home, ignore_errors=True)  # tshark may leave its profile folder there
    return dict(os.environ, HOME=home, XDG_CONFIG_HOME=home)


def run_tshark(pcap: str | Path, *args: str) -> str:
    """tshark's standard output for ``pcap`` (``args`` chooses the output format)."""
    assert TSHARK is not None, TSHARK_MISSING
    return subprocess.run(
        [TSHARK, "-r", str(pcap), *args], capture_output=True, check=True, text=True, timeout=300, env=tshark_env()
    ).stdout


def tshark_json(pcap: str | Path, *args: str) -> list[Node]:
    """One ``tshark -T json -x`` run: the ``layers`` node of every frame shown."""
    out = run_tshark(pcap, "-T", "json", "-x", *args)
    return [frame.get("_source").get("layers") for frame in json.loads(out, object_pairs_hook=Node)]


def tshark_options(mipv6: Node) -> list[OptionFrame]:
    """(type, length byte, MH offset, size) of each option tshark framed, in wire order.

    Offsets come from the ``-x`` raw arrays ``[hex, frame offset, size, ...]``.
    """
    mh_offset = int(mipv6.get("mip6.proto_raw")[1])
    out: list[list[Any]] = []
    for key, value in mipv6.get("Mobility Options", Node()):
        name = key.removeprefix("mip6.options.")
        if key.endswith("_raw"):
            hexdata, offset, size = value[0], int(value[1]), int(value[2])
            otype = TSHARK_OPTION_TYPES[name.removesuffix("_raw")]
            assert int(hexdata[:2], 16) == otype, f"tshark labels a type-{hexdata[:2]} option {name}"
            out.append([otype, None, offset - mh_offset, size])
        elif key.endswith("_tree"):
            out[-1][1] = int(value.get("mip6.mobility_opt.len"))
    return [tuple(o) for o in out]  # type: ignore[misc]


def our_options(mh: Packet) -> list[OptionFrame]:
    """The same list from our dissection; a CGA Parameters block expands into its pieces."""
    out: list[OptionFrame] = []
    for span in option_spans(mh):
        if isinstance(span.option, CGAParamsOpt):
            pos = span.start
            for olen in span.option.wire_lengths():
                size = min(2 + olen, span.end - pos)  # a piece cut by the end of the MH
                out.append((12, olen, pos, size))
                pos += size
        else:
            size = span.end - span.start
            out.append((span.otype, None if span.otype == 0 else size - 2, span.start, size))
    return out
