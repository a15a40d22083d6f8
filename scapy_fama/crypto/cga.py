"""Cryptographically Generated Addresses (RFC 3972, RFC 4581, RFC 4982).

Theory of operation
-------------------
A CGA binds an IPv6 address to a public key: its interface identifier (IID)
is a hash of the CGA Parameters::

    Params = Modifier(16) | Prefix(8) | Collision Count(1) | Public Key (DER) | Extensions
    Hash2  = First112(SHA1(Modifier | 0^9 | Public Key | Extensions))
    Hash1  = First64(SHA1(Params))
    IID    = Hash1, with bits 0-2 := Sec and bits 6-7 (u, g) := 0

Generation looks for a modifier whose Hash2 starts with 16*Sec zero bits
(about 2^(16*Sec) SHA-1); verification costs two SHA-1 and accepts Sec 0-7.
Only Sec 0-2 have a registered generation procedure (RFC 4982 §5, §6).

The modifier search starts at a given (or random) modifier and returns the
lowest qualifying modifier at or after it, so one start always gives one CGA.
The space from the start is cut into consecutive chunks of growing size (at
most an eighth of the expected search, so that the cores stay busy to the end);
the first is scanned in the calling process (enough for lucky or tiny searches),
the rest are handed out in order to a persistent pool of worker processes.
A hit raises a shared cut-off: workers drop the chunks after it within 256
hashes, while the chunks before it run to the end, since they could still
hold a lower hit. A cancel lowers the cut-off below every chunk::

    calling thread                      worker 1               worker 2
      chunk 0 in-process: no hit
      submit chunks 1, 2, 3, 4 ------>  chunk 1                chunk 2
      progress(n) <------------------   (n, None)
                                        chunk 3                (n, hit) -> cut-off := 2
                                        (stops within 256 hashes)
      chunk 1 done, lowest hit is in chunk 2: return it; wait until no chunk runs
"""

import atexit
import hashlib
import multiprocessing
import os
import secrets
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from ctypes import c_longlong
from dataclasses import dataclass, replace
from enum import Enum
from functools import cached_property
from itertools import islice

from scapy_fama.crypto.addr import addr_bytes, addr_text, prefix64
from scapy_fama.crypto.keys import KeyPair, public_der, spki_length

MODIFIER_LEN = 16
FIXED_LEN = 25  # modifier, prefix, collision count (RFC 3972 §3)
MAX_COLLISION_COUNT = 2  # RFC 3972 §4 step 8, §5 step 1
GENERATION_SECS = (0, 1, 2)  # RFC 4982 §6 CGA SEC registry
MASK1 = 0x1CFFFFFFFFFFFFFF  # RFC 3972 §5 step 4: ignore Sec (bits 0-2), u and g (bits 6-7)

_MODIFIER_MASK = (1 << 128) - 1
_FIRST_CHUNK = 1 << 10  # scanned in the calling process
_MAX_CHUNK = 1 << 16  # about 40 ms of one core: the progress and cut-off granularity
_NO_CUTOFF = 1 << 62
_POLL_SECONDS = 0.05  # how often the calling thread looks at ``cancel``


class CgaCancelled(Exception):
    """The modifier search was stopped through its ``cancel`` event."""


@dataclass(frozen=True)
class CgaParams:
    """The CGA Parameters data structure (RFC 3972 §3)."""

    modifier: bytes
    prefix: bytes
    collision_count: int
    public_key: bytes
    extensions: bytes = b""

    def __post_init__(self) -> None:
        if len(self.modifier) != MODIFIER_LEN:
            raise ValueError(f"the modifier is 16 bytes, got {len(self.modifier)}")
        if len(self.prefix) != 8:
            raise ValueError(f"the subnet prefix is 8 bytes, got {len(self.prefix)}")
        if not 0 <= self.collision_count <= 0xFF:
            raise ValueError(f"the collision count is one byte, got {self.collision_count}")

    def encode(self) -> bytes:
        return (
            self.modifier
            + self.prefix
            + bytes([self.collision_count])
            + self.public_key
            + self.extensions
        )

    @classmethod
    def decode(cls, buf: bytes) -> "CgaParams":
        """Split CGA Parameters; the DER header of the public key gives its length."""
        buf = bytes(buf)
        if len(buf) < FIXED_LEN:
            raise ValueError(
                f"CGA Parameters too short: {len(buf)} bytes, at least 25 needed (RFC 3972 §3)"
            )
        key_len = spki_length(buf[FIXED_LEN:])
        if key_len is None:
            raise ValueError("CGA Parameters: the public key is not a DER SEQUENCE")
        end = FIXED_LEN + key_len
        if end > len(buf):
            raise ValueError(
                f"CGA Parameters: the public key claims {key_len} bytes, "
                f"only {len(buf) - FIXED_LEN} follow"
            )
        return cls(buf[:16], buf[16:24], buf[24], buf[FIXED_LEN:end], buf[end:])


