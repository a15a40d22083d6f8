"""The FAMA Wireshark plugin (scapy_fama/wireshark/fama.lua) run by tshark, against our layers.

* On every capture of pcaps/, the test corpus and the split-parameter and placement captures of
  :mod:`tests.wireshark.captures`, the plugin's fama.* fields equal what the scapy_fama layers
  dissect, packet by packet: option types, exact lengths, MH offsets, CGA pieces, the block's
  modifier, prefix, collision count, key algorithm, key bits, extension fields, Signature and
  PHKT sizes, the BAD's position, and the placement sentences of ``framing_problems``.
* On the third-party captures of ../shared/pcaps (tcpdump's CVE regressions, ns-3, OAI PMIPv6),
  as they are and with their cut Mobility Headers made whole, no Lua error, with or without a
  protocol tree.
* Malformed options show Wireshark's way (a Malformed expert info), never a Lua error: the
  option TLVs of the tcpdump CVE captures retyped as each FAMA option, hand-made malformed
  options, options cut by the snap length, and seeded byte flips of corpus options.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

from scapy_fama.analysis.reader import CaptureReader
from scapy_fama.crypto import CgaParams, ext_fields
from scapy_fama.crypto.keys import spki_info
from scapy_fama.layers import BA_STATUS, BE, BE_STATUS
from scapy_fama.wire import parse
from scapy_fama.wireshark import install
from tests.corpus import Node, build_corpus, write_corpus
from tests.wireshark import captures
from tests.wireshark.plugin_view import (
    EXPERTS,
    FamaView,
    layer_views,
    lua_skip_reason,
    plugin_views,
    tshark_home,
    tshark_plugin,
)

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "pcaps"
REFCAPS = sorted((ROOT / "pcaps").glob("*.pcap*"))
THIRD_PARTY = sorted(SHARED.glob("*.pcap"))
PI_MALFORMED = 0x07000000  # expert group (epan/proto.h)
FAMA_TYPES = (5, 11, 12, 13, 14, 15, 16)

pytestmark = [
    pytest.mark.tshark,
    pytest.mark.skipif(lua_skip_reason() is not None, reason=lua_skip_reason() or ""),
]


def _normalised(view: FamaView) -> FamaView:
    """Placement sentences compared as a set: the plugin shows each on the option it concerns."""
    out = dict(view)
    if "fama.framing" in out:
        out["fama.framing"] = sorted(out["fama.framing"])
    return out


def assert_same(pcap: Path) -> list[FamaView]:
    """The plugin's fields equal the layers', frame by frame; returns the plugin's."""
    plugin, layers = plugin_views(pcap), layer_views(pcap)
    assert len(plugin) == len(layers)
    differ = []
    for number, (theirs, ours) in enumerate(zip(plugin, layers, strict=True), 1):
        theirs, ours = _normalised(theirs), _normalised(ours)
        if theirs != ours:
            keys = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
            differ.append(f"frame {number}: " + "; ".join(f"{k}: plugin {theirs.get(k)} layers {ours.get(k)}"
                                                          for k in keys))
    assert not differ, f"{pcap.name}: {len(differ)} frames differ:\n" + "\n".join(differ[:20])
    return plugin


def lua_errors(pcap: Path) -> list[str]:
    """Lua errors of a whole run, once with a protocol tree (-V) and once without (-q -z expert)."""
    found = []
    tree = tshark_plugin(pcap, "-V")
    assert tree.returncode == 0, tree.stderr
    found += [line.strip() for line in tree.stdout.splitlines() if "Lua Error" in line]
    summary = tshark_plugin(pcap, "-q", "-z", "expert")
    found += [line.strip() for line in summary.stdout.splitlines() if "Lua Error" in line]
    found += [line for line in (tree.stderr + summary.stderr).splitlines() if "lua" in line.lower()]
    return found


# ---------------------------------------------------------------- the plugin itself


