"""fama-shell: the entry point (interactive IPython, ``-c CODE``, or ``SCRIPT.py``).

Theory of operation
-------------------
::

    fama-shell                          IPython on the default topology (dar1..dar3, cn, mn)
    fama-shell --topo lab.toml          ... on a topology from a TOML or Python file
    fama-shell --lab                    ... on the real lab of fama-lab (root, a lab up)
    fama-shell -c "handover(mn, dar1); print(bc(dar1))"      run code, exit 0 (1 on an error)
    fama-shell demo.py                  run a script in the same namespace, exit 0 / 1

The topology is built first (a bad file, no lab up or not root for ``--lab``:
one ``fama-shell: error:`` line and exit code 2, :mod:`scapy_fama.cli.common`);
then the session goes to :mod:`fama_shell.console`, whose errors are one line
each and never end the session.

On SimNet the session is a :class:`~fama_shell.session.Session` (virtual time,
breakpoints, every packet in memory); with ``--lab`` it is a
:class:`~fama_shell.labsession.LabSession` on the namespaces of ``fama-lab up``:
the same commands in real time, tables and charts read from the roles' JSON
logs, ``send_to``/``replay`` from a tester namespace on a DAR's bridge, and a
one-line refusal for what a real kernel cannot do (breakpoints, held messages).
"""

from __future__ import annotations

import argparse
import sys

from fama_shell import console
from fama_shell.base import ShellSession
from fama_shell.session import Session

from scapy_fama.cli.common import Parser, nonempty_path, run, version

PROG = "fama-shell"


def parser() -> argparse.ArgumentParser:
    p = Parser(
        prog=PROG,
        description="Interactive FAMA shell: IPython with Scapy, scapy_fama and a ready SimNet topology.",
    )
    p.add_argument(
        "-c", dest="code", metavar="CODE", help="run CODE in the shell's namespace and exit"
    )
    p.add_argument(
        "script",
        nargs="?",
        type=nonempty_path,
        help="run this Python script in the shell's namespace and exit",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--topo", type=nonempty_path, metavar="FILE", help="topology from a .toml or .py file"
    )
    where.add_argument(
        "--lab", action="store_true", help="the real lab of fama-lab up instead of SimNet (root)"
    )
    p.add_argument(
        "--seed", type=int, default=1, help="SimNet seed (default 1): same seed, same run"
    )
    p.add_argument(
        "--fresh-key", action="store_true", help="a new MN key instead of the cached one"
    )
    p.add_argument("--no-banner", action="store_true", help="start without the banner")
    return version(p)


def _session(args: argparse.Namespace) -> ShellSession:
    if args.lab:
        from fama_shell.labsession import LabSession  # the lab's modules only when asked for

        return LabSession.open()
    if args.topo is not None:
        return Session.from_file(args.topo, seed=args.seed, cached_key=not args.fresh_key)
    return Session.default(seed=args.seed, cached_key=not args.fresh_key)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.code is not None and args.script is not None:
        parser().error("give -c CODE or a SCRIPT, not both")

    def body() -> int:
        session = _session(args)
        if args.code is not None:
            return console.run_code(session, args.code)
        if args.script is not None:
            return console.run_script(session, args.script)
        return console.interact(session, show_banner=not args.no_banner)

    return run(PROG, body)


if __name__ == "__main__":
    sys.exit(main())
