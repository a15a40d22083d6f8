"""The commands' entry points: a Ctrl-C while a command is still starting is one line.

Theory of operation
-------------------
A console script imports its ``main`` before it calls it, and importing scapy_fama
imports Scapy: most of a second in which Python's own SIGINT handler raises
KeyboardInterrupt inside some import, and the command ended in a traceback of thirty
lines before it had read its arguments. So ``[project.scripts]`` in pyproject.toml
names the functions of this module, which imports nothing of the project at module
level. Each imports its command's ``main`` (:data:`COMMANDS`) under a guard and calls
it::

    fama-lab ...  -->  fama_launch.fama_lab()  --import scapy_fama.cli.lab--> main()
                          Ctrl-C meanwhile: "fama-lab: interrupted", exit 130

which is what a command says for a Ctrl-C once it runs (``scapy_fama.cli.common.run``).
The window left is the interpreter's own start and this module's import, a few
milliseconds.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

COMMANDS = {
    "fama-cga": "scapy_fama.cli.cga:main",
    "fama-dar": "scapy_fama.cli.dar:main",
    "fama-mn": "scapy_fama.cli.mn:main",
    "fama-shell": "fama_shell.cli:main",
    "fama-analyze": "scapy_fama.cli.analyze:main",
    "fama-conformance": "scapy_fama.cli.conformance:main",
    "fama-fuzz": "scapy_fama.cli.fuzz:main",
    "fama-fuzz-harness": "scapy_fama.fuzz.harness:main",
    "fama-lab": "scapy_fama.cli.lab:main",
    "fama-wireshark": "scapy_fama.cli.wireshark:main",
}
INTERRUPTED = 130  # 128 + SIGINT, as a shell reports it


def launch(prog: str, target: str) -> int | None:
    """Import ``target`` ("module:function") and call it; a Ctrl-C during the import is one line."""
    module, _, name = target.partition(":")
    try:
        main: Callable[[], int | None] = getattr(importlib.import_module(module), name)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return INTERRUPTED
    return main()


def _entry(prog: str) -> Callable[[], int | None]:
    def entry() -> int | None:
        return launch(prog, COMMANDS[prog])

    entry.__name__ = entry.__qualname__ = prog.replace("-", "_")
    entry.__doc__ = f"The {prog} command ({COMMANDS[prog]})."
    return entry


fama_cga = _entry("fama-cga")
fama_dar = _entry("fama-dar")
fama_mn = _entry("fama-mn")
fama_shell = _entry("fama-shell")
fama_analyze = _entry("fama-analyze")
fama_conformance = _entry("fama-conformance")
fama_fuzz = _entry("fama-fuzz")
fama_fuzz_harness = _entry("fama-fuzz-harness")
fama_lab = _entry("fama-lab")
fama_wireshark = _entry("fama-wireshark")