def test_the_installed_plugin_declares_its_filter_fields(tmp_path: Path) -> None:
    install(tmp_path / ".local" / "lib" / "wireshark" / "plugins")  # tshark -G folders, HOME=tmp_path
    out = tshark_home(tmp_path, "-G", "fields")
    names = {line.split("\t")[2] for line in out.stdout.splitlines() if line.startswith("F\t")}
    assert {"fama.cga.collision_count", "fama.cga.key_bits", "fama.phkt.present", "fama.cga.prefix",
            "fama.cga.modifier", "fama.sig.covers", "fama.bad.last", "fama.opt.length"} <= names
    assert not [line for line in out.stderr.splitlines() if "lua" in line.lower()], out.stderr


def test_the_plugin_names_every_ba_status_as_iana_does(tmp_path: Path) -> None:
    """Wireshark 4.0 names 147 and 148 after an obsolete PMIPv6 draft; the plugin's fama.ba.status
    has the names of the layers' table, RFC 4866 §8's for the statuses a FAMA DAR refuses with."""
    install(tmp_path / ".local" / "lib" / "wireshark" / "plugins")
    out = tshark_home(tmp_path, "-G", "values").stdout
    values = [line.split("\t", 3) for line in out.splitlines() if line.startswith("V\t")]
    ours = {int(code): name for _, field, code, name in values if field == "fama.ba.status"}
    theirs = {int(code): name for _, field, code, name in values if field == "mip6.ba.status"}
    assert ours == BA_STATUS
    assert ours[147] == "Permanent home keygen token unavailable" != theirs[147]
    assert ours[148] == "CGA and signature verification failed" != theirs[148]


RFC_NAMES = {  # RFC 6275 §6.1.8 and RFC 4866 §8, as the RFCs spell them (case aside)
    0: "Binding Update accepted", 132: "Not home subnet", 135: "Sequence number out of window",
    147: "Permanent home keygen token unavailable", 148: "CGA and signature verification failed",
}


@pytest.mark.parametrize("name", ["fail132", "fail135", "fail147", "fail148", "fig1"])
def test_ba_statuses_show_by_name_and_refusals_as_expert_infos(name: str) -> None:
    """Every BA of the capture says its status by name in the Info column; each refusal is a
    fama.ba.refused expert info. The statuses are the capture's truth (pcaps/NAME.truth.json)."""
    pcap = ROOT / "pcaps" / f"{name}.pcapng"
    out = tshark_plugin(pcap, "-Y", "mip6.ba.status", "-T", "fields", "-E", "separator=/t", "-e", "fama.ba.status",
                        "-e", "_ws.col.Info", "-e", "fama.ba.refused", "-e", "_ws.expert.message")
    assert out.returncode == 0, out.stderr
    rows = [line.split("\t") for line in out.stdout.splitlines()]
    truth = json.loads((ROOT / "pcaps" / f"{name}.truth.json").read_text())
    assert {int(row[0]) for row in rows} == {int(status) for status in truth["statuses"]}
    for status, info, _refused, experts in rows:
        rfc_name = RFC_NAMES[int(status)]
        assert info.endswith(f"(status {status}: {rfc_name})"), info
        assert (f"BA {status}: {rfc_name}" in experts.split(",")) == (int(status) >= 128), experts


BE_NAMES = {  # RFC 6275 §6.1.9, as the RFC spells them
    1: "Unknown binding for Home Address destination option", 2: "Unrecognized MH Type value",
}


def test_binding_error_statuses_show_by_name(tmp_path: Path) -> None:
    """A Binding Error's Status showed by name in the tree only (Wireshark's mip6.be.status), not in
    the Info column as a BA's does. Now fama.be.status has the layers' names, and every Binding
    Error of a capture says its status (stock tshark's number) by the RFC's name in the Info column;
    an unassigned one says so. A Binding Error reports, it refuses nothing: no expert info."""
    install(tmp_path / ".local" / "lib" / "wireshark" / "plugins")
    out = tshark_home(tmp_path, "-G", "values").stdout
    values = [line.split("\t", 3) for line in out.splitlines() if line.startswith("V\t")]
    assert {int(code): name for _, field, code, name in values if field == "fama.be.status"} == BE_STATUS
    pcap = tmp_path / "be.pcap"
    wrpcap(str(pcap), [Ether(dst="02:00:00:00:00:01") / IPv6(src="2001:db8:1::1", dst="2001:db8:2::a") /
                       BE(status=status, hoa="2001:db8:1::a") for status in (1, 2, 3)])
    out = tshark_plugin(pcap, "-T", "fields", "-E", "separator=/t", "-e", "mip6.be.status", "-e", "fama.be.status",
                        "-e", "_ws.col.Info", "-e", "_ws.expert.message")
    assert out.returncode == 0, out.stderr
    rows = [line.split("\t") for line in out.stdout.splitlines()]
    assert [(row[0], row[1], row[3]) for row in rows] == [("1", "1", ""), ("2", "2", ""), ("3", "3", "")]
    for status, _ours, info, _experts in rows:
        assert info.endswith(f"(status {status}: {BE_NAMES.get(int(status), 'Unassigned')})"), info