def cga_public_key(params: bytes) -> bytes:
    """The public key of CGA Parameters (RFC 3972 §3): ``CgaParams.decode(params).public_key``,
    without the other fields' objects when the key is whole (a DAR reads it for every CGA
    BU, before its budget is spent); ValueError as ``decode`` gives it otherwise."""
    key_len = spki_length(params[FIXED_LEN:])
    if key_len is not None and FIXED_LEN + key_len <= len(params):
        return bytes(params[FIXED_LEN : FIXED_LEN + key_len])
    return CgaParams.decode(params).public_key  # raises, saying why


def ext_fields(extensions: bytes) -> list[tuple[int, bytes]]:
    """Parse the Extension Fields as RFC 4581 §2 TLVs: type (16), data length (16), data."""
    fields: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(extensions):
        if len(extensions) - pos < 4:
            raise ValueError(f"extension field at offset {pos}: a 4-byte header is cut short")
        ext_type = int.from_bytes(extensions[pos : pos + 2], "big")
        end = pos + 4 + int.from_bytes(extensions[pos + 2 : pos + 4], "big")
        if end > len(extensions):
            raise ValueError(
                f"extension field at offset {pos}: its data runs {end - len(extensions)} bytes "
                f"past the end"
            )
        fields.append((ext_type, bytes(extensions[pos + 4 : end])))
        pos = end
    return fields


@dataclass(frozen=True)
class Cga:
    """An address with the CGA Parameters it was generated from."""

    address: str
    params: bytes
    sec: int

    @cached_property
    def parsed(self) -> CgaParams:
        return CgaParams.decode(self.params)

    @property
    def modifier(self) -> bytes:
        return self.parsed.modifier

    @property
    def prefix(self) -> bytes:
        return self.parsed.prefix

    @property
    def collision_count(self) -> int:
        return self.parsed.collision_count


def hash1(params: bytes) -> bytes:
    """First64(SHA1(CGA Parameters)), extensions included (RFC 3972 §4 step 5)."""
    return hashlib.sha1(params).digest()[:8]


def hash2(modifier: bytes, public_key: bytes, extensions: bytes = b"") -> bytes:
    """First112(SHA1(modifier | 9 zero bytes | public key | extensions)) (RFC 3972 §4 step 2)."""
    return hashlib.sha1(modifier + bytes(9) + public_key + extensions).digest()[:14]


def _hash2_ok(h2: bytes, sec: int) -> bool:
    # RFC 3972 §4 step 3, §5 step 7: the leftmost 16*Sec bits of Hash2 are zero.
    return h2[: 2 * sec] == bytes(2 * sec)


def address_sec(address: str | bytes) -> int:
    """The Sec value: the three leftmost bits of the interface identifier (RFC 3972 §2)."""
    return addr_bytes(address)[8] >> 5


def _make(params: CgaParams, sec: int) -> Cga:
    encoded = params.encode()  # RFC 3972 §4 step 9
    h1 = hash1(encoded)  # RFC 3972 §4 step 5
    iid = bytes([sec << 5 | h1[0] & 0x1C]) + h1[1:]  # RFC 3972 §4 step 6
    return Cga(addr_text(params.prefix + iid), encoded, sec)  # RFC 3972 §4 step 7


def _check_collision_count(count: int) -> None:
    if not 0 <= count <= MAX_COLLISION_COUNT:
        # RFC 3972 §4 step 8: after three collisions generation stops with an error.
        raise ValueError(f"collision count {count} is not 0, 1 or 2: give up (RFC 3972 §4 step 8)")


