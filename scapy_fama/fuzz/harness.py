"""libFuzzer harnesses (atheris): coverage-guided fuzzing of our code with fama-fuzz's oracles.

Theory of operation
-------------------
A harness is one of the blind engine's targets (:mod:`scapy_fama.fuzz.targets`)
driven by libFuzzer instead of by the case loop, so both engines apply the
same oracles to the same code::

    dissect   our Scapy layers: dissect, rebuild, verify; codec from bytes == from the layers
    decode    codec.decode: never raises; its wire.py fast path agrees with the layers
    dar, mn   DarCore / MnCore fed through the codec (bytes in -> effects), liveness probe
              after every input, the soak DAR's and the process's growth bounded
    analyze   the analyser's fast path, signalling reader and reconstruction on one frame

``one_input(data)`` is :meth:`Campaign.check` on the bytes as a message to the
harness's role, without a time limit of its own (libFuzzer's ``-timeout`` keeps
SIGALRM): a failed oracle is raised as :class:`OracleFailure`, which libFuzzer
records as a crash like any exception escaping our code. ``mutate`` is the
custom mutator: most inputs get our structure-aware mutations (on the frame
parsed from the input, or on a seed message when the input is none), re-signed
with ``--keep-valid``; the rest one blind byte-level change (libFuzzer's
cross-over still mixes inputs). The seed
corpus is the world's seed messages plus the reference captures' packets.

Our options start with ``--`` (libFuzzer ignores such arguments, and the
children of ``-fork``/``-jobs`` inherit them)::

    fama-fuzz-harness --harness=dar [--keep-valid] [libFuzzer flags] CORPUS_DIR
    fama-fuzz-harness --harness=dar --seed-corpus=DIR|FILE.zip [--captures=DIR]   (write it, no atheris)

A ``.zip`` seed corpus is OSS-Fuzz's ``<fuzzer>_seed_corpus.zip`` (one input per
member, no folders): ``.clusterfuzzlite/build.sh`` writes one per harness.

``fama-fuzz --engine libfuzzer`` runs this and turns libFuzzer's crash files
into fama-fuzz findings (:mod:`scapy_fama.fuzz.libfuzzer`).
"""

from __future__ import annotations

import hashlib
import random
import sys
import types
import zipfile
from collections.abc import Callable
from pathlib import Path

from scapy_fama import __version__
from scapy_fama.analysis.reader import CaptureError, CaptureReader, not_read
from scapy_fama.fuzz.campaign import Campaign, CampaignConfig
from scapy_fama.fuzz.frame import Frame, parse_frame, render
from scapy_fama.fuzz.mutators import FAMILIES, mutate, mutators_of
from scapy_fama.fuzz.oracles import Failure
from scapy_fama.wire import parse

HARNESSES = ("dissect", "decode", "dar", "mn", "analyze")
SEED = 1  # the world of every harness (its identity and templates)
BYTE_SHARE = 0.25  # inputs mutated by libFuzzer's byte mutations rather than ours
CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap")
REFERENCE_CAPTURES = Path(__file__).resolve().parents[2] / "pcaps"  # in a checkout
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the zip format's first date


class OracleFailure(Exception):
    """A liveness or bounds oracle failed (libFuzzer records it as a crash)."""


