"""The IPython layer: a session's commands as plain functions, rich display, one-line errors.

Theory of operation
-------------------
:func:`namespace` fills the user namespace: everything of ``scapy.all``, the
FAMA layers, craft/verify helpers and crypto, the session (``session``,
``net``), every node bound by its name (``dar1``, ``mn``, ``cn``: Jedi
completes them and their attributes), and the commands, which are the
session's bound methods (so ``handover?`` shows the method's docstring)::

    In [1]: handover(mn, dar2)        session.handover(mn, dar2) -> Msc, drawn with rich
    In [2]: bc("dar9")                ValueError -> "error: unknown node 'dar9': the nodes are ..."
    In [3]: bc(dar9)                  NameError  -> the same line: dar9 is not a node
    In [4]: handover(mn, "da<TAB>     the DARs only (completion.py); brk("<TAB>: message kinds

:func:`install` adapts an IPython shell (interactive or not): a display
formatter that draws any :class:`~fama_shell.views.View` with rich (colour on a
terminal, plain text in a pipe), a custom exception handler that prints one
line for every ``Exception`` and for Ctrl-C (the topology lives in the session,
untouched; ``%tb`` still shows the traceback; a result that fails to draw gets no ``Out[n]:``
prompt either), a matcher that completes each command's
arguments (:mod:`fama_shell.completion`), and a prompt that shows the virtual
time. :func:`interact` runs the terminal shell; :func:`run_code` runs ``-c``
code as if typed at the prompt, one line after the other (each line's result is
drawn, the first error ends it), and :func:`run_script` a script as Python does.
"""

from __future__ import annotations

import ast
import difflib
import inspect
import keyword
import socket
import sys
import traceback
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import IPython
import scapy
from fama_shell import completion
from fama_shell.base import ShellSession
from fama_shell.views import View, table
from IPython.core import formatters
from IPython.core.interactiveshell import InteractiveShell
from IPython.terminal.interactiveshell import TerminalInteractiveShell
from IPython.terminal.prompts import Prompts
from pygments.token import Token
from rich.console import Console
from rich.text import Text
from traitlets.config import Config

import scapy_fama
from scapy_fama import craft, crypto, layers, verify
from scapy_fama.cli.common import rich_console
from scapy_fama.crypto.files import read_at_most
from scapy_fama.lab.links import LabError
from scapy_fama.layers.headers import find_mh
from scapy_fama.net.sim_flows import Flow

COMMANDS = (
    "topo", "attach", "handover", "detach", "flow", "flows", "stop", "run", "step",
    "bc", "bul", "addrs", "msc", "latency", "save", "verify", "show", "send_to", "packets",
    "brk", "brks", "unbrk", "held", "release", "drop", "replay", "restart",
)  # fmt: skip
MAX_SCRIPT = 16 << 20  # bytes: far above any script; /dev/zero as the script was read without end
EXAMPLE = "attach(mn, dar1); flow(cn, mn); handover(mn, dar2); bc(dar1); msc()"


class Commands(View):
    """``cmds()``: every command with the summary of its docstring."""

    def __init__(self, session: ShellSession) -> None:
        self.session = session

    def __rich__(self) -> Any:
        out = table("fama-shell commands (cmd? shows the whole docstring)", "command", "does")
        for name in COMMANDS:
            out.add_row(name, Text(summary(getattr(self.session, name))))
        return out


def summary(command: Any) -> str:
    """The first paragraph of ``command``'s docstring on one line, its ``names`` plain (its first
    line alone stopped mid-sentence where the summary takes two: "every ``interval`` s")."""
    paragraph = (inspect.getdoc(command) or "").split("\n\n")[0]
    return " ".join(paragraph.split()).replace("``", "")


def _views(cls: type = View) -> list[type]:
    """``View`` and all its subclasses (each needs its own printer: dataclasses define __repr__,
    which IPython's pretty printer would take before looking further up the MRO)."""
    return [cls] + [sub for child in cls.__subclasses__() for sub in _views(child)]


