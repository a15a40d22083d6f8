"""net/rtnetlink.py in a namespace of its own, read back with iproute2 (the independent view).

The kernel mode's changes (an address with its prefix length, a host route, a default route
via a router, one in table 100, a source rule, the neighbour flush) made by rtnetlink
messages must show in ``ip`` exactly as the ``ip`` commands they replace would have made
them, go again when deleted, and a refusal must be one OSError line naming the change.
LinkEvents must become readable when a link of the namespace changes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None, reason="needs root and iproute2"),
]
NS = f"fama-t-{os.getpid() % 100000}-rtnl"
DEV = "fama-x0"
CHILD = textwrap.dedent(
    """
    import select, subprocess, sys
    from scapy_fama.net.rtnetlink import LinkEvents, Rtnl
    rtnl = Rtnl()
    step = sys.argv[1]
    if step == "add":
        rtnl.address(True, "2001:db8:5::7", 64, "fama-x0")
        rtnl.address(True, "2001:db8:1::5", 128, "fama-x0")
        rtnl.route(True, "2001:db8:9::1", "fama-x0")
        rtnl.route(True, None, "fama-x0", gateway="fe80::1")
        rtnl.route(True, None, "fama-x0", table=100)
        rtnl.rule(True, "2001:db8:1::5", 100, 100)
        rtnl.address(True, "2001:db8:5::7", 64, "fama-x0")  # replace: no error the second time
    elif step == "del":
        rtnl.rule(False, "2001:db8:1::5", 100, 100)
        rtnl.route(False, None, "fama-x0", table=100)
        rtnl.route(False, None, "fama-x0", gateway="fe80::1")
        rtnl.route(False, "2001:db8:9::1", "fama-x0")
        rtnl.address(False, "2001:db8:1::5", 128, "fama-x0")
        rtnl.address(False, "2001:db8:5::7", 64, "fama-x0")
        try:
            rtnl.address(False, "2001:db8:5::7", 64, "fama-x0")
        except OSError as exc:
            print(exc)
    elif step == "flush":
        rtnl.flush_neighbours("fama-x0")
    elif step == "events":
        events = LinkEvents()
        assert events.drain() == 0
        subprocess.run(["ip", "link", "set", "fama-x0", "down"], check=True)
        ready, _, _ = select.select([events], [], [], 30)
        print("readable" if ready and events.drain() > 0 else "silent")
        events.close()
    """
)


def ip(*args: str) -> str:
    return subprocess.run(["ip", "-n", NS, *args], check=True, capture_output=True, text=True).stdout


def child(step: str) -> str:
    out = subprocess.run(["ip", "netns", "exec", NS, sys.executable, "-c", CHILD, step], capture_output=True,
                         text=True, timeout=60, check=False)  # fmt: skip
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.fixture
def namespace() -> object:
    subprocess.run(["ip", "netns", "add", NS], check=True)
    try:
        ip("link", "add", DEV, "type", "veth", "peer", "name", "fama-x1")  # no dummy module here
        ip("link", "set", "fama-x1", "up")
        ip("link", "set", DEV, "up")
        yield NS
    finally:
        subprocess.run(["ip", "netns", "del", NS], check=False)


def test_changes_by_rtnetlink_read_back_as_the_ip_commands_would_have_made_them(namespace: str) -> None:
    child("add")
    addresses = ip("-6", "addr", "show", "dev", DEV)
    assert "inet6 2001:db8:5::7/64 scope global nodad" in addresses
    assert "inet6 2001:db8:1::5/128 scope global nodad" in addresses
    routes = ip("-6", "route", "show", "dev", DEV)
    assert "2001:db8:9::1 metric 1024 pref medium" in routes
    assert "default via fe80::1 metric 1024 pref medium" in routes
    assert ip("-6", "route", "show", "table", "100").strip() == f"default dev {DEV} metric 1024 pref medium"
    assert "100:\tfrom 2001:db8:1::5 lookup 100" in ip("-6", "rule")
    assert child("del") == f"[Errno 99] del address 2001:db8:5::7/64 dev {DEV}: Cannot assign requested address"
    assert "2001:db8" not in ip("-6", "addr", "show", "dev", DEV) + ip("-6", "route", "show", "dev", DEV)
    assert ip("-6", "route", "show", "table", "100") == "" and "2001:db8:1::5" not in ip("-6", "rule")


def test_the_neighbour_flush_takes_what_was_learnt_and_leaves_the_static_entries(namespace: str) -> None:
    ip("-6", "neigh", "add", "fe80::5", "lladdr", "02:00:00:00:00:05", "dev", DEV, "nud", "reachable")
    ip("-6", "neigh", "add", "fe80::6", "lladdr", "02:00:00:00:00:06", "dev", DEV, "nud", "stale")
    ip("-6", "neigh", "add", "fe80::7", "lladdr", "02:00:00:00:00:07", "dev", DEV, "nud", "permanent")
    child("flush")
    left = ip("-6", "neigh", "show", "dev", DEV)
    assert "fe80::5 " not in left and "fe80::6 " not in left and "fe80::7 lladdr 02:00:00:00:00:07 PERMANENT" in left


def test_link_events_wake_a_reader_when_a_link_changes(namespace: str) -> None:
    assert child("events") == "readable"
