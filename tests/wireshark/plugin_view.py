"""tshark with the FAMA plugin loaded, and the same fields read from our layers.

Theory of operation
-------------------
Two readings of one capture, packet by packet, as ``{field: [values in wire order]}``::

    capture --tshark -X lua_script:fama.lua -T fields--> the plugin's fama.* fields
            --rdpcap (scapy_fama layers) --layer_view---> the same fields from the layers:
                option spans (offsets, lengths, back-to-back pieces), CGAParams fields,
                spki_info (key algorithm and size), framing_problems and bad_problem (placement sentences),
                a Care-of Test message's token, whether its checksum is right (checksum_ok)

tshark runs with ``HOME`` pointing at an empty folder (:func:`tests.corpus.tshark_env`), so that
a copy of the plugin installed in the user's personal plugin folder is not loaded a second time.
The plugin's tests skip, with the reason shown, when tshark is missing or built without Lua.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from scapy.packet import Packet
from scapy.utils import PcapReader

import scapy_fama  # noqa: F401  (registers the layers)
from scapy_fama.crypto.keys import spki_info
from scapy_fama.layers import (
    BA,
    BA_STATUS,
    MH_CLASSES,
    CGAParams,
    CGAParamsOpt,
    CoT,
    checksum_ok,
)
from scapy_fama.layers.spans import option_spans
from scapy_fama.wire.layout import bad_problem, framing_problems
from scapy_fama.wireshark import plugin_file
from tests.corpus import TSHARK, TSHARK_MISSING, Node, tshark_env

# every field the comparison reads, in the order the plugin adds them
FIELDS = (
    "fama.opt.type", "fama.opt.length", "fama.opt.offset", "fama.cga.piece", "fama.cga.pieces",
    "fama.cga.block_offset", "fama.cga.piece_lengths", "fama.cga.length", "fama.cga.modifier",
    "fama.cga.prefix", "fama.cga.collision_count", "fama.cga.key_length", "fama.cga.key_algorithm",
    "fama.cga.key_bits", "fama.cga.ext.type", "fama.cga.ext.length", "fama.cga.requested",
    "fama.sig.bits", "fama.sig.covers", "fama.phkt.present", "fama.phkt.bits", "fama.coti.present",
    "fama.cot.token", "fama.bad.offset", "fama.bad.last", "fama.bad.covers", "fama.ba.status",
    "fama.mh.checksum.status",
)  # fmt: skip
FamaView = dict[str, list[str]]


@cache
def lua_skip_reason() -> str | None:
    """Why the plugin cannot be tested here, or None."""
    if TSHARK is None:
        return TSHARK_MISSING
    version = subprocess.run([TSHARK, "-v"], capture_output=True, text=True, timeout=60).stdout
    if "with Lua" not in version:
        return "tshark is built without Lua (no -X lua_script): FAMA plugin tests skipped"
    return None


def tshark_home(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``tshark ARGS`` as a user whose home (personal plugins and preferences) is ``home``."""
    assert TSHARK is not None, TSHARK_MISSING
    env = dict(os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"))
    return subprocess.run([TSHARK, *args], capture_output=True, text=True, timeout=600, env=env, check=False)


def tshark_plugin(pcap: str | Path, *args: str, plugin: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``tshark -X lua_script:PLUGIN -r pcap ARGS`` with no personal plugins or preferences."""
    assert TSHARK is not None, TSHARK_MISSING
    script = plugin or plugin_file()
    return subprocess.run([TSHARK, "-X", f"lua_script:{script}", "-r", str(pcap), *args], capture_output=True,
                          text=True, timeout=600, env=tshark_env(), check=False)


EXPERTS = ("fama.framing", "fama.malformed", "fama.cut", "fama.ba.refused", "fama.mh.checksum.bad")  # messages are the values
BYTES = ("fama.cga.modifier", "fama.cot.token")  # shown as "aa:bb:..." by -T json


def plugin_views(pcap: str | Path, fields: tuple[str, ...] = FIELDS + ("fama.framing", "fama.ba.refused")
                 ) -> list[FamaView]:
    """The plugin's fields of every frame of ``pcap``, in tree order (one ``tshark -T json`` run)."""
    out = tshark_plugin(pcap, "-T", "json")
    assert out.returncode == 0, out.stderr
    views = []
    for frame in json.loads(out.stdout, object_pairs_hook=Node):
        view: FamaView = {}
        for key, value in frame.get("_source").get("layers").walk():
            if key == "_ws.expert":
                name = next((k for k, _ in value if k in EXPERTS), None)
                if name in fields:
                    view.setdefault(name, []).append(value.get("_ws.expert.message"))
            elif key in fields and key not in EXPERTS:
                view.setdefault(key, []).append(value.replace(":", "") if key in BYTES else value)
        views.append(view)
    return views


# ---------------------------------------------------------------- the layers' side


def _mh_layers(pkt: Packet) -> Iterator[Packet]:
    """Every Mobility Header of ``pkt`` (a tunnelled one after the outer), in dissection order."""
    classes = tuple(set(MH_CLASSES.values()))
    layer = pkt
    while layer is not None and layer.__class__.__name__ != "NoPayload":
        if isinstance(layer, classes):
            yield layer
        layer = layer.payload


def _cga_block(view: FamaView, params: Packet | None) -> None:
    data = bytes(params) if params is not None else b""
    view.setdefault("fama.cga.length", []).append(str(len(data)))
    if not isinstance(params, CGAParams):
        return
    add = lambda name, value: view.setdefault(name, []).append(value)  # noqa: E731
    add("fama.cga.modifier", bytes(params.modifier).hex())
    add("fama.cga.prefix", params.prefix)
    add("fama.cga.collision_count", str(params.cc))
    key = bytes(params.pubkey)
    add("fama.cga.key_length", str(len(key)))
    algorithm, bits = spki_info(key)
    add("fama.cga.key_algorithm", algorithm)
    add("fama.cga.key_bits", str(bits))
    for ext in params.ext:
        add("fama.cga.ext.type", f"0x{ext.etype:04x}")
        add("fama.cga.ext.length", str(ext.elen))


def _mh_view(mh: Packet, view: FamaView) -> None:
    spans = option_spans(mh)
    add = lambda name, value: view.setdefault(name, []).append(str(value))  # noqa: E731
    for i, span in enumerate(spans):
        otype = span.otype
        if otype not in (5, 11, 12, 13, 14, 15, 16):
            continue
        if isinstance(span.option, CGAParamsOpt):
            lengths = span.option.wire_lengths()
            pos = span.start
            for k, olen in enumerate(lengths, 1):
                for name, value in (("fama.opt.type", 12), ("fama.opt.length", olen), ("fama.opt.offset", pos),
                                    ("fama.cga.piece", k), ("fama.cga.pieces", len(lengths)),
                                    ("fama.cga.block_offset", span.start)):
                    add(name, value)
                pos += 2 + olen
            add("fama.cga.piece_lengths", ", ".join(map(str, lengths)))
            _cga_block(view, span.option.params)
            continue
        olen = span.end - span.start - 2
        add("fama.opt.type", otype)
        add("fama.opt.length", olen)
        add("fama.opt.offset", span.start)
        if otype == 11:
            add("fama.cga.requested", 1)
        elif otype == 13 and olen:
            add("fama.sig.bits", 8 * olen)
            if i and isinstance(spans[i - 1].option, CGAParamsOpt):
                add("fama.sig.covers", spans[i - 1].end)
        elif otype == 14:
            add("fama.phkt.present", 1)
            if olen:
                add("fama.phkt.bits", 8 * olen)
        elif otype == 15:
            add("fama.coti.present", 1)
        elif otype == 16 and olen == 8:
            add("fama.cot.token", bytes(span.option)[2:].hex())
        elif otype == 5:
            add("fama.bad.offset", span.start)
            add("fama.bad.last", int(i == len(spans) - 1))
            add("fama.bad.covers", span.start + 2)
    frames = [s.frame for s in spans]
    for problem in framing_problems(frames) + [p for p in [bad_problem(frames)] if p]:
        add("fama.framing", problem)
    if isinstance(mh, CoT):  # RFC 6275 §6.1.6: the care-of keygen token
        add("fama.cot.token", bytes(mh.token).hex())
    add("fama.mh.checksum.status", int(checksum_ok(mh)))  # RFC 6275 §6.1.1: 1 Good, 0 Bad
    if isinstance(mh, BA):  # RFC 6275 §6.1.8: 128 and above refuse the BU
        add("fama.ba.status", mh.status)
        if mh.status >= 128:
            add("fama.ba.refused", f"BA {mh.status}: {BA_STATUS.get(mh.status, 'Unassigned')}")


def layer_views(pcap: str | Path) -> list[FamaView]:
    """The same fields as :func:`plugin_views`, from the scapy_fama layers."""
    views = []
    with PcapReader(str(pcap)) as reader:
        for pkt in reader:
            view: FamaView = {}
            for mh in _mh_layers(pkt):
                _mh_view(mh, view)
            views.append(view)
    return views
