"""effects: plain, comparable data; a Drop's reason starts with a stable code."""

from __future__ import annotations

from scapy_fama.proto.effects import Drop, Notify, Send, TunnelUp
from scapy_fama.proto.messages import RouterSolicitation


def test_effects_compare_by_value() -> None:
    rs = RouterSolicitation("::")
    assert Send(rs) == Send(RouterSolicitation("::"))
    assert TunnelUp("a", "b", "c") != TunnelUp("a", "b", "d")
    assert Notify("x").data == {}


def test_drop_code() -> None:
    drop = Drop(RouterSolicitation("::"), "spoofed-tunnel: 2001:db8::1 is not the CoA")
    assert drop.code == "spoofed-tunnel"
    assert Drop(RouterSolicitation("::"), "framing").code == "framing"
