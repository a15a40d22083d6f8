"""tshark 4.0 as an independent dissector of the FAMA corpus (DESIGN.md "tshark 4.0 as an oracle").

Every packet of :mod:`tests.corpus` is read three ways and the readings must agree:

* the ground truth the corpus generator intended (from its construction inputs);
* our Scapy layers (``rdpcap`` after ``import scapy_fama``);
* ``tshark -r corpus.pcap -T json -x`` run once (``-x`` adds ``[hex, offset, length, ...]``
  to every field, which gives the option boundaries).

tshark 4.0 does not validate MH checksums, so the checksum is recomputed here from
the raw bytes (:func:`tests.corpus.rfc6275_checksum`) and compared with the value
tshark and our layers read. tshark shows RFC 4866 option data two bytes short and
labels the Signature "CGA Parameters": for those options only the framing (type,
length byte, offset, size) is compared, never their contents.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from scapy.layers.inet6 import IPv6, IPv6ExtHdrRouting
from scapy.packet import Packet
from scapy.utils import rdpcap

from scapy_fama.layers.headers import find_mh
from scapy_fama.layers import BA, BE, BU, CoT, CoTI, HoT, HoTI, checksum_ok
from scapy_fama.layers.headers import mh_context
from tests.corpus import (
    OPT_PHKT,
    PI_WARN,
    SEED,
    TSHARK,
    TSHARK_MISSING,
    CorpusBuilder,
    Entry,
    Node,
    OptionFrame,
    build_corpus,
    our_options,
    raw_view,
    rfc6275_checksum,
    tshark_json,
    tshark_options,
    write_corpus,
)

pytestmark = pytest.mark.tshark


def truth_options(entry: Entry) -> list[OptionFrame]:
    return [(o.otype, o.olen, o.offset, o.size) for o in entry.options]


def check_all(entries: list[Entry], check: Any) -> None:
    """Run ``check(entry)`` on every entry; report every packet that fails, not just the first."""
    failures = []
    for e in entries:
        try:
            check(e)
        except AssertionError as exc:
            failures.append(f"#{e.index} frame {e.index + 1} {e.kind}: {str(exc).splitlines()[0]}")
    assert not failures, f"{len(failures)} packets disagree:\n" + "\n".join(failures[:30])


def three_way(what: str, truth: Any, ours: Any, tshark: Any = None, *, with_tshark: bool = True) -> None:
    assert ours == truth, f"{what}: ours {ours!r} != intended {truth!r}"
    if with_tshark:
        assert tshark == truth, f"{what}: tshark {tshark!r} != intended {truth!r}"


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus_pcap(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Entry]]:
    path = tmp_path_factory.mktemp("oracle") / "fama-corpus.pcap"
    return path, write_corpus(path)


@pytest.fixture(scope="module")
def entries(corpus_pcap: tuple[Path, list[Entry]]) -> list[Entry]:
    return corpus_pcap[1]


@pytest.fixture(scope="module")
def ours(corpus_pcap: tuple[Path, list[Entry]]) -> list[Packet]:
    """Our dissection: the MH layer of every packet read back from the pcap."""
    path, entries = corpus_pcap
    packets = rdpcap(str(path))
    assert len(packets) == len(entries)
    mhs = [find_mh(p) for p in packets]
    assert all(mh is not None for mh in mhs), "a corpus packet without a Mobility Header"
    return mhs


@pytest.fixture(scope="module")
def tshark(corpus_pcap: tuple[Path, list[Entry]]) -> list[Node]:
    """tshark's reading of the corpus (one run); skipped, with the reason shown, without tshark."""
    if TSHARK is None:
        pytest.skip(TSHARK_MISSING)
    frames = tshark_json(corpus_pcap[0])
    assert len(frames) == len(corpus_pcap[1])
    return frames


def mipv6_of(frame: Node) -> Node:
    node = frame.find("mipv6")
    assert node is not None, f"tshark found no Mobility Header ({frame.get('frame').get('frame.protocols')})"
    return node


# --- the corpus itself ------------------------------------------------------------------------


def test_corpus_covers_the_brief(entries: list[Entry]) -> None:
    kinds = {e.kind for e in entries}
    assert len(entries) >= 200
    assert {e.mhtype for e in entries} == set(range(8))
    assert {0, 130, 132, 135, 137, 147, 148, 149} <= {e.status for e in entries if e.mhtype == 6}
    assert {1, 2} == {e.status for e in entries if e.mhtype == 7}
    cga_lens = {e.extra["cga_len"] for e in entries if "cga_len" in e.extra}
    assert min(cga_lens) <= 255 < max(cga_lens) and max(cga_lens) > 510 and {255, 510} <= cga_lens
    assert any("rsa1024" in k for k in kinds) and any("rsa1536" in k for k in kinds)
    assert any(k.endswith("/req") or "/req/" in k for k in kinds) and any("/secure" in k for k in kinds)
    assert {"phkt_bu/dereg_home", "phkt_bu/dereg_away", "phkt_bu/away"} <= kinds
    home_dereg = [e for e in entries if e.kind == "phkt_bu/dereg_home"]
    assert all(e.hao is None and e.lifetime == 0 for e in home_dereg)
    assert any("/phkt" in k for k in kinds) and any("/bad" in k and "/phkt" not in k for k in kinds)
    assert any("/darcga" in k for k in kinds)
    assert any(e.mhtype == 6 and not any(o.otype in (5, 14) for o in e.options) for e in entries)
    seqs = {e.seq for e in entries if e.seq is not None}
    assert {0, 32767, 32768, 65535} <= seqs
    assert {"A", "H", "L", "K"} <= set().union(*(e.flags for e in entries))
    assert len({e.lifetime for e in entries if e.lifetime is not None}) > 20


