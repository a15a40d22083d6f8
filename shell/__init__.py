"""fama-shell: the interactive front end of scapy-fama (DESIGN.md "Front ends").

Theory of operation
-------------------
Three layers, each usable without the one above it::

    cli.py        fama-shell [-c CODE | SCRIPT.py] [--topo FILE] [--seed N] [--lab]
      |
    console.py    IPython: the commands as plain functions, node names bound (dar1, mn, ...),
      |           rich display of results, one-line errors, node-name completion
    base.py       ShellSession: the command surface both sessions share
    session.py    Session: a SimNet and its named nodes; every command is a method that
                  returns data (views.py, msc.py, packets.py, replay.py) with a rich drawing
    labsession.py LabSession: the same commands on fama-lab's namespaces (real time), its
                  tables and charts from the roles' logs (lablog.py), its injections from a
                  tester namespace on a DAR's bridge (labtester.py)

``Session`` is the API for scripts and tests; ``fama-shell`` puts one in an
IPython namespace. Nothing in ``scapy_fama`` imports this package.
"""

from fama_shell.session import Session

__all__ = ["Session"]
