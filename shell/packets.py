"""Packets drawn as trees: every layer and field, CGA structure, and the verdict of each check.

Theory of operation
-------------------
:func:`packet_view` walks a Scapy packet layer by layer into plain
:class:`Node` data (a name, its fields as text, child nodes), opening what
``show()`` leaves opaque: the options of a Mobility Header one by one, and
the CGA Parameters inside (modifier, subnet prefix, collision count, the
public key's algorithm and size, the Sec its address claims). When the packet
is a BU or BA, the verdict of :mod:`scapy_fama.verify` marks the nodes it
speaks of::

    IPv6 2001:db8:2:0:..  > 2001:db8:1::1
    ├── Destination Options: HAO 2001:db8:1:0:..
    └── Binding Update  seq=4711 A H lifetime=86400 s   checksum ✓ pass
        ├── CGA Parameters (2 pieces, 388 bytes)        cga ✓ Hash1 and Hash2 ...
        │   ├── modifier 3f0a... prefix 2001:db8:1:: collision count 0
        │   └── public key rsaEncryption 1024 bits
        ├── Signature (128 bytes)                        signature ✓ RSA ...
        └── ...

The same data is available to scripts (``view.root``) and, through ``str()``,
as text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

from fama_shell.views import RESULT_STYLE, VerdictView, View
from rich.text import Text
from rich.tree import Tree
from scapy.packet import NoPayload, Packet

from scapy_fama.layers.headers import find_mh
from scapy_fama.crypto import address_sec, spki_info
from scapy_fama.layers import (
    BindingAuthData,
    CGAParams,
    CGAParamsOpt,
    PHKTOpt,
    SignatureOpt,
)

MARKS = {"pass": "✓", "FAIL": "✗", "not checked": "?"}
_CHECKED_BY = {
    CGAParamsOpt: "cga",
    SignatureOpt: "signature",
    BindingAuthData: "bad",
    PHKTOpt: "phkt",
}
HEX_SHOWN = 16  # bytes of a long byte field shown before "..."


@dataclass
class Node:
    """One layer or option: its name, fields as text, the checks about it, children."""

    name: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    tag: str | None = None  # the check that speaks of it: "cga", "signature", ...; "mh"
    checks: list[tuple[str, str, str]] = field(default_factory=list)  # (check, result, detail)
    children: list[Node] = field(default_factory=list)


@dataclass
class PacketView(View):
    """A packet as a tree, with the verdict of its checks when it is a BU or a BA."""

    summary: str
    root: Node
    verdict: VerdictView | None = None

    def find(self, name: str) -> Node | None:
        """The first node whose name starts with ``name`` (depth first)."""
        stack = [self.root]
        while stack:
            node = stack.pop(0)
            if node.name.startswith(name):
                return node
            stack = node.children + stack
        return None

    def __rich__(self) -> Tree:
        tree = Tree(Text(self.summary, "bold"))
        self._add(tree, self.root)
        if self.verdict is not None:
            mark = "VERIFIED" if self.verdict.ok else "NOT VERIFIED"
            tree.add(Text(f"verdict: {mark}  {self.verdict.keys}", RESULT_STYLE[self.verdict.ok]))
        return tree

    def _add(self, parent: Tree, node: Node) -> None:
        head = Text(node.name, "bold cyan")
        for check, result, detail in node.checks:
            ok = {"pass": True, "FAIL": False}.get(result)
            head.append(f"   {check} {MARKS[result]} {result}", RESULT_STYLE[ok])
            head.append(f" {detail}", "dim")
        branch = parent.add(head)
        if node.fields:
            branch.add(Text("  ".join(f"{k}={v}" for k, v in node.fields)))
        for child in node.children:
            self._add(branch, child)


def _text(value: object) -> str:
    if isinstance(value, bytes):
        shown = value[:HEX_SHOWN].hex()
        return f"{shown}{'...' if len(value) > HEX_SHOWN else ''} ({len(value)} B)"
    return str(value)


def _cga_node(params: CGAParams, owner: str | None) -> Node:
    try:
        algorithm, bits = spki_info(bytes(params.pubkey))
        key = f"{algorithm} {bits} bits"
    except ValueError as exc:
        key = f"unreadable: {exc}"
    fields = [
        ("modifier", bytes(params.modifier).hex()),
        ("prefix", str(params.prefix)),
        ("collision count", str(params.cc)),
    ]
    if owner is not None:
        fields.append(("Sec of the address", str(address_sec(owner))))
    children = [Node(f"public key {key}")]
    if params.ext:
        children.append(Node(f"extensions: {len(params.ext)}"))
    return Node("CGA Parameters (RFC 3972)", fields, children=children)


def _option_node(option: Packet, owner: str | None) -> Node:
    tag = next((check for cls, check in _CHECKED_BY.items() if isinstance(option, cls)), None)
    if isinstance(option, CGAParamsOpt):
        pieces = option.olens or []
        size = len(option.param_bytes())
        node = Node(
            f"{option.name} ({len(pieces) or 1} option(s), {size} bytes of parameters)", tag=tag
        )
        if isinstance(option.params, CGAParams):
            node.children.append(_cga_node(option.params, owner))
        return node
    fields = [
        (f.name, _text(option.getfieldval(f.name)))
        for f in option.fields_desc
        if f.name not in ("otype", "olen")
    ]
    return Node(option.name, fields, tag=tag)


def _layer_node(layer: Packet, owner: str | None) -> Node:
    node = Node(layer.name)
    for f in layer.fields_desc:
        value = layer.getfieldval(f.name)
        if isinstance(value, list) and value and all(isinstance(v, Packet) for v in value):
            node.children += [_option_node(v, owner) for v in value]
        elif isinstance(value, Packet):
            node.children.append(_layer_node(value, owner))
        else:
            node.fields.append(
                (f.name, _text(value) if isinstance(value, bytes) else f.i2repr(layer, value))
            )
    return node


def _mark(node: Node, verdict: VerdictView) -> None:
    """Attach each check of ``verdict`` to the nodes it speaks of."""
    for child in node.children:
        _mark(child, verdict)
    names = ("framing", "checksum", "auth") if node.tag == "mh" else (node.tag,)
    node.checks += [(r.name, r.result, r.detail) for r in verdict.rows if r.name in names]


def packet_view(
    pkt: Packet, verdict: VerdictView | None = None, owner: str | None = None
) -> PacketView:
    """``pkt`` as a tree; ``owner`` is the address the CGA Parameters are for (the HoA, or the DAR)."""
    nodes: list[Node] = []
    mh_layer = find_mh(pkt)
    layer: Packet = pkt
    while not isinstance(layer, NoPayload):
        copy = layer.copy()
        copy.remove_payload()
        node = _layer_node(copy, owner)
        node.tag = "mh" if layer is mh_layer else None
        nodes.append(node)
        layer = layer.payload
    root = nodes[0]
    for parent, child in pairwise(nodes):
        parent.children.append(child)
    if verdict is not None:
        _mark(root, verdict)
    return PacketView(pkt.summary(), root, verdict)
