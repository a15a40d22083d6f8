""".clusterfuzzlite/build.sh outside Docker: a fuzzer and a seed corpus zip per harness, each run
as a libFuzzer target on its corpus.

ClusterFuzzLite runs build.sh in its base-builder-python image, whose ``compile_python_fuzzer``
bundles an entry with PyInstaller. This machine has no Docker, so the test runs the script as it
is, from the checkout, with two stand-ins: ``$PYTHON`` is this interpreter (scapy-fama is
installed in it already, so its ``-m pip install .`` is logged, not run) and
``compile_python_fuzzer`` records its arguments and puts in ``$OUT`` a launcher that runs the
entry with this interpreter. Everything else (the harness list, the entries, the corpus zips,
the fuzzers as ClusterFuzzLite starts them: ``$OUT/NAME [libFuzzer flags] CORPUS``) is real.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from scapy_fama.fuzz.harness import HARNESSES, Harness

ROOT = Path(__file__).resolve().parents[2]
CFLITE = ROOT / ".clusterfuzzlite"
RUNS = 100  # libFuzzer runs per fuzzer, the seed corpus included


def _stand_ins(bin_dir: Path, log: Path) -> None:
    bin_dir.mkdir()
    python = bin_dir / "python"
    python.write_text(f'#!/bin/sh\nif [ "$1 $2 $3" = "-m pip install" ]; then echo "pip $*" >> {log}; exit 0; fi\n'
                      f'exec {sys.executable} "$@"\n')
    compiler = bin_dir / "compile_python_fuzzer"
    compiler.write_text(f'#!/bin/sh\necho "compile $*" >> {log}\nentry=$1\nname=$(basename -s .py "$entry")\n'
                        f'printf \'#!/bin/sh\\nexec {sys.executable} %s "$@"\\n\' "$entry" > "$OUT/$name"\n'
                        'chmod +x "$OUT/$name"\n')
    for script in (python, compiler):
        script.chmod(0o755)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """build.sh run once: ``$OUT`` and the stand-ins' log lines."""
    base = tmp_path_factory.mktemp("cflite")
    src, out, work, log = base / "src", base / "out", base / "work", base / "calls.log"
    for d in (src, out, work):
        d.mkdir()
    _stand_ins(base / "bin", log)
    env = dict(os.environ, SRC=str(src), OUT=str(out), WORK=str(work), PYTHON=str(base / "bin" / "python"),
               PATH=f"{base / 'bin'}{os.pathsep}{os.environ['PATH']}")
    done = subprocess.run(["bash", str(CFLITE / "build.sh")], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return out, log.read_text().splitlines()


def test_the_integration_builds_a_python_project_from_the_checkout() -> None:
    assert "language: python" in (CFLITE / "project.yaml").read_text().splitlines()
    docker = [line.split() for line in (CFLITE / "Dockerfile").read_text().splitlines()
              if line and not line.startswith("#")]
    assert docker[0][:2] == ["FROM", "gcr.io/oss-fuzz-base/base-builder-python"]
    # build.sh reads pcaps/ and installs '.': it runs in the checkout's copy
    assert ["COPY", ".", "$SRC/scapy-fama"] in docker and ["WORKDIR", "$SRC/scapy-fama"] in docker
    assert ["COPY", ".clusterfuzzlite/build.sh", "$SRC/"] in docker


def test_build_sh_installs_the_checkout_and_compiles_one_entry_per_harness(built: tuple[Path, list[str]]) -> None:
    out, calls = built
    assert calls[0] == "pip -m pip install ."
    compiled = [line.split() for line in calls[1:] if line.startswith("compile ")]
    assert [Path(c[1]).name for c in compiled] == [f"fama_{name}_fuzzer.py" for name in HARNESSES]
    for name in HARNESSES:
        assert os.access(out / f"fama_{name}_fuzzer", os.X_OK)


@pytest.mark.parametrize("name", HARNESSES)
def test_each_seed_corpus_zip_is_the_harness_corpus(built: tuple[Path, list[str]], name: str) -> None:
    out, _ = built
    with zipfile.ZipFile(out / f"fama_{name}_fuzzer_seed_corpus.zip") as archive:
        assert archive.testzip() is None  # every member's CRC checks out
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    assert all("/" not in member for member in members)  # OSS-Fuzz: one input per member, no folders
    harness = Harness(name)
    assert members == harness.corpus(ROOT / "pcaps")
    assert len(members) > len(harness.seeds)  # the reference captures' packets are in it


@pytest.mark.slow
@pytest.mark.parametrize("name", HARNESSES)
def test_each_fuzzer_runs_on_its_seed_corpus_as_clusterfuzzlite_starts_it(built: tuple[Path, list[str]], name: str,
                                                                        tmp_path: Path) -> None:
    pytest.importorskip("atheris", reason="atheris (the optional extra 'fuzz') is not installed")
    out, _ = built
    corpus = tmp_path / "corpus"
    with zipfile.ZipFile(out / f"fama_{name}_fuzzer_seed_corpus.zip") as archive:
        archive.extractall(corpus)
    done = subprocess.run([str(out / f"fama_{name}_fuzzer"), f"-runs={RUNS}", "-seed=1", str(corpus)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = re.search(r"^Done (\d+) runs", done.stderr, re.M)
    assert runs and int(runs.group(1)) >= RUNS and "INITED cov:" in done.stderr  # -runs may overshoot a little