def _check_generation_sec(sec: int) -> None:
    if isinstance(sec, bool) or not isinstance(sec, int):  # "1" failed in a comparison
        raise TypeError(f"Sec is a whole number 0, 1 or 2, not {type(sec).__name__} {sec!r}")
    if sec in GENERATION_SECS:
        return
    if 3 <= sec <= 7:
        raise ValueError(
            f"Sec {sec} has no registered generation procedure (RFC 4982 §5, §6 "
            f"assign Sec 0-2 only); Sec 3-7 can only be verified"
        )
    raise ValueError(f"Sec must be 0, 1 or 2, got {sec}")


def cga_generate(
    prefix: str | bytes,
    keypair_or_public_der: KeyPair | bytes,
    sec: int = 1,
    *,
    modifier: bytes | None = None,
    collision_count: int = 0,
    extensions: bytes = b"",
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
    cancel: threading.Event | None = None,
) -> Cga:
    """Generate a CGA (RFC 3972 §4).

    ``modifier`` is where the search starts (random if None); the result is the
    lowest qualifying modifier at or after it. For Sec >= 1 the search runs on
    ``workers`` processes (default: all cores; 1 keeps it in this process),
    calls ``progress(hashes_done)`` from this thread, and raises CgaCancelled
    soon after ``cancel`` is set. One pooled search runs at a time; others wait.
    A multi-threaded caller gets workers from multiprocessing's forkserver; a
    script that then calls this at import time needs the ``__main__`` guard.
    """
    _check_generation_sec(sec)
    _check_collision_count(collision_count)
    prefix_bytes = prefix64(prefix)
    public_key = public_der(keypair_or_public_der)
    extensions = bytes(extensions)
    ext_fields(extensions)  # RFC 4581 §2: extension fields are TLVs
    if modifier is None:
        modifier = secrets.token_bytes(MODIFIER_LEN)  # RFC 3972 §4 step 1
    elif len(modifier) != MODIFIER_LEN:
        raise ValueError(f"the modifier is 16 bytes, got {len(modifier)}")
    workers = (os.cpu_count() or 1) if workers is None else workers
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if sec > 0:  # RFC 3972 §4 steps 2-3; Sec 0 skips them
        tail = bytes(9) + public_key + extensions
        found = _search(int.from_bytes(modifier, "big"), tail, sec, workers, progress, cancel)
        modifier = found.to_bytes(MODIFIER_LEN, "big")
    params = CgaParams(bytes(modifier), prefix_bytes, collision_count, public_key, extensions)
    return _make(params, sec)


def cga_with_prefix(
    cga_or_params: Cga | CgaParams | bytes, new_prefix: str | bytes, *, collision_count: int = 0
) -> Cga:
    """Reuse the modifier for a new subnet prefix: restart at RFC 3972 §4 step 4.

    The Sec is that of a given Cga; for bare parameters it is the highest
    registered Sec (0-2) that the modifier satisfies.
    """
    _check_collision_count(collision_count)
    if isinstance(cga_or_params, Cga):
        old, sec = cga_or_params.parsed, cga_or_params.sec
    elif not isinstance(cga_or_params, (CgaParams, bytes, bytearray, memoryview)):  # an address, say
        raise TypeError(
            "cga_with_prefix() takes a Cga (as cga_generate returns it), its CgaParams or their bytes, "
            f"not {type(cga_or_params).__name__} {cga_or_params!r}"
        )
    else:
        old = (
            cga_or_params
            if isinstance(cga_or_params, CgaParams)
            else CgaParams.decode(cga_or_params)
        )
        h2 = hash2(old.modifier, old.public_key, old.extensions)
        sec = max(s for s in GENERATION_SECS if _hash2_ok(h2, s))
    new = replace(old, prefix=prefix64(new_prefix), collision_count=collision_count)
    return _make(new, sec)


def next_collision(cga: Cga) -> Cga:
    """The address after a duplicate-address collision: count + 1 (RFC 3972 §4 step 8)."""
    count = cga.collision_count + 1
    _check_collision_count(count)
    return _make(replace(cga.parsed, collision_count=count), cga.sec)