class Harness:
    """One harness: its campaign (world, target, oracles), role seed and seed corpus."""

    def __init__(self, name: str, keep_valid: bool = False) -> None:
        if name not in HARNESSES:
            raise ValueError(f"unknown harness {name!r}: choose from {', '.join(HARNESSES)}")
        self.name = name
        self.keep_valid = keep_valid
        # time_limit 0: libFuzzer's own -timeout watches for hangs (it owns SIGALRM)
        self.campaign = Campaign(CampaignConfig(target=name, seed=SEED, keep_valid=keep_valid, time_limit=0))
        self.seeds = [s for s in self.campaign.world.seeds.values() if s.role in self.campaign.target.roles]
        self.seed = self.seeds[0] if name != "mn" else self.campaign.world.seeds["ba"]

    def check(self, data: bytes) -> str | Failure:
        """The input through the target and every oracle: its outcome, or its Failure."""
        return self.campaign.check(data, self.seed, 0, True)

    def one_input(self, data: bytes) -> None:
        result = self.check(data)
        if isinstance(result, Failure):
            if result.oracle == "exception":  # let libFuzzer see where: run it again unguarded
                self.campaign.target.reset()
                self.campaign.target.run(data, self.seed, 3.0)
            raise OracleFailure(f"{result.signature}: {result.detail}")

    def mutate(self, data: bytes, max_size: int, seed: int) -> bytes:
        """The custom mutator (see the module docstring)."""
        rng = random.Random(seed)
        if data and rng.random() < BYTE_SHARE:
            return byte_mutation(rng, data)[:max_size]
        frame = _frame(data)
        if frame is None:
            frame = self.campaign.frame(self.seeds[rng.randrange(len(self.seeds))])
        mutate(rng, frame, mutators_of(FAMILIES[rng.randrange(len(FAMILIES))], self.keep_valid))
        world = self.campaign.world
        return render(frame, world.frame_signer(frame) if self.keep_valid else None)[:max_size]

    def corpus(self, captures: Path | None = REFERENCE_CAPTURES, warn: Callable[[str], None] | None = None) -> dict[str, bytes]:
        """The seed corpus: file name -> bytes (the world's seeds, then every distinct packet of
        the captures: the cores handle RSs, data and tunnels too, which no seed message is).
        A capture that is damaged, cut short or no capture at all gives its packets up to the
        break (none: skipped), one with capture points in a link type the reader does not read
        the packets of the others, and ``warn`` is told which file and why, in one line."""
        out = {s.name: s.raw for s in self.seeds}
        for path in _captures(captures):
            packets, cut, unread = capture_packets(path, mobility_only=False)
            problems = unread if cut is None else [
                f"{cut}: " + (f"{len(packets)} packets up to the break kept" if packets else "skipped"), *unread]
            if problems and warn is not None:
                warn("; ".join(problems))
            for raw in packets:
                out.setdefault(f"{path.stem}-{hashlib.sha1(raw).hexdigest()[:12]}", raw)
        return out


class Warnings:
    """A ``warn`` for :meth:`Harness.corpus`: each bad capture one line on stderr,
    ``PROG: warning: FILE: why: what was kept``, and counted."""

    def __init__(self, prog: str) -> None:
        self.prog, self.count = prog, 0

    def __call__(self, line: str) -> None:
        self.count += 1
        print(f"{self.prog}: warning: {line}", file=sys.stderr)


def byte_mutation(rng: random.Random, data: bytes) -> bytes:
    """One blind byte-level change, as libFuzzer's own mutators make (atheris.Mutate ends the
    process when libFuzzer calls the custom mutator outside its fuzzing loop, so not that)."""
    out = bytearray(data)
    at = rng.randrange(len(out))
    match rng.randrange(5):
        case 0:
            out[at] ^= 1 << rng.randrange(8)
        case 1:
            out[at] = rng.choice((0, 1, 0x7F, 0x80, 0xFF, rng.randrange(256)))
        case 2:
            out[at:at] = rng.randbytes(rng.randrange(1, 9))
        case 3:
            del out[at : at + rng.randrange(1, 9)]
        case _:
            size = rng.randrange(1, 9)
            out[at : at + size] = out[rng.randrange(len(out)) :][:size]
    return bytes(out)


def _frame(data: bytes) -> Frame | None:
    try:
        return parse_frame(data)
    except ValueError:
        return None


def _captures(where: Path | None) -> list[Path]:
    if where is None or not where.exists():
        return []
    if where.is_dir():
        return sorted(p for p in where.iterdir() if p.suffix in CAPTURE_SUFFIXES)
    return [where]


def capture_packets(path: Path, mobility_only: bool) -> tuple[list[bytes], str | None, list[str]]:
    """The distinct IPv6 packets of a capture (with a Mobility Header only, if asked), where and
    why it broke off (a file found in a folder: read leniently, as fama-analyze reads one) or None,
    and a sentence for each capture point in a link type the reader does not read (its frames skipped)."""
    seen: dict[bytes, None] = {}
    with CaptureReader(path, lenient=True) as reader:
        for _number, _time, ip, _vantage, _file in reader:
            if ip is None:
                continue
            info = parse(ip)
            if info is not None and (not mobility_only or info.mh is not None):
                seen.setdefault(ip)
    unread = [not_read(path.name, point, reader.pcapng) for point in reader.interfaces if not point.read]
    return list(seen), reader.truncated, unread


