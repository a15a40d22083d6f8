#!/bin/bash -eu
# ClusterFuzzLite / OSS-Fuzz build of scapy-fama's libFuzzer harnesses (scapy_fama/fuzz/harness.py),
# run by the image of .clusterfuzzlite/Dockerfile in $SRC/scapy-fama. For each harness NAME
# (dissect, decode, dar, mn, analyze) it leaves in $OUT:
#   fama_NAME_fuzzer                  the fuzz target: compile_python_fuzzer bundles the entry
#                                     $SRC/fama_NAME_fuzzer.py (the harness's atheris main) with
#                                     PyInstaller and wraps it for the sanitizer runtime
#   fama_NAME_fuzzer_seed_corpus.zip  the harness's seed corpus: the fuzzing world's seed
#                                     messages and the distinct packets of pcaps/
# PYTHON and compile_python_fuzzer are the image's; tests/fuzz/test_clusterfuzzlite.py runs this
# script outside Docker with stand-ins for both (README.md, "Fuzzing at scale": what was checked).

PYTHON=${PYTHON:-python3}
"$PYTHON" -m pip install .

for harness in $("$PYTHON" -c 'from scapy_fama.fuzz.harness import HARNESSES; print(*HARNESSES)'); do
  fuzzer="fama_${harness}_fuzzer"
  cat > "$SRC/$fuzzer.py" <<ENTRY
"""scapy-fama's '$harness' libFuzzer harness (written by .clusterfuzzlite/build.sh)."""
import sys

from scapy_fama.fuzz.harness import main

if __name__ == "__main__":
    main([sys.argv[0], "--harness=$harness", *sys.argv[1:]])
ENTRY
  # PyInstaller options: the version comes from the package's metadata; Scapy's optional plotting
  # and interactive extras are never imported by a harness (half the bundle's size without them)
  compile_python_fuzzer "$SRC/$fuzzer.py" --copy-metadata=scapy-fama \
    --exclude-module=matplotlib --exclude-module=numpy --exclude-module=PIL --exclude-module=IPython
  "$PYTHON" -m scapy_fama.fuzz.harness --harness="$harness" --captures=pcaps \
    --seed-corpus="$OUT/${fuzzer}_seed_corpus.zip"
done