def namespace(session: ShellSession) -> dict[str, Any]:
    """Scapy, scapy_fama and the session's nodes and commands, for the user namespace."""
    ns: dict[str, Any] = {}
    exec("from scapy.all import *", ns)  # noqa: S102 -- Scapy's own interactive namespace
    for module in (layers, crypto):
        ns.update({name: getattr(module, name) for name in module.__all__})
    ns.update(
        {
            name: getattr(craft, name)
            for name in ("first_bu", "phkt_bu", "binding_ack", "coti", "cot")
        }
    )
    ns.update(find_mh=find_mh)
    ns.update(verify_bu=verify.verify_bu, verify_ba=verify.verify_ba, scapy_fama=scapy_fama)
    ns.update(
        {
            n: node
            for n, node in session.nodes().items()
            if n.isidentifier() and not keyword.iskeyword(n)
        }
    )
    ns.update({name: getattr(session, name) for name in COMMANDS})
    ns.update(
        session=session,
        net=getattr(session, "net", None),
        cmds=lambda: Commands(session),
        rprint=rich_console().print,
    )
    return ns


def banner(session: ShellSession) -> Text:
    """What is ready, in a few lines."""
    nodes = session.nodes()
    dars = ", ".join(f"{n.name} {n.prefix}" for n in nodes.values() if hasattr(n, "prefix"))
    others = ", ".join(n for n, node in nodes.items() if not hasattr(node, "prefix"))
    out = Text()
    out.append(f"fama-shell {scapy_fama.__version__}", "bold")
    out.append(f" -- IPython {IPython.__version__}, Scapy {scapy.VERSION}, FAMA layers loaded\n")
    out.append(f"topology: {session.origin}: {dars}; {others}\n")
    if session.key_origin:
        out.append(f"MN key: RSA-1024, {session.key_origin}\n", "dim")
    out.append(f"try: {getattr(session, 'example', EXAMPLE)}\n", "green")
    out.append(
        "cmds() lists the commands; Scapy and scapy_fama.craft helpers are at hand; "
        f"t = {'virtual' if hasattr(session, 'net') else 'real (lab clock)'} time\n",
        "dim",
    )
    return out


def _printer(console: Console) -> Any:
    def draw(obj: Any, p: Any, cycle: bool) -> None:
        with console.capture() as capture:
            console.print(obj)
        p.text(capture.get().rstrip("\n"))

    return draw


def _message(shell: InteractiveShell, value: BaseException) -> tuple[str, str]:
    """(what, text) of the one line an exception becomes."""
    if isinstance(value, KeyboardInterrupt):  # Ctrl-C: the session stopped where it could
        return "interrupted", str(value) or "Ctrl-C"
    if isinstance(value, NameError) and not isinstance(value, UnboundLocalError):
        return "error", _unknown_name(shell, getattr(value, "name", None) or str(value))
    if isinstance(value, socket.gaierror):  # IPv6(dst="dar1"): Scapy resolves what is no address
        return "error", (f"{value.strerror}: a host name Scapy looked up, where an address was wanted? "
                         "an address is written '2001:db8::1', a node's is dar1.address")
    if isinstance(value, OSError) and value.strerror:
        where = f": {value.filename}" if value.filename else ""
        return "error", f"{value.strerror}{where}"
    what = "error" if isinstance(value, (ValueError, KeyError, TypeError, LabError)) else type(value).__name__
    text = str(value).strip("'\"") if isinstance(value, KeyError) else str(value)
    return what, text or type(value).__name__


def _unknown_name(shell: InteractiveShell, name: str) -> str:
    """A name that is not defined: a node's, a command's, or neither (the closest named)."""
    session: ShellSession | None = shell.user_ns.get("session")
    nodes = session.names() if session is not None else []
    if nodes and (name.rstrip("0123456789") in {n.rstrip("0123456789") for n in nodes}
                  or difflib.get_close_matches(name, nodes, n=1)):
        return f"unknown node {name!r}: the nodes are {', '.join(nodes)}"
    close = difflib.get_close_matches(name, [*COMMANDS, *nodes], n=1)
    hint = f"; did you mean {close[0]}?" if close else "; cmds() lists the commands"
    return f"name {name!r} is not defined{hint}"