def write_corpus(corpus: dict[str, bytes], where: Path) -> None:
    """One file per input in the directory ``where``, or one member each in the zip ``where``."""
    if where.suffix == ".zip":
        where.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(where, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, raw in corpus.items():  # a fixed date: the same corpus, the same zip
                archive.writestr(zipfile.ZipInfo(name, ZIP_DATE), raw, zipfile.ZIP_DEFLATED)
        return
    where.mkdir(parents=True, exist_ok=True)
    for name, raw in corpus.items():
        (where / name).write_bytes(raw)


def _under_test(module: str, package: str = "scapy_fama") -> bool:
    """Code whose edges guide libFuzzer: the package, not the fuzzer's own modules (mutators,
    oracles: their edges say nothing of the code under test, and instrumenting costs time)."""
    inside = module == package or module.startswith(package + ".")
    return inside and not (module == __package__ or module.startswith(f"{__package__}."))


def _instrument() -> None:
    """atheris coverage instrumentation of every function of the code under test already imported."""
    import atheris

    done: set[int] = set()

    def patch(fn: object) -> None:
        if isinstance(fn, types.FunctionType) and id(fn) not in done and _under_test(fn.__module__):
            done.add(id(fn))
            atheris.instrument_func(fn)

    for name, module in list(sys.modules.items()):
        if not _under_test(name):
            continue
        for obj in list(vars(module).values()):
            patch(obj)
            if isinstance(obj, type) and obj.__module__ == name:
                for attr in vars(obj).values():
                    patch(getattr(attr, "__func__", attr))
                    if isinstance(attr, property):
                        for accessor in (attr.fget, attr.fset):
                            patch(accessor)


def _option(argv: list[str], name: str) -> str | None:
    return next((a.split("=", 1)[1] for a in argv if a.startswith(f"--{name}=")), None)


def _given_captures(where: Path) -> Path:
    """The user's ``--captures``: a folder, or a file that is a capture (CaptureError if not);
    the checkout's ``pcaps/`` may be missing from an installed package, a folder named by hand not."""
    if not where.exists():
        raise CaptureError(f"{where}: no such file or folder")
    if where.is_file():
        with CaptureReader(where):
            pass
    return where


def main(argv: list[str] | None = None) -> None:
    """``fama-fuzz-harness``: run a harness under atheris, or write its seed corpus."""
    argv = list(sys.argv if argv is None else argv)
    if "--version" in argv[1:]:  # as every command answers it (libFuzzer's own flags start with one dash)
        print(f"fama-fuzz-harness {__version__}")
        return
    name = _option(argv, "harness")
    if name not in HARNESSES:
        raise SystemExit(f"fama-fuzz-harness: error: --harness=NAME, one of {', '.join(HARNESSES)}")
    harness = Harness(name, keep_valid="--keep-valid" in argv)
    corpus_dir = _option(argv, "seed-corpus")
    if corpus_dir is not None:
        captures = _option(argv, "captures")
        broken = Warnings("fama-fuzz-harness")
        try:
            where = _given_captures(Path(captures)) if captures else REFERENCE_CAPTURES
            corpus = harness.corpus(where, broken)
            write_corpus(corpus, Path(corpus_dir))
        except CaptureError as exc:
            raise SystemExit(f"fama-fuzz-harness: error: --captures: {exc}") from None
        except OSError as exc:
            raise SystemExit(f"fama-fuzz-harness: error: --seed-corpus={corpus_dir}: {exc.strerror or exc}") from None
        files = len(_captures(where))
        print(f"fama-fuzz-harness: {len(corpus)} inputs written to {corpus_dir} ({len(harness.seeds)} seed messages, "
              f"{files} capture file{'' if files == 1 else 's'}, {broken.count} of them damaged, cut short, no capture or not read)",
              file=sys.stderr)
        return
    try:
        import atheris
    except ImportError:
        raise SystemExit("fama-fuzz-harness: error: atheris is not installed (pip install 'scapy-fama[fuzz]')")
    _instrument()
    atheris.Setup(argv, harness.one_input, custom_mutator=harness.mutate)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
