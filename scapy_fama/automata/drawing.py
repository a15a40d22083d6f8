"""The life-cycle graph of an automaton, drawn by GraphViz, or one clear line when it cannot be.

Theory of operation
-------------------
Scapy's ``Automaton.graph()`` writes the DOT text of ``build_graph()`` into
GraphViz's ``dot`` and, without a ``target``, pipes the drawing into
ImageMagick's ``display``. Where either program is missing it printed a
logged traceback, opened (and emptied) the target file, then raised
"GraphViz call failed" with the shell's stderr: several lines and a file
left behind. :func:`draw` looks for the programs first::

    graph()                    dot and display needed: the drawing in a window
    graph(target="mn.svg")     dot needed: an SVG file (format="png", ... other types)
    graph(string=True)         nothing needed: the DOT text, as build_graph() gives it
    a program missing          OSError, one line: which, and the two ways around it
"""

from __future__ import annotations

import shutil
from typing import Any

from scapy.config import conf
from scapy.consts import WINDOWS
from scapy.utils import do_graph


def draw(name: str, dot: str, **kwargs: Any) -> str | None:
    """``dot`` (the DOT text of automaton class ``name``) through Scapy's ``do_graph``."""
    if kwargs.get("string"):
        return dot
    needed = [("GraphViz's", kwargs.get("prog") or conf.prog.dot, "graphviz")]
    # no target: Scapy pipes the drawing into display
    if kwargs.get("target") is None and not WINDOWS:
        needed.append(("ImageMagick's", conf.prog.display, "imagemagick"))
    missing = [
        (f"{who} {program}", package)
        for who, program, package in needed
        if shutil.which(program) is None
    ]
    if missing:
        ways = [f"install {' and '.join(package for _, package in missing)}"]
        if kwargs.get("target") is None:
            ways.append(f"write a file with target='{name}.svg' (dot only)")
        ways.append(f"take the DOT text of {name}.build_graph()")
        raise OSError(
            f"{name}.graph() needs {' and '.join(what for what, _ in missing)}, not found on PATH: "
            f"{', '.join(ways[:-1])} or {ways[-1]}"
        )
    return do_graph(dot, **kwargs)  # type: ignore[no-any-return]
