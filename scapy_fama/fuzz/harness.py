"""atheris entry points: coverage-guided fuzzing of the dissector and the DAR core (optional extra).

Theory of operation
-------------------
atheris (libFuzzer for Python) mutates raw bytes guided by line coverage; it
complements the structure-aware campaign, which knows FAMA but not coverage.
Both entry points take a whole IPv6 packet, with the world's seeds as the
starting corpus, and let any exception escape (libFuzzer records it)::

    pip install 'scapy-fama[fuzz]'
    python -m scapy_fama.fuzz.harness dissect [libFuzzer flags, e.g. -runs=100000 corpus/]
    python -m scapy_fama.fuzz.harness dar

``dissect`` is :class:`~scapy_fama.fuzz.targets.DissectTarget`, ``dar`` is the
DAR half of :class:`~scapy_fama.fuzz.targets.InprocTarget` with the liveness
probe after every input.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from pathlib import Path

from scapy_fama.fuzz.seeds import DAR_ROLE, Seed, build_world
from scapy_fama.fuzz.targets import CASE_START, DissectTarget, InprocTarget, Target

SEED = 1


def entry_point(name: str) -> tuple[Callable[[bytes], None], list[Seed]]:
    """The one-input function atheris calls for target ``name``, and its seed corpus."""
    world = build_world(SEED)
    target: Target = {"dissect": DissectTarget, "dar": InprocTarget}[name]()
    target.setup(world)
    seed = world.seeds["first-bu"]
    seeds = [s for s in world.seeds.values() if s.role in target.roles and (name != "dar" or s.role == DAR_ROLE)]

    def one_input(data: bytes) -> None:
        target.reset()
        target.run(data, seed, CASE_START)
        problem = target.alive(random.Random(0), CASE_START + 0.5) if name == "dar" else None
        if problem is not None:
            raise AssertionError(f"liveness: {problem}")

    return one_input, seeds


def write_corpus(seeds: list[Seed], directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for s in seeds:
        (directory / s.name).write_bytes(s.raw)


def main(argv: list[str]) -> None:
    import atheris  # the optional extra: only here

    if len(argv) < 2 or argv[1] not in ("dissect", "dar"):
        raise SystemExit("usage: python -m scapy_fama.fuzz.harness {dissect,dar} [libFuzzer flags] [corpus dir]")
    one_input, seeds = entry_point(argv[1])
    corpus = Path(f"fama-fuzz-corpus-{argv[1]}")
    write_corpus(seeds, corpus)
    atheris.Setup([argv[0], *argv[2:], str(corpus)], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