def test_a_care_of_tests_token_shows_as_the_care_of_keygen_token(shared_pcaps: Path) -> None:
    """Wireshark 4.0 shows a Care-of Test's token as "Home Keygen Token" (mip6.hot.token, the Home
    Test's field), so fama.cot.token, the care-of keygen token, was nowhere in a CoT. Now the CoT
    message's bytes 16-23 (RFC 6275 §6.1.6), read here from the tcpdump capture by hand, are its
    fama.cot.token; the Home Test's token at the same offset (§6.1.5) is not."""
    pcap = shared_pcaps / "tcpdump_ipv6_mobility_1.pcap"
    expected = []
    for _, _, ip, _, _ in CaptureReader(pcap):
        info = parse(ip)
        assert info is not None and info.upper is not None
        mh = ip[info.upper :]
        expected.append(mh[16:24].hex() if mh[2] == 4 else "")
    assert expected.count("") == len(expected) - 1  # one Care-of Test, a Home Test among the rest
    out = tshark_plugin(pcap, "-T", "fields", "-e", "fama.cot.token")
    assert out.returncode == 0, out.stderr
    assert [line.replace(":", "") for line in out.stdout.splitlines()] == expected
    tree = tshark_plugin(pcap, "-V", "-Y", "mip6.mhtype == 4").stdout
    assert "FAMA Care-of Test: Care-of Keygen Token" in tree and "Lua Error" not in tree


def test_every_field_and_expert_the_readme_names_is_the_plugins(tmp_path: Path) -> None:
    """README's "Display filter fields: ...; experts ..." list, the filters a user types: each name
    is one the installed plugin registers (tshark -G fields), fama.be.status of 1.3.0 among them."""
    text = (ROOT / "README.md").read_text()
    listed = text[text.index("Display filter fields:") : text.index("- `fama-analyze --annotate")]
    named = set(re.findall(r"`(fama\.[a-z_.]+)`", listed))
    install(tmp_path / ".local" / "lib" / "wireshark" / "plugins")
    out = tshark_home(tmp_path, "-G", "fields").stdout
    registered = {line.split("\t")[2] for line in out.splitlines() if line.startswith("F\t")}
    assert {"fama.be.status", "fama.ba.refused"} <= named and len(named) > 30
    assert named - registered == set()


# ---------------------------------------------------------------- fields against the layers


@pytest.mark.parametrize("pcap", REFCAPS, ids=lambda p: p.name)
def test_reference_captures_match_the_layers(pcap: Path) -> None:
    shown = assert_same(pcap)
    assert sum(1 for v in shown if "fama.cga.key_bits" in v) >= 1 or "fama.phkt.present" in str(shown)


def test_the_corpus_matches_the_layers(tmp_path: Path) -> None:
    pcap = tmp_path / "corpus.pcap"
    entries = write_corpus(pcap)
    shown = assert_same(pcap)
    pieces = {len(v["fama.cga.piece_lengths"][0].split(",")) for v in shown if "fama.cga.piece_lengths" in v}
    assert {1, 2, 3} <= pieces
    with_options = sum(1 for e in entries if any(o.otype in FAMA_TYPES for o in e.options))
    assert with_options == sum(1 for v in shown if "fama.opt.type" in v)  # BAs without them show a status


