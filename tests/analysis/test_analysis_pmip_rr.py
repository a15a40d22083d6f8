"""PMIPv6 with RFC 5213's numbers, and MIPv6 return routability, in captures made here.

The OAI captures (test_analysis_third_party.py) use pmip6d's numbers from before RFC 5213;
here a Proxy BU/BA exchange with RFC 5213's (P flag, MN Identifier NAI, Home Network Prefix 22,
Handoff Indicator 23, Access Technology 24, Timestamp 27) is built with the PMIPv6 option
layers, tshark reads every field back (the independent dissector), and the analysis must read
the same: the node, its prefix, its MAGs, the timestamp ordering of RFC 5213 §5.5 (a stale
timestamp is a finding, a lower sequence number with a newer timestamp is not), the sequence
order without timestamps. The return-routability BU's BAD is computed here from RFC 6275
§5.2.5-5.2.6 with hashlib and hmac alone (Kbm = SHA1(home keygen token | care-of keygen token),
BAD = First96(HMAC_SHA1(Kbm, CoA | CN | MH))): the analysis labels it "rr" and verifies it from
the HoT's and CoT's tokens, and a corrupted one fails.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from ipaddress import IPv6Address
from pathlib import Path

import pytest
from scapy.layers.inet6 import HAO, IPv6, IPv6ExtHdrDestOpt, MIP6OptMNID
from scapy.packet import Packet
from scapy.utils import wrpcap

from scapy_fama.analysis.analyze import Analysis, analyze
from scapy_fama.layers import BA, BU, CoT, CoTI, HoT, HoTI, RH2, BindingAuthData, NonceIndices
from scapy_fama.layers.pmip import AccessTechTypeOpt, HandoffIndicatorOpt, HomeNetworkPrefixOpt, TimestampOpt
from tests.corpus import TSHARK, TSHARK_MISSING, run_tshark

LMA, MAG1, MAG2 = "2001:db8:a::1", "2001:db8:a::2", "2001:db8:a::3"
T0 = 1_700_000_000.0


def _options(nai: str, stamp: float | None) -> list[Packet]:
    opts = [MIP6OptMNID(subtype=1, id=nai.encode()), HomeNetworkPrefixOpt(plen=64, prefix="2001:db8:1::"),
            HandoffIndicatorOpt(hi=1), AccessTechTypeOpt(att=4)]
    if stamp is not None:
        opts.append(TimestampOpt(seconds=int(stamp), fraction=int((stamp % 1) * 65536)))
    return opts


def pbu(mag: str, seq: int, units: int, stamp: float | None, nai: str = "mn1@example.org") -> Packet:
    return IPv6(src=mag, dst=LMA) / BU(seq=seq, flags="AHP", mhtime=units, options=_options(nai, stamp))


def pba(mag: str, seq: int, status: int, stamp: float | None, nai: str = "mn1@example.org") -> Packet:
    return IPv6(src=LMA, dst=mag) / BA(status=status, flags="P", seq=seq, mhtime=250, options=_options(nai, stamp))


def capture(path: Path, packets: list[tuple[float, Packet]]) -> Path:
    frames = []
    for when, pkt in packets:
        frame = IPv6(bytes(pkt))
        frame.time = when
        frames.append(frame)
    wrpcap(str(path), frames)
    return path


@pytest.fixture(scope="module")
def proxy_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """mn1 registers via MAG1, moves to MAG2 (a lower sequence number, a newer timestamp), MAG1
    de-registers it late, MAG2 sends a stale timestamp (157); mn2 has no timestamps and a lower
    sequence number the second time."""
    return capture(tmp_path_factory.mktemp("pmip") / "rfc5213.pcap", [
        (T0, pbu(MAG1, 10, 250, T0)), (T0 + 0.01, pba(MAG1, 10, 0, T0)),
        (T0 + 5, pbu(MAG2, 3, 250, T0 + 5)), (T0 + 5.02, pba(MAG2, 3, 0, T0 + 5)),
        (T0 + 5.1, pbu(MAG1, 11, 0, T0 + 5.1)), (T0 + 5.11, pba(MAG1, 11, 0, T0 + 5.1)),
        (T0 + 6, pbu(MAG2, 4, 250, T0 + 1)), (T0 + 6.01, pba(MAG2, 4, 157, T0 + 1)),
        (T0 + 7, pbu(MAG1, 5, 250, None, "mn2@example.org")), (T0 + 7.01, pba(MAG1, 5, 0, None, "mn2@example.org")),
        (T0 + 8, pbu(MAG1, 4, 250, None, "mn2@example.org")),
    ])  # fmt: skip


@pytest.mark.tshark
@pytest.mark.skipif(TSHARK is None, reason=TSHARK_MISSING)
def test_rfc5213_proxy_messages_read_as_tshark_reads_them(proxy_capture: Path) -> None:
    fields = ("frame.number", "ipv6.src", "ipv6.dst", "mip6.mhtype", "mip6.bu.p_flag", "mip6.ba.p_flag",
              "mip6.mnid.identifier", "mip6.nemo.mnp.pfl", "mip6.nemo.mnp.mnp", "mip6.timestamp_tmp",
              "mip6.bu.seqnr", "mip6.bu.lifetime", "mip6.ba.status")
    out = run_tshark(proxy_capture, "-T", "fields", "-E", "separator=|", *[a for f in fields for a in ("-e", f)])
    rows = [dict(zip(fields, line.split("|"))) for line in out.splitlines()]
    a = analyze([proxy_capture])
    assert a.mns == [] and a.signalling == {"PBU": 6, "PBA": 5}
    nodes = {b.mn_id: b for b in a.proxy}
    assert set(nodes) == {r["mip6.mnid.identifier"] for r in rows}
    for b in a.proxy:
        assert b.codepoints == "RFC 5213" and b.lma == LMA
        assert b.hnps == sorted({f"{r['mip6.nemo.mnp.mnp']}/{r['mip6.nemo.mnp.pfl']}" for r in rows})
    exchanges = {ex.pbu[1]: (b, ex) for b in a.proxy for ex in b.exchanges}
    for r in (r for r in rows if r["mip6.mhtype"] == "5"):
        b, ex = exchanges[int(r["frame.number"])]
        assert r["mip6.bu.p_flag"] == "1" and b.mn_id == r["mip6.mnid.identifier"]
        assert (ex.mag, ex.seq, ex.lifetime) == (r["ipv6.src"], int(r["mip6.bu.seqnr"]), 4 * int(r["mip6.bu.lifetime"]))
        if r["mip6.timestamp_tmp"]:
            shown = datetime.strptime(r["mip6.timestamp_tmp"][:-7], "%b %d, %Y %H:%M:%S.%f").replace(tzinfo=UTC)
            assert ex.timestamp is not None and abs(ex.timestamp - shown.timestamp()) < 1e-4
        else:
            assert ex.timestamp is None
    answered = sorted((ex.pba[1], ex.status) for _, ex in exchanges.values() if ex.pba)
    pbas = [r for r in rows if r["mip6.mhtype"] == "6"]
    assert all(r["mip6.ba.p_flag"] == "1" for r in pbas)
    assert answered == [(int(r["frame.number"]), int(r["mip6.ba.status"])) for r in pbas]


def kinds(a: Analysis) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for f in a.findings:
        out.setdefault(f.kind, []).extend(ref[1] for ref in f.packets)
    return out


def test_timestamps_order_proxy_bus_and_the_node_moves(proxy_capture: Path) -> None:
    a = analyze([proxy_capture])
    mn1 = next(b for b in a.proxy if b.mn_id == "mn1@example.org")
    assert [(h.previous, h.mag) for h in mn1.handovers] == [(MAG1, MAG2)]
    assert mn1.handovers[0].duration == pytest.approx(0.02)
    late = next(ex for ex in mn1.exchanges if ex.deregistration)
    assert late.ignored_for == MAG2 and (mn1.state, mn1.mag) == ("registered", MAG2)
    found = kinds(a)
    assert found["timestamp-regression"] == [7]  # older than the accepted T0 + 5.1 (§5.5: 157)
    assert found["error-status"] == [8]
    assert found["sequence-regression"] == [11]  # mn2 has no timestamps: its sequence numbers order it
    assert "timestamp-window" not in found and "pre-standard" not in found and "malformed-option" not in found


# ---------------------------------------------------------------- return routability

MN_HOA, MN_COA, CN = "2001:db8:1::100", "2001:db8:2::100", "2001:db8:ff::1"
HOME_TOKEN, CARE_OF_TOKEN = bytes.fromhex("1122334455667788"), bytes.fromhex("99aabbccddeeff00")
HNI, CNI = 7, 9


def rr_bu(corrupt: bool = False) -> Packet:
    """A correspondent registration (H=0) with its BAD computed by hand (RFC 6275 §5.2.6, §6.2.7)."""
    bu = IPv6(src=MN_COA, dst=CN) / IPv6ExtHdrDestOpt(options=[HAO(hoa=MN_HOA)]) / BU(
        seq=1, flags="A", mhtime=25, options=[NonceIndices(hni=HNI, coni=CNI), BindingAuthData()])
    raw = bytearray(bytes(bu))
    mh = raw.index(bytes(bu[BU])[:4], 40)  # where the MH starts (after the Destination Options)
    raw[mh + 4 : mh + 6] = b"\0\0"  # the checksum is 0 in the authenticated data
    kbm = hashlib.sha1(HOME_TOKEN + CARE_OF_TOKEN).digest()
    data = IPv6Address(MN_COA).packed + IPv6Address(CN).packed + bytes(raw[mh : len(raw) - 12])
    bad = hmac.new(kbm, data, hashlib.sha1).digest()[:12]
    if corrupt:
        bad = bytes([bad[0] ^ 1]) + bad[1:]
    bu[BindingAuthData].authenticator = bad
    del bu[BU].cksum
    return IPv6(bytes(bu))


def rr_capture(path: Path, corrupt: bool) -> Path:
    return capture(path, [
        (T0, IPv6(src=MN_HOA, dst=CN) / HoTI(cookie=b"homecook")),
        (T0 + 0.001, IPv6(src=MN_COA, dst=CN) / CoTI(cookie=b"carecook")),
        (T0 + 0.010, IPv6(src=CN, dst=MN_HOA) / HoT(index=HNI, cookie=b"homecook", token=HOME_TOKEN)),
        (T0 + 0.011, IPv6(src=CN, dst=MN_COA) / CoT(index=CNI, cookie=b"carecook", token=CARE_OF_TOKEN)),
        (T0 + 0.020, rr_bu(corrupt)),
        (T0 + 0.030, IPv6(src=CN, dst=MN_COA) / RH2(addresses=[MN_HOA]) / BA(status=0, seq=1, mhtime=25)),
    ])  # fmt: skip


@pytest.mark.parametrize("corrupt", [False, True])
def test_a_return_routability_bu_is_rr_and_verified_from_the_tokens(tmp_path: Path, corrupt: bool) -> None:
    a = analyze([rr_capture(tmp_path / "rr.pcap", corrupt)])
    (mn,) = a.mns
    (binding,) = mn.bindings
    (ex,) = binding.exchanges
    assert ex.auth == "rr" and not ex.secure and ex.status == 0
    assert ex.verified is (not corrupt)
    assert [c["name"] for c in ex.verdict["checks"]] == ["framing", "checksum", "bad"]  # type: ignore[index]
    failed = [f for f in a.findings if f.kind == "verification-failed"]
    assert bool(failed) is corrupt
    if corrupt:  # a forged BU does not make its CoA the MN's: the care-of test stays apart
        assert mn.addresses == [MN_HOA] and [t.home for t in mn.tests] == [True]
        return
    home, care_of = sorted(mn.tests, key=lambda t: not t.home)
    assert (home.home, home.address, home.peer, home.index, home.token) == (True, MN_HOA, CN, HNI, HOME_TOKEN)
    assert (care_of.home, care_of.address, care_of.index, care_of.token) == (False, MN_COA, CNI, CARE_OF_TOKEN)


def test_an_rr_bu_without_its_tests_is_not_checked(tmp_path: Path) -> None:
    path = capture(tmp_path / "alone.pcap", [(T0, rr_bu())])
    (ex,) = analyze([path]).mns[0].bindings[0].exchanges
    assert ex.auth == "rr" and ex.verified is None and ex.verdict is None