def test_corpus_is_deterministic(entries: list[Entry]) -> None:
    """A fresh generator with the same seed gives the same packets (the PHKT ciphertext aside)."""
    again = CorpusBuilder(SEED).build()
    assert [(e.kind, e.options, e.seq, e.status, e.lifetime, e.hao, e.rh2) for e in again] == [
        (e.kind, e.options, e.seq, e.status, e.lifetime, e.hao, e.rh2) for e in entries
    ]
    with_phkt = [e.index for e in entries if any(o.otype == OPT_PHKT for o in e.options)]
    assert with_phkt  # RSAES-PKCS1-v1_5 is randomised (RFC 3447 §7.2.1): these differ by design
    assert [e.raw for e in again if e.index not in with_phkt] == [
        e.raw for e in entries if e.index not in with_phkt
    ]
    assert build_corpus() == entries  # the cache returns the same corpus


# --- our layers against the ground truth (no tshark needed) -----------------------------------


def test_ours_rebuild_byte_for_byte(entries: list[Entry]) -> None:
    def check(e: Entry) -> None:
        assert bytes(IPv6(e.raw)) == e.raw

    check_all(entries, check)


def test_ours_match_ground_truth(entries: list[Entry], ours: list[Packet]) -> None:
    def check(e: Entry) -> None:
        mh = ours[e.index]
        ctx = mh_context(mh)
        three_way("MH type", e.mhtype, int(mh.mhtype), with_tshark=False)
        three_way("Header Len", e.hlen, int(mh.len), with_tshark=False)
        three_way("options", truth_options(e), our_options(mh), with_tshark=False)
        three_way("HAO", e.hao, ctx.hao, with_tshark=False)
        three_way("RH2", e.rh2, ctx.rh_final, with_tshark=False)
        assert checksum_ok(mh), "checksum_ok() is False on a packet we built"

    check_all(entries, check)


# --- three-way comparisons with tshark --------------------------------------------------------


def test_tshark_dissects_every_packet_cleanly(entries: list[Entry], tshark: list[Node]) -> None:
    def check(e: Entry) -> None:
        frame = tshark[e.index]
        protocols = frame.get("frame").get("frame.protocols")
        assert protocols.endswith(":mipv6"), protocols
        bad = [(k, v) for k, v in frame.walk() if k in ("_ws.malformed", "_ws.short")]
        severities = [int(v) for k, v in frame.walk() if k == "_ws.expert.severity"]
        assert not bad and all(s < PI_WARN for s in severities), f"tshark: {bad} {severities}"

    check_all(entries, check)


def test_common_header(entries: list[Entry], ours: list[Packet], tshark: list[Node]) -> None:
    def check(e: Entry) -> None:
        mh, t = ours[e.index], mipv6_of(tshark[e.index])
        three_way("Payload Proto", 59, int(mh.nh), int(t.get("mip6.proto")))
        three_way("MH type", e.mhtype, int(mh.mhtype), int(t.get("mip6.mhtype")))
        three_way("Header Len", e.hlen, int(mh.len), int(t.get("mip6.hlen")))
        assert int(t.get("mip6.hlen_raw")[1]) == e.mh_offset + 1, "MH offset"

    check_all(entries, check)


def test_checksum_recomputed_independently(
    entries: list[Entry], ours: list[Packet], tshark: list[Node]
) -> None:
    """RFC 6275 §6.1.1 over the pseudo-header (HoA from the HAO, RH2 address as destination)."""

    def check(e: Entry) -> None:
        view = raw_view(e.raw)
        assert view is not None and view.mh_offset == e.mh_offset
        expected = rfc6275_checksum(view)
        three_way(
            "checksum",
            expected,
            int(ours[e.index].cksum),
            int(mipv6_of(tshark[e.index]).get("mip6.csum"), 16),
        )

    check_all(entries, check)