class CgaStep(Enum):
    """The RFC 3972 §5 verification steps, in order; OK when all pass."""

    MALFORMED = "CGA Parameters"
    COLLISION_COUNT = "collision count (step 1)"
    PREFIX = "subnet prefix (step 2)"
    HASH1 = "Hash1 (steps 3-4)"
    HASH2 = "Hash2 (steps 5-7)"
    OK = "valid"


@dataclass(frozen=True)
class CgaResult:
    """The outcome of ``cga_check``: truthy only when every step passed."""

    step: CgaStep
    reason: str

    def __bool__(self) -> bool:
        return self.step is CgaStep.OK


def cga_check(address: str | bytes, params: bytes) -> CgaResult:
    """Verify that ``address`` is a CGA of ``params`` (RFC 3972 §5), stopping at the first failure.

    Any Sec 0-7 is checked. A malformed address raises ValueError.
    """
    addr = addr_bytes(address)
    params = bytes(params)
    try:
        p = CgaParams.decode(params)
    except ValueError as exc:
        return CgaResult(CgaStep.MALFORMED, str(exc))
    if p.collision_count > MAX_COLLISION_COUNT:  # RFC 3972 §5 step 1
        reason = f"collision count {p.collision_count} is not 0, 1 or 2"
        return CgaResult(CgaStep.COLLISION_COUNT, reason)
    if p.prefix != addr[:8]:  # RFC 3972 §5 step 2
        return CgaResult(
            CgaStep.PREFIX,
            f"parameter prefix {addr_text(p.prefix + bytes(8))}/64 differs from the address "
            f"prefix {addr_text(addr[:8] + bytes(8))}/64",
        )
    h1 = hash1(params)  # RFC 3972 §5 step 3
    if (int.from_bytes(h1, "big") ^ int.from_bytes(addr[8:], "big")) & MASK1:  # step 4
        reason = f"Hash1 {h1.hex()} does not match the interface identifier {addr[8:].hex()}"
        return CgaResult(CgaStep.HASH1, reason)
    sec = addr[8] >> 5  # RFC 3972 §5 step 5
    h2 = hash2(p.modifier, p.public_key, p.extensions)  # RFC 3972 §5 step 6
    if not _hash2_ok(h2, sec):  # RFC 3972 §5 step 7
        reason = f"Sec {sec} needs {16 * sec} leading zero bits in Hash2, got {h2.hex()}"
        return CgaResult(CgaStep.HASH2, reason)
    return CgaResult(CgaStep.OK, f"valid CGA, Sec {sec}")


def cga_verify(address: str | bytes, params: bytes) -> bool:
    """True iff ``address`` verifies against ``params`` (RFC 3972 §5)."""
    return bool(cga_check(address, params))


# --- the modifier search -----------------------------------------------------------------


def _scan(
    start: int, count: int, tail: bytes, limit: bytes, stop: Callable[[], bool]
) -> tuple[int, int | None]:
    """Hash up to ``count`` modifiers from ``start`` on (mod 2^128), stop() checked every 256.

    Returns (hashes done, the first modifier m with SHA1(m | tail) < limit, or None).
    """
    sha1 = hashlib.sha1
    buf = memoryview(bytearray(MODIFIER_LEN) + tail)
    done = 0
    while done < count and not stop():
        low = start & 0xFF
        n = min(0x100 - low, count - done)
        buf[:15] = (start >> 8).to_bytes(15, "big")
        for b in range(low, low + n):
            buf[15] = b  # RFC 3972 §4 step 3: modifier + 1, within one 256-aligned block
            if sha1(buf).digest() < limit:
                return done + b - low + 1, start + b - low
        done += n
        start = (start + n) & _MODIFIER_MASK
    return done, None


def _chunks(start: int, max_size: int) -> Iterator[tuple[int, int]]:
    size = _FIRST_CHUNK
    while True:
        yield start, size
        start = (start + size) & _MODIFIER_MASK
        size = min(2 * size, max_size)


def _search(
    start: int,
    tail: bytes,
    sec: int,
    workers: int,
    progress: Callable[[int], None] | None,
    cancel: threading.Event | None,
) -> int:
    # A digest is below 00..00 01 (2*Sec-1 zero bytes) iff its first 2*Sec bytes are zero.
    limit = bytes(2 * sec - 1) + b"\x01"
    total = 0

    def tally(done: int) -> None:
        nonlocal total
        total += done
        if progress is not None and done:
            progress(total)

    chunks = _chunks(start, min(_MAX_CHUNK, 1 << (16 * sec - 3)))
    found = _scan_here(islice(chunks, 1) if workers > 1 else chunks, tail, limit, tally, cancel)
    if found is None:
        found = _scan_pooled(chunks, tail, limit, workers, tally, cancel)
    return found


