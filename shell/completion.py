"""TAB completion of command arguments: node names of the right kind, message kinds, modes.

Theory of operation
-------------------
IPython completes names with Jedi, which knows nothing of what a command takes:
after ``bc(da`` it offers ``dar1`` beside ``dataclass`` and ``datetime``, and in
``brk("`` it has nothing to say. :func:`matcher` is a context matcher that reads
the line up to the cursor, finds the innermost open call and which argument the
cursor is in, and answers from the command's signature::

    bc(da|              bc(dar: DarNode | str)        -> dar1 dar2 dar3 (only)
    handover(mn, "d|    handover(mn, dar: DarNode)    -> dar1 dar2 dar3
    flow(c|             flow(src: Node | str, ...)    -> cn (any node)
    brk("|              brk(kind: str | int, ...)     -> BU BA BE CoTI CoT RS RA ...
    replay(p, dar1, mode="|                           -> as-is re-sign

A parameter's choices come from its annotation (a DAR, an MN, any node) or,
for the few string parameters with a fixed set of values, from
:data:`WORDS`. When it has choices that match, the matcher suppresses the
other matchers, so only those are offered; otherwise it says nothing and
IPython completes as usual.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from typing import Any

from fama_shell.base import ShellSession
from fama_shell.replay import MODES
from IPython.core.completer import (
    CompletionContext,
    SimpleCompletion,
    SimpleMatcherResult,
    context_matcher,
)

from scapy_fama.proto.messages import SENDABLE_KINDS

# (command, parameter) -> the words it takes
WORDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("brk", "kind"): SENDABLE_KINDS,
    ("packets", "kind"): ("BU", "BA"),
    ("replay", "mode"): MODES,
    ("flow", "kind"): ("ping", "tcp"),  # the lab's flows
}
_CLOSE = {")": "(", "]": "[", "}": "{"}
_KEYWORD = re.compile(r"\s*([A-Za-z_]\w*)\s*=(?!=)")
_NAME_BEFORE = re.compile(r"([A-Za-z_]\w*)\s*$")


@dataclass(frozen=True)
class Call:
    """Where the cursor is: inside ``command(`` at argument ``index`` (or ``keyword``)."""

    command: str
    index: int
    keyword: str | None
    quoted: bool  # the cursor is inside a string literal


def open_call(text: str) -> Call | None:
    """The innermost call still open at the end of ``text`` (a line up to the cursor)."""
    stack: list[tuple[str, int, int]] = []  # (bracket, position, commas seen at this level)
    quote: str | None = None
    i = 0
    while i < len(text):
        ch = text[i]
        if quote is not None:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            stack.append((ch, i, 0))
        elif ch in _CLOSE:
            if not stack or stack[-1][0] != _CLOSE[ch]:
                return None
            stack.pop()
        elif ch == "," and stack:
            bracket, pos, commas = stack[-1]
            stack[-1] = (bracket, pos, commas + 1)
        elif ch == "#":
            return None
        i += 1
    if not stack or stack[-1][0] != "(":
        return None
    _, pos, commas = stack[-1]
    name = _NAME_BEFORE.search(text[:pos])
    if name is None:
        return None
    argument = text[pos + 1 :].rsplit(",", 1)[-1] if commas else text[pos + 1 :]
    keyword = _KEYWORD.match(argument)
    return Call(name.group(1), commas, keyword.group(1) if keyword else None, quote is not None)


def choices(session: ShellSession, call: Call) -> tuple[str, ...]:
    """The words ``call``'s current argument takes (empty: no opinion)."""
    method = getattr(session, call.command, None)
    if method is None or call.command.startswith("_") or not callable(method):
        return ()
    try:
        params = list(inspect.signature(method).parameters.values())
    except (TypeError, ValueError):
        return ()
    if call.keyword is not None:
        param = next((p for p in params if p.name == call.keyword), None)
    else:
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        param = positional[call.index] if call.index < len(positional) else None
    if param is None:
        return ()
    words = WORDS.get((call.command, param.name))
    if words is not None:
        return words if call.quoted else ()
    return _nodes(session, str(param.annotation))


def _nodes(session: ShellSession, annotation: str) -> tuple[str, ...]:
    """The names of the nodes a parameter annotated ``annotation`` takes."""
    nodes = session.nodes()
    if "Dar" in annotation:
        return tuple(n for n, node in nodes.items() if hasattr(node, "prefix"))
    if "Mn" in annotation:
        return tuple(n for n, node in nodes.items() if type(node).__name__ in ("MnNode", "LabMn"))
    if re.search(r"\bNode\b|Host", annotation):
        return tuple(nodes)
    return ()


def matcher(session: ShellSession) -> Any:
    """The context matcher of ``session`` (for ``Completer.custom_matchers``)."""

    @context_matcher(priority=100, identifier="fama_shell.arguments")  # type: ignore[misc]
    def arguments(context: CompletionContext) -> SimpleMatcherResult:
        call = open_call(context.text_until_cursor)
        words = choices(session, call) if call is not None else ()
        found = [w for w in words if w.startswith(context.token)]
        return {
            "completions": [SimpleCompletion(text=w, type="param") for w in found],
            "suppress": bool(found),
        }

    return arguments