def _one_line(
    shell: InteractiveShell, etype: type, value: BaseException, tb: Any, tb_offset: Any = None, *, doing: str = ""
) -> list[str]:
    """The custom exception handler: one line, the session lives on (at the prompt, where %tb
    can be typed next, the line says so; ``-c`` and scripts end at the error). ``doing``: what
    failed, when it was not the code itself."""
    what, text = _message(shell, value)
    if doing:
        what, text = "error", f"{doing}: {'' if what == 'error' else what + ': '}{text}"
    # where %tb (IPython's showtraceback) looks; IPython's own handler sets them, a custom one not
    sys.last_type, sys.last_value, sys.last_traceback = etype, value, tb
    hint = "  (%tb shows the traceback)" if isinstance(shell, TerminalInteractiveShell) else ""
    print(f"{what}: {text}{hint}", file=sys.stderr)
    shell.fama_errors = getattr(shell, "fama_errors", 0) + 1
    return []


def _drawing_errors(shell: InteractiveShell) -> None:
    """A result whose drawing fails (``IPv6(dst=dar1)``: Scapy's repr of a field that holds no
    address) as one line: IPython's formatters catch the error and show it themselves with
    ``showtraceback(exc_info)``, a whole traceback, not through the custom exception handler."""
    show = type(shell).showtraceback.__get__(shell)  # IPython's own: installing twice wraps it once

    def showtraceback(exc_tuple: Any = None, *args: Any, **kwargs: Any) -> None:
        tb = exc_tuple[2] if exc_tuple is not None else None
        frame = next(traceback.walk_tb(tb), (None, 0))[0]
        if frame is not None and frame.f_code.co_filename == formatters.__file__:
            _one_line(shell, *exc_tuple, doing="cannot draw the result")
        else:
            show(exc_tuple, *args, **kwargs)

    shell.showtraceback = showtraceback  # type: ignore[method-assign]
    _prompt_after_drawing(shell)


