"""Input files read with a bound: a key, CGA Parameters, a fuzzing finding, a shell script.

Theory of operation: ``read_bytes()`` of /dev/zero, a pipe or a huge file reads without end
(``--key /dev/zero`` filled the memory). :func:`read_at_most` reads one byte more than its
limit and refuses the file when that byte comes. It lives at the bottom of the house (DESIGN.md's
layers: crypto) because key files are read here, and the layers above it read their inputs with
it too: the CLIs, the shell and the fuzzer's findings.
"""

from pathlib import Path


def read_at_most(path: str | Path, limit: int, what: str) -> bytes:
    """The bytes of input file ``path``, refused beyond ``limit`` bytes as not ``what``. Every
    problem is a ValueError ``PATH: problem`` (an OSError too: ``PATH: No such file or directory``)."""
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise ValueError(f"{path}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise ValueError(f"{path}: not {what} (more than {limit} bytes)")
    return data