def test_split_parameters_match_the_layers(tmp_path: Path) -> None:
    pcap = tmp_path / "split.pcap"
    what = captures.split_capture(pcap)
    shown = assert_same(pcap)
    splits = [v.get("fama.cga.piece_lengths") for v in shown]
    assert ["255, 255, 255, 235"] in splits and ["200, 200, 200"] in splits and ["100, 87"] in splits
    assert {"1024", "1536"} <= {b for v in shown for b in v.get("fama.cga.key_bits", [])}
    assert ["2"] in [v.get("fama.cga.collision_count") for v in shown]
    by_what = dict(zip(what, shown, strict=True))
    ba = by_what["BA: PHKT, DAR CGA 400 bytes, Signature, BAD"]
    assert ba["fama.phkt.present"] == ["1"] and ba["fama.bad.last"] == ["1"] and ba["fama.cga.length"] == ["400"]
    assert by_what["BA: PHKT, Care-of Test option, BAD"]["fama.cot.token"] == ["0001020304050607"]
    secure = by_what["BU with CoTI option, CGA request, NI, BAD"]
    assert secure["fama.coti.present"] == ["1"] and secure["fama.cga.requested"] == ["1"]


def test_placement_rules_match_the_layers(tmp_path: Path) -> None:
    pcap = tmp_path / "placement.pcap"
    what = captures.placement_capture(pcap)
    shown = assert_same(pcap)
    assert all(v.get("fama.framing") for v in shown), list(zip(what, shown, strict=True))


# ---------------------------------------------------------------- no Lua error, malformed shown as such


@pytest.mark.parametrize("pcap", THIRD_PARTY, ids=lambda p: p.name)
def test_third_party_captures_raise_no_lua_error(pcap: Path) -> None:
    assert not lua_errors(pcap)


def _reframed(tmp_path: Path) -> Path:
    """The MHs of the tcpdump captures made whole (Header Len and Payload Length to the bytes
    captured), so that Wireshark walks their fuzzed options instead of stopping at the cut."""
    packets = []
    for path in THIRD_PARTY:
        for _, _, ip, _, _ in CaptureReader(path):
            info = parse(ip) if ip is not None else None
            if info is not None and info.proto in (135, 62):
                whole = captures.reframed_mh(ip, info)
                if whole is not None:
                    packets.append(whole)
    pcap = tmp_path / "reframed.pcap"
    captures.write_raw(pcap, packets)
    return pcap


def test_third_party_mobility_headers_made_whole_raise_no_lua_error(shared_pcaps: Path, tmp_path: Path) -> None:
    pcap = _reframed(tmp_path)
    assert not lua_errors(pcap)
    shown = plugin_views(pcap)
    assert sum(1 for v in shown if "fama.opt.type" in v) == 4  # the BADs of tcpdump_ipv6_mobility_1's BUs and BAs


def _retyped_options(ip: bytes, mh_offset: int) -> list[bytes]:
    """Every option TLV of a whole MH retyped as each FAMA option, one packet per retyping."""
    info = parse(ip)
    assert info is not None and info.mh is not None
    out = []
    for otype, start, _ in info.mh.options:
        if otype in (0, 1):
            continue
        for new in FAMA_TYPES:
            raw = bytearray(ip)
            raw[mh_offset + start] = new
            out.append(bytes(raw))
    return out


def _malformed_by_definition(otype: int, data: bytes) -> bool:
    """The test's own reading: does ``data`` contradict option ``otype``'s definition?"""
    if otype in (11, 15):
        return len(data) != 0  # RFC 4866 §5.4, §5.6
    if otype == 16:
        return len(data) != 8  # RFC 4866 §5.5
    if otype in (13, 14):
        return not data  # §5.2, §5.3: as long as the modulus
    if otype == 12:
        try:
            params = CgaParams.decode(data)
            ext_fields(params.extensions)
            spki_info(params.public_key)
        except ValueError:
            return True
        return params.collision_count > 2  # RFC 3972 §3
    return False