def _prompt_after_drawing(shell: InteractiveShell) -> None:
    """``Out[n]: `` written once the result is drawn, not before: IPython's display hook writes it
    first, so a drawing that failed left it in front of the error line. Its own two steps, in the
    other order; one that draws nothing writes no prompt."""
    hook = shell.displayhook
    prompt = type(hook).write_output_prompt.__get__(hook)  # IPython's own: installing twice wraps once
    draw = type(hook).compute_format_data.__get__(hook)

    def compute_format_data(result: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        format_dict, md_dict = draw(result)
        if format_dict:
            prompt()
        return format_dict, md_dict

    hook.write_output_prompt = lambda: None  # type: ignore[method-assign]
    hook.compute_format_data = compute_format_data  # type: ignore[method-assign]


def install(shell: InteractiveShell, session: ShellSession, console: Console) -> None:
    """Make ``shell`` a fama-shell: namespace, rich display, one-line errors, node completion."""
    shell.user_ns.update(namespace(session))
    plain = shell.display_formatter.formatters["text/plain"]
    for view in _views():
        plain.for_type(view, _printer(console))
    plain.for_type(Flow, lambda flow, p, cycle: p.text(str(flow)))
    shell.set_custom_exc((Exception, KeyboardInterrupt), _one_line)
    _drawing_errors(shell)
    shell.Completer.custom_matchers.append(completion.matcher(session))


def _prompts(session: ShellSession) -> type[Prompts]:
    class FamaPrompts(Prompts):
        """``fama t=3.000s [1]: ``: the virtual time of the topology at each prompt."""

        def in_prompt_tokens(self) -> list[tuple[Any, str]]:
            return [
                (Token.Prompt, f"fama t={session.now:.3f}s ["),
                (Token.PromptNum, str(self.shell.execution_count)),
                (Token.Prompt, "]: "),
            ]

    return FamaPrompts


def interact(session: ShellSession, show_banner: bool = True) -> int:
    """The terminal shell, until exit."""
    config = Config()
    config.TerminalInteractiveShell.banner1 = ""
    config.TerminalInteractiveShell.confirm_exit = False
    config.TerminalInteractiveShell.term_title = False
    shell = TerminalInteractiveShell.instance(config=config)
    shell.prompts = _prompts(session)(shell)
    console = rich_console()
    install(shell, session, console)
    if show_banner:
        console.print(banner(session))
    shell.mainloop()
    return 0


def typed_lines(code: str) -> list[str]:
    """``code`` cut where a person would press Enter: one chunk per line of top-level statements
    (``a(); b()`` is one chunk, a ``for`` block another), comments and blank lines dropped.
    Code that does not parse is one chunk (running it shows the syntax error)."""
    try:
        body = ast.parse(code).body
    except SyntaxError:
        return [code]
    lines = code.splitlines()
    spans: list[list[int]] = []  # [first line, last line] of each chunk, 1-based
    for node in body:
        start, end = node.lineno, node.end_lineno or node.lineno
        if spans and start <= spans[-1][1]:  # on the line where the previous statement ended
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([start, end])
    return ["\n".join(lines[first - 1 : last]) for first, last in spans]


def _exit(code: object = None) -> NoReturn:
    """``exit()`` and ``quit()`` of ``-c`` code and scripts, as Python's: IPython's ask a prompt
    loop to end, which a run without one does not have ("no attribute 'ask_exit'")."""
    raise SystemExit(code)


def exit_status(value: SystemExit) -> int:
    """The exit status Python gives ``sys.exit(code)``: None 0, a number itself, else the code
    printed on stderr and 1."""
    if value.code is None or isinstance(value.code, int):
        return value.code or 0
    print(value.code, file=sys.stderr)
    return 1


@contextmanager
def _quiet_exit(shell: InteractiveShell) -> Iterator[None]:
    """IPython shows a SystemExit of the code it runs ("An exception has occurred, use %tb ...")
    and warns "To exit: use 'exit', 'quit', or Ctrl-D.": the run it ends says nothing more."""
    show = shell.showtraceback

    def showtraceback(*args: Any, **kwargs: Any) -> None:
        if not isinstance(sys.exc_info()[1], SystemExit):
            show(*args, **kwargs)

    shell.showtraceback = showtraceback  # type: ignore[method-assign]
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "To exit: use", UserWarning)
            yield
    finally:
        shell.showtraceback = show  # type: ignore[method-assign]


def run_code(session: ShellSession, code: str, filename: str = "<fama-shell -c>", typed: bool = True) -> int:
    """Run ``code`` in a non-interactive shell: 0, or 1 on an error (the first one ends it);
    ``sys.exit(code)``, ``exit()`` and ``quit()`` end it with Python's status for ``code``.

    ``typed``: as if typed at the prompt, line by line, each line's result drawn (``-c``);
    else as one script, as Python runs it."""
    config = Config()
    config.HistoryManager.enabled = False  # in memory: a script leaves the user's history alone
    shell = InteractiveShell.instance(config=config)
    install(shell, session, rich_console())
    shell.user_ns.update(__name__="__main__", __file__=filename, exit=_exit, quit=_exit)
    for chunk in typed_lines(code) if typed else [code]:
        with _quiet_exit(shell):
            result = shell.run_cell(chunk, store_history=typed)
        sys.stdout.flush()
        if isinstance(result.error_in_exec, SystemExit):
            return exit_status(result.error_in_exec)
        if not result.success or getattr(shell, "fama_errors", 0):
            return 1
    return 0


def run_script(session: ShellSession, path: Path) -> int:
    try:
        code = read_at_most(path, MAX_SCRIPT, "a script").decode()
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a script ({exc})") from None
    return run_code(session, code, str(path), typed=False)