def _message_fields(mh: Packet) -> dict[str, Any]:
    """The per-type fields of our dissection, keyed like :func:`_tshark_fields`."""
    if isinstance(mh, BU):
        return {"seq": mh.seq, "lifetime": mh.mhtime, "flags": {f for f in "AHLK" if getattr(mh.flags, f)}}
    if isinstance(mh, BA):
        flags = {"K"} if mh.flags.K else set()
        return {"seq": mh.seq, "status": mh.status, "lifetime": mh.mhtime, "flags": flags}
    if isinstance(mh, BE):
        return {"status": mh.status, "hoa": mh.hoa}
    if isinstance(mh, (HoTI, CoTI)):
        return {"cookie": bytes(mh.cookie)}
    if isinstance(mh, (HoT, CoT)):
        return {"cookie": bytes(mh.cookie), "index": mh.index, "token": bytes(mh.token)}
    return {}


def _tshark_fields(t: Node) -> dict[str, Any]:
    def u64(key: str) -> bytes:
        return int(t.find(key), 16).to_bytes(8, "big")

    mhtype = int(t.get("mip6.mhtype"))
    if mhtype in (5, 6):
        pre = "mip6.bu." if mhtype == 5 else "mip6.ba."
        out = {"seq": int(t.find(pre + "seqnr")), "lifetime": int(t.find(pre + "lifetime"))}
        letters = "AHLK" if mhtype == 5 else "K"
        out["flags"] = {f for f in letters if t.find(f"{pre}{f.lower()}_flag") == "1"}
        if mhtype == 6:
            out["status"] = int(t.find("mip6.ba.status"))
        return out
    if mhtype == 7:
        return {"status": int(t.find("mip6.be.status")), "hoa": t.find("mip6.be.haddr")}
    if mhtype in (1, 2):
        return {"cookie": u64("mip6.hoti.cookie" if mhtype == 1 else "mip6.coti.cookie")}
    if mhtype in (3, 4):
        pre = "mip6.hot." if mhtype == 3 else "mip6.cot."
        # tshark 4.0 files the CoT keygen token under mip6.hot.token too
        return {
            "cookie": u64(pre + "cookie"),
            "index": int(t.find(pre + "nindex")),
            "token": u64("mip6.hot.token"),
        }
    return {}


def _truth_fields(e: Entry) -> dict[str, Any]:
    if e.mhtype in (5, 6):
        out: dict[str, Any] = {"seq": e.seq, "lifetime": e.lifetime, "flags": set(e.flags)}
        if e.mhtype == 6:
            out["status"] = e.status
        return out
    if e.mhtype == 7:
        return {"status": e.status, "hoa": e.extra["be_hoa"]}
    if e.mhtype in (1, 2, 3, 4):
        keys = ("cookie",) if e.mhtype in (1, 2) else ("cookie", "index", "token")
        return {k: e.extra[k] for k in keys}
    return {}


def test_message_fields(entries: list[Entry], ours: list[Packet], tshark: list[Node]) -> None:
    """Sequence numbers, status, lifetime, A/H/L/K flags, BE home address, RR cookies and tokens."""

    def check(e: Entry) -> None:
        t = mipv6_of(tshark[e.index])
        three_way("fields", _truth_fields(e), _message_fields(ours[e.index]), _tshark_fields(t))

    check_all(entries, check)


def test_option_framing(entries: list[Entry], ours: list[Packet], tshark: list[Node]) -> None:
    """Option types in wire order (padding included), length bytes, MH offsets and sizes."""

    def check(e: Entry) -> None:
        t = mipv6_of(tshark[e.index])
        three_way("options", truth_options(e), our_options(ours[e.index]), tshark_options(t))
        mh_end = 8 * (e.hlen + 1)
        assert not e.options or e.options[-1].end == mh_end, "options do not fill the MH"

    check_all(entries, check)


def test_hao_and_rh2(entries: list[Entry], ours: list[Packet], tshark: list[Node]) -> None:
    """The BU's Home Address option (Destination Options) and the BA's type 2 routing header."""

    def check(e: Entry) -> None:
        frame, ctx = tshark[e.index], mh_context(ours[e.index])
        ip = frame.get("ipv6")
        three_way("IPv6 src", e.src, ctx.ip.src, ip.get("ipv6.src"))
        three_way("IPv6 dst", e.dst, ctx.ip.dst, ip.get("ipv6.dst"))
        dstopts, routing = ip.get("ipv6.dstopts"), ip.get("ipv6.routing")
        hao = dstopts.find("ipv6.opt.mipv6.home_address") if dstopts else None
        three_way("HAO", e.hao, ctx.hao, hao)
        if e.hao is not None:
            assert dstopts.get("ipv6.dstopts.nxt") == "135" and dstopts.get("ipv6.dstopts.len") == "2"
        rh = None
        if routing is not None:
            rh = (routing.get("ipv6.routing.type"), routing.get("ipv6.routing.segleft"),
                  routing.get("ipv6.routing.mipv6.home_address"))  # fmt: skip
        under = ours[e.index].underlayer
        ours_rh = None
        if isinstance(under, IPv6ExtHdrRouting):
            ours_rh = (str(under.type), str(under.segleft), under.addresses[-1])
        three_way("RH2 (type, segleft, address)", None if e.rh2 is None else ("2", "1", e.rh2), ours_rh, rh)

    check_all(entries, check)