def _never() -> bool:
    return False


def _scan_here(
    chunks: Iterable[tuple[int, int]],
    tail: bytes,
    limit: bytes,
    tally: Callable[[int], None],
    cancel: threading.Event | None,
) -> int | None:
    stop = cancel.is_set if cancel is not None else _never
    for start, count in chunks:
        done, hit = _scan(start, count, tail, limit, stop)
        tally(done)
        if hit is not None:
            return hit
        if stop():
            raise CgaCancelled("CGA modifier search cancelled")
    return None


def _start_method() -> str:
    """fork while this process has one thread: nothing can hold a lock in the child, and
    scripts need no ``__main__`` guard; else forkserver, which stays safe beside the
    threads of automata or a shell (then scripts need the guard); else spawn."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return "fork"
    return "forkserver" if "forkserver" in methods else "spawn"


class _Pool:
    """Worker processes that outlive one search, and the cut-off they share."""

    def __init__(self, workers: int) -> None:
        ctx = multiprocessing.get_context(_start_method())
        if ctx.get_start_method() == "forkserver":
            ctx.set_forkserver_preload([__name__])
        self.workers = workers
        self.cutoff: c_longlong = ctx.Value("q", _NO_CUTOFF, lock=False)
        self.executor = ProcessPoolExecutor(
            workers, mp_context=ctx, initializer=_init_worker, initargs=(self.cutoff,)
        )


_pool: _Pool | None = None
_pool_lock = threading.Lock()
_worker_cutoff: c_longlong | None = None


def _init_worker(cutoff: c_longlong) -> None:
    global _worker_cutoff
    _worker_cutoff = cutoff
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the caller's to handle


def _worker_scan(
    index: int, start: int, count: int, tail: bytes, limit: bytes
) -> tuple[int, int | None]:
    cutoff = _worker_cutoff
    assert cutoff is not None, "runs only in pool workers"
    return _scan(start, count, tail, limit, lambda: cutoff.value < index)


@atexit.register
def _close_pool() -> None:
    global _pool
    if _pool is not None:
        _pool.executor.shutdown(wait=True, cancel_futures=True)
        _pool = None


def _scan_pooled(
    chunks: Iterator[tuple[int, int]],
    tail: bytes,
    limit: bytes,
    workers: int,
    tally: Callable[[int], None],
    cancel: threading.Event | None,
) -> int:
    global _pool
    with _pool_lock:
        if _pool is not None and _pool.workers != workers:
            _close_pool()
        if _pool is None:
            _pool = _Pool(workers)
        pool = _pool
        pool.cutoff.value = _NO_CUTOFF
        pending: dict[Future[tuple[int, int | None]], int] = {}
        hits: dict[int, int] = {}
        index = 0
        try:
            while True:
                while not hits and len(pending) < 2 * workers:
                    start, count = next(chunks)
                    future = pool.executor.submit(_worker_scan, index, start, count, tail, limit)
                    pending[future] = index
                    index += 1
                if hits and min(hits) < min(pending.values(), default=_NO_CUTOFF):
                    return hits[min(hits)]  # every chunk before the lowest hit is done
                if cancel is not None and cancel.is_set():
                    raise CgaCancelled("CGA modifier search cancelled")
                finished, _ = wait(pending, timeout=_POLL_SECONDS, return_when=FIRST_COMPLETED)
                for future in finished:
                    chunk = pending.pop(future)
                    done, hit = future.result()
                    tally(done)
                    if hit is not None:
                        hits[chunk] = hit
                        pool.cutoff.value = min(hits)  # chunks after the lowest hit stop
        except BrokenProcessPool:
            pool.executor.shutdown()
            _pool = None  # a worker died: the next search starts a fresh pool
            raise
        finally:
            pool.cutoff.value = -1  # every chunk still queued or running stops
            for future in pending:
                future.cancel()
            wait(pending)