def test_cve_options_retyped_as_fama_options_show_as_malformed(shared_pcaps: Path, tmp_path: Path) -> None:
    whole = [ip for _, _, ip, _, _ in CaptureReader(_reframed(tmp_path))]
    packets = [p for ip in whole for p in _retyped_options(ip, parse(ip).upper)]  # type: ignore[union-attr]
    pcap = tmp_path / "retyped.pcap"
    captures.write_raw(pcap, packets)
    assert not lua_errors(pcap)
    shown = plugin_views(pcap, EXPERTS + ("fama.opt.offset",))
    checked = malformed = 0
    for raw, view in zip(packets, shown, strict=True):
        info = parse(raw)
        assert info is not None and info.mh is not None
        seen = set(view.get("fama.opt.offset", []))  # an earlier option Wireshark rejects ends the walk
        expected = False
        for otype, start, size in info.mh.options:
            if otype in FAMA_TYPES[1:] and str(start) in seen:
                at = info.mh.offset + start
                expected |= _malformed_by_definition(otype, raw[at + 2 : at + 2 + size])
        if seen:
            checked += 1
            malformed += expected
            assert bool(view.get("fama.malformed")) == expected, (raw[info.mh.offset :].hex(), view)
    assert checked > 100 and malformed > 30, (checked, malformed)


def test_malformed_options_show_malformed_expert_infos(tmp_path: Path) -> None:
    pcap = tmp_path / "malformed.pcap"
    sentences = captures.malformed_capture(pcap)
    assert not lua_errors(pcap)
    for sentence, view in zip(sentences, plugin_views(pcap, EXPERTS), strict=True):
        assert view.get("fama.malformed") == [sentence]
    frames = json.loads(tshark_plugin(pcap, "-T", "json").stdout, object_pairs_hook=Node)
    groups = {int(v.get("_ws.expert.group")) for f in frames for k, v in f.walk()
              if k == "_ws.expert" and v.get("fama.malformed") is not None}
    assert groups == {PI_MALFORMED}


def test_options_cut_by_the_snap_length_raise_no_lua_error(tmp_path: Path) -> None:
    """A three-piece CGA BU and a PHKT BA cut at every 7th byte of their Mobility Headers."""
    split = tmp_path / "split.pcap"
    what = captures.split_capture(split)
    frames = [ip for _, _, ip, _, _ in CaptureReader(split)]
    chosen = [frames[what.index("CGA 765 bytes, RFC split")], frames[-1]]
    packets, caplens = [], []
    for raw in chosen:
        mh_offset = parse(raw).upper  # type: ignore[union-attr]
        for cut in range(mh_offset + 1, len(raw), 7):
            packets.append(raw)
            caplens.append(cut)
    pcap = tmp_path / "cut.pcap"
    captures.write_raw(pcap, packets, caplens)
    assert not lua_errors(pcap)
    fields = tshark_plugin(pcap, "-T", "fields", "-e", "fama.opt.type", "-e", "_ws.lua.error")
    assert fields.returncode == 0 and "lua" not in fields.stderr.lower()
    assert all(not line.endswith("\t1") for line in fields.stdout.splitlines())


def test_seeded_byte_flips_in_fama_options_raise_no_lua_error(tmp_path: Path) -> None:
    rng = random.Random(4866)
    with_options = [e for e in build_corpus() if any(o.otype in FAMA_TYPES[1:] for o in e.options)]
    packets = []
    for i in range(400):
        entry = with_options[i % len(with_options)]
        raw = bytearray(entry.raw)
        targets = [o for o in entry.options if o.otype in FAMA_TYPES[1:]]
        option = targets[rng.randrange(len(targets))]
        for _ in range(rng.randrange(1, 4)):
            at = entry.mh_offset + option.offset + rng.randrange(option.size)
            raw[at] = rng.randrange(256)
        packets.append(bytes(raw))
    pcap = tmp_path / "flips.pcap"
    captures.write_raw(pcap, packets)
    assert not lua_errors(pcap)
    shown = plugin_views(pcap, EXPERTS + ("fama.opt.type",))
    assert sum(1 for v in shown if "fama.opt.type" in v) > 300
    assert sum(1 for v in shown if "fama.malformed" in v) > 20
