"""fama-shell: the interactive front end of scapy-fama (DESIGN.md "Front ends").

Theory of operation
-------------------
Three layers, each usable without the one above it::

    cli.py        fama-shell [-c CODE | SCRIPT.py] [--topo FILE] [--seed N]
      |
    console.py    IPython: the commands as plain functions, node names bound (dar1, mn, ...),
      |           rich display of results, one-line errors, node-name completion
    session.py    Session: a SimNet and its named nodes; every command is a method that
                  returns data (views.py, msc.py, packets.py, replay.py) with a rich drawing

``Session`` is the API for scripts and tests; ``fama-shell`` puts one in an
IPython namespace. Nothing in ``scapy_fama`` imports this package.
"""

from fama_shell.session import Session

__all__ = ["Session"]
