"""MnCore: attachment and CGAs (profile §2), keep policies (§3), BUs (§4), secure mode (§5),
the BUL with back-off, rate limit, refresh and BA handling (§7), and data (§8).

The MN talks to real DarCores on a SimNet (simworld.py); BAs that a DAR would never send
(forged, garbled, out of order) are built by hand and handed to the MN as SimNet's object
carrier delivers them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from simworld import World
from topology import CN, DAR1, DAR2, DAR3, P1, P2, P3, seeded

from scapy_fama.crypto import (
    ZERO_TOKEN,
    KeyPair,
    cga_generate,
    cga_verify,
    encrypt_phkt,
    kbm,
)
from scapy_fama.net.sim_carry import received as carry
from scapy_fama.proto import DarConfig, KeepPolicy, MnConfig, MnCore
from scapy_fama.proto.bul import BulState
from scapy_fama.proto.effects import Deliver, Drop, Notify, Send, TunnelDown, TunnelUp
from scapy_fama.proto.messages import (
    BindingAck,
    BindingError,
    BindingUpdate,
    CareOfTest,
    CareOfTestInit,
    Datagram,
    RouterAdvertisement,
    RouterSolicitation,
    Tunnelled,
    Undecodable,
)

PHKT = bytes.fromhex("0102030405060708")


def ra(dar: str = DAR1, prefix: str = P1, valid: int = 2_592_000) -> RouterAdvertisement:
    return RouterAdvertisement("fe80::1", "ff02::1", dar, prefix, valid, valid)


def mn_world(key: KeyPair, dar_config: DarConfig = DarConfig(), **mn_config: Any) -> World:
    """Three DARs and one MN (Sec 0, keep all, no DAD wait unless a test says otherwise)."""
    return World(key, dar_config, **{"sec": 0, "keep": KeepPolicy.ALL, "dad_delay": 0.0, **mn_config})


@pytest.fixture
def world(mn_key: KeyPair) -> World:
    return mn_world(mn_key)


def lose_bus(world: World) -> None:
    world.lose(BindingUpdate)


def answer(bu: BindingUpdate, status: int, **fields: Any) -> BindingAck:
    """A BA as a DAR would address it to ``bu``."""
    fields = {"seq": bu.seq, "lifetime": 0 if status >= 128 else bu.lifetime, **fields}
    return BindingAck(
        bu.dst, bu.src, bu.hoa, status, for_deregistration=bu.deregistration, **fields
    )


# ---------------------------------------------------------------- attachment (profile §2)


def test_link_up_solicits_until_an_ra_comes(mn_key: KeyPair) -> None:
    mn = MnCore(mn_key, config=MnConfig(sec=0), rand=seeded())
    assert mn.on_link_up(0.0) == [Send(RouterSolicitation("::"))]
    assert mn.next_deadline() == 4.0
    assert mn.on_timer(4.0) == [Send(RouterSolicitation("::"))]
    assert mn.on_timer(8.0) == [Send(RouterSolicitation("::"))]
    assert mn.next_deadline() is None  # MAX_RTR_SOLICITATIONS
    mn.on_link_up(10.0)
    mn.on_message(ra(), 10.5)
    assert mn.next_deadline() == 11.5  # DAD, not another RS


def test_the_rs_waits_the_rfcs_random_delay_only_when_asked(mn_key: KeyPair) -> None:
    """Profile §2 step 1: at once on link-up; rs_delay brings RFC 4861 §6.3.7's wait back."""
    mn = MnCore(mn_key, config=MnConfig(sec=0, rs_delay=1.0), rand=seeded())
    assert mn.on_link_up(0.0) == []
    first = mn.next_deadline()
    assert first is not None and 0.0 < first < 1.0
    assert mn.on_timer(first) == [Send(RouterSolicitation("::"))]
    assert mn.next_deadline() == first + 4.0


def test_a_tentative_address_is_a_cga_of_the_prefix_unusable_until_dad_ends(
    mn_key: KeyPair,
) -> None:
    """optimistic=False: RFC 4862 §5.4, the address waits DAD out."""
    mn = MnCore(mn_key, config=MnConfig(sec=0, dad_delay=1.0, optimistic=False), rand=seeded())
    effects = mn.on_message(ra(), 0.0)
    address = mn.current_address
    assert effects == [Notify("address-tentative", {"address": address, "dar": DAR1})]
    record = mn.record(address)
    assert address.startswith("2001:db8:1:") and cga_verify(address, record.cga.params)
    assert (record.prefix, record.dar) == (P1, DAR1)
    assert not record.usable and not record.in_optimistic_state
    assert [d.code for d in mn.send(address, CN, 1, 2, b"x", 0.5)] == ["no-address"]
    assert mn.on_timer(1.0) == [Notify("address-configured", {"address": address, "dar": DAR1})]
    assert mn.send(address, CN, 1, 2, b"x", 1.5) == [Send(Datagram(address, CN, 1, 2, b"x"))]


def test_an_optimistic_address_is_usable_at_once_while_dad_runs(mn_key: KeyPair) -> None:
    """Profile §2 step 3, RFC 4429: the default."""
    mn = MnCore(mn_key, config=MnConfig(sec=0, dad_delay=1.0), rand=seeded())
    effects = mn.on_message(ra(), 0.0)
    address = mn.current_address
    about = {"address": address, "dar": DAR1}
    assert effects == [Notify("address-optimistic", about), Notify("address-configured", about)]
    record = mn.record(address)
    assert record.usable and record.in_optimistic_state  # RFC 4429 §3.3 rules for the driver
    assert mn.send(address, CN, 1, 2, b"x", 0.1) == [Send(Datagram(address, CN, 1, 2, b"x"))]
    assert mn.on_message(Datagram(CN, address, 2, 1, b"y"), 0.2) == [
        Deliver(Datagram(CN, address, 2, 1, b"y"))
    ]
    assert mn.next_deadline() == 1.0
    assert mn.on_timer(1.0) == [Notify("address-preferred", about)]
    assert record.usable and not record.in_optimistic_state and mn.next_deadline() is None


def test_later_prefixes_reuse_the_modifier_unless_told_otherwise(mn_key: KeyPair) -> None:
    for fresh in (False, True):
        world = mn_world(mn_key, fresh_modifier=fresh)
        first, second = world.visit(0), world.visit(1)
        same = world.mn.record(first).cga.modifier == world.mn.record(second).cga.modifier
        assert same is not fresh


@pytest.mark.parametrize("optimistic", [True, False])
def test_dad_collisions_bump_the_count_up_to_2(mn_key: KeyPair, optimistic: bool) -> None:
    config = MnConfig(sec=0, dad_delay=1.0, optimistic=optimistic)
    mn = MnCore(mn_key, config=config, rand=seeded())
    mn.on_message(ra(), 0.0)
    counts, addresses = [], []
    for t in (0.5, 1.0):
        counts.append(mn.record(mn.current_address).cga.collision_count)
        addresses.append(mn.current_address)
        events = [e.event for e in mn.on_dad_collision(mn.current_address, t)]
        assert events[0] == "address-duplicate" and mn.current_address not in addresses
        assert mn.record(mn.current_address).dad_until == t + 1.0  # DAD again
    assert counts == [0, 1] and mn.record(mn.current_address).cga.collision_count == 2
    *_, failed = mn.on_dad_collision(mn.current_address, 1.5)
    assert failed.event == "dad-failed" and mn.current_address is None and mn.addresses() == []


def test_a_collision_after_dad_is_ignored(mn_key: KeyPair) -> None:
    mn = MnCore(mn_key, config=MnConfig(sec=0, dad_delay=0.0), rand=seeded())
    mn.on_message(ra(), 0.0)
    address = mn.current_address
    assert [e.event for e in mn.on_dad_collision(address, 1.0)] == ["dad-collision-ignored"]
    assert mn.current_address == address


def test_same_seed_same_effects(mn_key: KeyPair) -> None:
    runs = []
    for _ in range(2):
        world = mn_world(mn_key)
        world.visit(0)
        world.visit(1)
        runs.append([(e.at, e.node, e.effect) for e in world.log() if e.node == "mn"])
    assert runs[0] == runs[1]


# ---------------------------------------------------------------- BUs (profile §4)


def test_the_first_bu_is_cga_signed_and_later_ones_carry_the_phkt(
    world: World, mn_key: KeyPair
) -> None:
    hoa = world.visit(0)
    coa = world.visit(1)
    ((_, first),) = world.bus()
    assert (first.src, first.dst, first.hoa, first.ack, first.home) == (coa, DAR1, hoa, True, True)
    assert first.cga_params == world.mn.record(hoa).cga.params and first.sign_with is mn_key
    assert (first.nonce_indices, first.auth_key, first.cga_request) == (None, None, False)
    assert first.lifetime == 86_400
    entry = world.mn.record(hoa).bul
    assert entry.state is BulState.BOUND and entry.phkt == world.dars[0].record(hoa).phkt
    assert "phkt-stored" in world.events() and TunnelUp(coa, DAR1, hoa) in world.effects()
    world.visit(2)
    second = world.bus(hoa)[-1][1]
    assert second.src == world.mn.current_address and second.seq == first.seq + 1
    assert second.cga_params is None and second.sign_with is None and second.nonce_indices == (0, 0)
    assert second.auth_key == kbm(entry.phkt)


def test_the_requested_lifetime_respects_the_ra(mn_key: KeyPair) -> None:
    world = mn_world(mn_key, dar_config=DarConfig(valid_lifetime=1001))
    world.visit(0)
    world.visit(1)
    assert world.bus()[0][1].lifetime == 1000  # the PIO valid lifetime, in 4 s units


def test_the_phkt_is_renewed_before_the_sequence_space_wraps_under_it(world: World) -> None:
    hoa = world.visit(0)
    world.visit(1)
    entry = world.mn.record(hoa).bul
    entry.phkt_seq = (entry.seq - 32767) % 65536
    world.visit(2)
    assert world.bus()[-1][1].sign_with is not None  # distance 32768: CGA-signed again
    assert "phkt-stored" in world.events()[-3:]


# ---------------------------------------------------------------- optimistic DAD (profile §2 step 3)


@pytest.mark.parametrize("optimistic", [True, False])
def test_after_a_move_the_bus_leave_as_soon_as_the_coa_is_usable(
    mn_key: KeyPair, optimistic: bool
) -> None:
    world = mn_world(mn_key, dad_delay=1.0, optimistic=optimistic)
    first, second = world.visit(0), world.visit(1)
    ra_at = max(e.at for e in world.log() if e.node == "mn" and isinstance(e.effect, Notify)
                and e.effect.event in ("address-optimistic", "address-tentative")
                and e.effect.data["address"] == second)  # fmt: skip
    ((bu_at, bu),) = world.bus(first)
    assert bu.src == second
    assert bu_at == (ra_at if optimistic else ra_at + 1.0)
    assert world.dars[0].binding(first).coa == second


def test_a_dad_collision_on_an_optimistic_coa_re_registers_every_binding_from_it(
    mn_key: KeyPair,
) -> None:
    world = mn_world(mn_key, dad_delay=1.0)
    first, second = world.visit(0), world.visit(1)
    world.attach(2)
    world.run(0.1)  # both BUs answered while DAD still runs on the CoA
    coa = world.mn.current_address
    assert {world.dars[i].binding(a).coa for i, a in ((0, first), (1, second))} == {coa}
    since = len(world.bus())
    effects = world.call(lambda: world.mn.on_dad_collision(coa, world.now))
    new = world.mn.current_address
    assert new != coa and world.mn.record(new).cga.collision_count == 1
    assert coa not in world.mn.addresses()
    events = [e.event for e in effects if isinstance(e, Notify)]
    assert events[:3] == ["address-duplicate", "address-optimistic", "address-configured"]
    downs = [e for e in effects if isinstance(e, TunnelDown)]
    assert sorted(downs, key=str) == [TunnelDown(coa, DAR1, first), TunnelDown(coa, DAR2, second)]
    assert {(bu.hoa, bu.src) for _, bu in world.bus()[since:]} == {(first, new), (second, new)}
    world.run(0.1)
    assert world.dars[0].binding(first).coa == new and world.dars[1].binding(second).coa == new
    ups = world.effects(TunnelUp)
    assert TunnelUp(new, DAR1, first) in ups and TunnelUp(new, DAR2, second) in ups
    assert world.mn.send(first, CN, 1, 2, b"x", world.now) == [
        Send(Tunnelled(new, DAR1, Datagram(first, CN, 1, 2, b"x")))
    ]


def test_when_dad_fails_for_good_the_bindings_from_the_coa_wait_for_the_next_link(
    mn_key: KeyPair,
) -> None:
    world = mn_world(mn_key, dad_delay=1.0)
    first = world.visit(0)
    world.attach(1)
    world.run(0.1)
    for _ in range(3):  # collision counts 0, 1, 2: then the prefix gives no address
        world.call(lambda: world.mn.on_dad_collision(world.mn.current_address, world.now))
    assert "dad-failed" in world.events() and world.mn.current_address is None
    entry = world.mn.record(first).bul
    assert entry.state is BulState.IDLE and entry.tunnel is None and world.mn.next_deadline() is None
    coa = world.visit(2)
    assert world.dars[0].binding(first).coa == coa


# ---------------------------------------------------------------- retransmission (profile §7)


def test_back_off_1_5_3_6_12_24_32_with_new_seqs_then_the_address_is_lost(world: World) -> None:
    hoa = world.visit(0)
    lose_bus(world)
    world.visit(1, settle=100.0)
    bus = world.bus()
    start = bus[0][0]
    assert [round(t - start, 3) for t, _ in bus] == [0, 1.5, 4.5, 10.5, 22.5, 46.5]
    seqs = [bu.seq for _, bu in bus]
    assert seqs == [(seqs[0] + i) % 65536 for i in range(6)]
    lost = [
        e
        for e in world.log()
        if isinstance(e.effect, Notify) and e.effect.event == "address-lost"
    ]
    assert len(lost) == 1 and round(lost[0].at - start, 3) == 78.5
    assert lost[0].effect.data["address"] == hoa and hoa not in world.mn.addresses()


def test_a_refresh_starts_at_1_s_and_comes_at_80_percent(mn_key: KeyPair) -> None:
    world = mn_world(mn_key, binding_lifetime=200)
    hoa = world.visit(0)
    coa = world.visit(1)
    ((sent_at, _),) = world.bus()
    phkt = world.mn.record(hoa).bul.phkt
    lose_bus(world)
    world.run(300.0)
    times = [round(t - sent_at, 3) for t, _ in world.bus()[1:]]
    assert times == [160.0, 161.0, 163.0, 167.0, 175.0, 191.0]  # 80 % of 200 s, then 1 s, 2 s ...
    refresh = world.bus()[1][1]
    assert refresh.sign_with is None and refresh.auth_key == kbm(phkt)

    def when(event: str) -> list[float]:
        notes = [e for e in world.log() if e.node == "mn" and isinstance(e.effect, Notify)]
        return [round(e.at - sent_at, 3) for e in notes if e.effect.event == event]

    assert when("binding-expired") == [200.0]  # the lifetime counts from the BU
    assert when("address-lost") == [223.0]  # 191 + 32
    assert TunnelDown(coa, DAR1, hoa) in world.effects()


def test_a_binding_refresh_advice_brings_the_refresh_forward(world: World, mn_key: KeyPair) -> None:
    world.visit(0)
    lose_bus(world)
    world.visit(1)
    bu = world.bus()[-1][1]
    issued = encrypt_phkt(mn_key.public_der, PHKT)
    world.feed(answer(bu, 0, phkt_ciphertext=issued, auth_key=kbm(PHKT), refresh_interval=100))
    assert world.mn.record(bu.hoa).bul.timer == pytest.approx(world.bus()[-1][0] + 100)


def test_at_most_three_bus_a_second_to_one_dar(pending: tuple[World, BindingUpdate]) -> None:
    world, bu = pending
    for _ in range(3):  # each 135 asks for an immediate resend
        world.feed(answer(world.bus()[-1][1], 135))
    times = [t for t, _ in world.bus()]
    assert len(times) == 3 and times[2] - times[0] < 1.0
    held = world.mn.record(bu.hoa).bul.timer
    assert held == pytest.approx(times[0] + 1.0)  # the fourth waits for the window
    world.run(1.0)
    assert len(world.bus()) == 4 and world.bus()[3][0] == pytest.approx(held)


# ---------------------------------------------------------------- BA handling (profile §7)


@pytest.fixture
def pending(world: World) -> tuple[World, BindingUpdate]:
    """The MN moved to DAR2; its first BU to DAR1 is outstanding (lost in flight)."""
    world.visit(0)
    lose_bus(world)
    world.visit(1, settle=0.5)
    return world, world.bus()[-1][1]


def test_only_a_ba_for_an_outstanding_seq_counts(pending: tuple[World, BindingUpdate]) -> None:
    world, bu = pending
    assert [d.code for d in world.feed(answer(bu, 0, seq=bu.seq + 1))] == ["no-outstanding-bu"]
    assert [d.code for d in world.feed(replace(answer(bu, 0), src=DAR2))] == ["unknown-binding"]
    assert [d.code for d in world.feed(replace(answer(bu, 0), dst=DAR3))] == ["no-outstanding-bu"]
    stranger = replace(answer(bu, 0), hoa="2001:db8:1::dead")
    assert [d.code for d in world.feed(stranger)] == ["unknown-binding"]
    misplaced = replace(carry(answer(bu, 0)), framing=("BAD not last",))
    assert [d.code for d in world.mn.on_message(misplaced, world.now)] == ["framing"]


def test_a_phkt_ba_must_carry_a_valid_bad(
    pending: tuple[World, BindingUpdate], mn_key: KeyPair
) -> None:
    world, bu = pending
    ciphertext = encrypt_phkt(mn_key.public_der, PHKT)
    assert [d.code for d in world.feed(answer(bu, 0, phkt_ciphertext=ciphertext))] == [
        "bad-missing"
    ]
    wrong = answer(bu, 0, phkt_ciphertext=ciphertext, auth_key=kbm(bytes(8)))
    assert [d.code for d in world.feed(wrong)] == ["bad-authenticator"]
    garbage = answer(bu, 0, phkt_ciphertext=bytes(128), auth_key=kbm(PHKT))
    assert [d.code for d in world.feed(garbage)] == ["phkt"]
    assert world.mn.record(bu.hoa).bul.phkt is None
    good = answer(bu, 0, phkt_ciphertext=ciphertext, auth_key=kbm(PHKT))
    assert "binding-registered" in [e.event for e in world.feed(good) if isinstance(e, Notify)]
    assert world.mn.record(bu.hoa).bul.phkt == PHKT


def test_a_phkt_no_dar_sends_costs_no_rsa(
    world: World, mn_key: KeyPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Profile §6 cost before trust: a DAR issues a PHKT only accepting a CGA-signed BU (§4), so
    a BA bringing one to a PHKT-authorised BU, or refusing, is dropped before the RSA
    decryption (78 us each for RSA-1024: at line rate, what an on-link attacker who reads the
    BU's seq could make the MN spend)."""
    hoa = world.visit(0)
    world.visit(1)
    lose_bus(world)
    world.feed(BindingError(DAR1, world.mn.current_address, 1, hoa))  # re-registration, PHKT
    bu = world.bus(hoa)[-1][1]
    assert bu.cga_params is None and bu.nonce_indices is not None
    decrypted: list[bytes] = []
    monkeypatch.setattr("scapy_fama.proto.mn.decrypt_phkt", lambda key, c: decrypted.append(c))
    before = bul_view(world, hoa)
    ciphertext = encrypt_phkt(mn_key.public_der, PHKT)
    forged = [
        answer(bu, 0, phkt_ciphertext=ciphertext, auth_key=kbm(PHKT)),
        answer(bu, 148, phkt_ciphertext=ciphertext, auth_key=kbm(PHKT)),
    ]
    assert [[d.code for d in world.feed(ba)] for ba in forged] == [["phkt-unasked"]] * 2
    assert decrypted == [] and bul_view(world, hoa) == before


def test_135_resyncs_and_resends(pending: tuple[World, BindingUpdate]) -> None:
    world, bu = pending
    world.feed(answer(bu, 135, seq=40_000))
    assert world.bus()[-1][1].seq == 40_001


def test_147_resends_with_cga_and_148_ends_without_a_retry_loop(world: World) -> None:
    hoa = world.visit(0)
    world.visit(1)
    lose_bus(world)
    world.visit(2, settle=0.5)
    bu = world.bus(hoa)[-1][1]
    assert bu.sign_with is None
    world.feed(answer(bu, 147))  # the DAR lost its PHKT: it cannot authenticate this one
    again = world.bus(hoa)[-1][1]
    assert again.sign_with is not None and again.seq == bu.seq + 1
    assert world.mn.record(hoa).bul.phkt is None
    effects = world.feed(answer(again, 148))
    assert [e.event for e in effects if isinstance(e, Notify)] == ["bu-refused", "address-lost"]
    world.run(100.0)
    assert world.bus(hoa)[-1][1] is again and hoa not in world.mn.addresses()


def test_a_verified_refusal_shows_the_phkt_is_the_dars_so_the_count_starts_again(
    world: World,
) -> None:
    """Doubted PHKTs (proto.bul): a 135 whose BAD verifies with the PHKT answers BU 1, so BU 2
    (sent at once) is the first unanswered one; BU 3 follows 1 s later and only after its 2 s
    timeout is BU 4 CGA-signed (RFC 4866 §4.4), not after BU 2's."""
    hoa = world.visit(0)
    world.visit(1)
    phkt = world.mn.record(hoa).bul.phkt
    assert phkt is not None
    lose_bus(world)
    world.visit(2, settle=0.5)
    bu = world.bus(hoa)[-1][1]
    world.feed(answer(bu, 135, seq=bu.seq, auth_key=kbm(phkt)))
    world.run(3.5)
    sent = world.bus(hoa)[-4:]
    assert [s.sign_with is not None for _, s in sent] == [False, False, False, True]
    assert [s.seq - bu.seq for _, s in sent] == [0, 1, 2, 3]
    assert [round(b - a, 3) for (a, _), (b, _) in zip(sent[1:], sent[2:])] == [1.0, 2.0]
    assert world.events().count("phkt-doubted") == 1


def test_a_forged_refusal_is_ignored_once_a_phkt_exists(world: World) -> None:
    hoa = world.visit(0)
    world.visit(1)
    lose_bus(world)
    world.visit(2, settle=0.5)
    bu = world.bus(hoa)[-1][1]
    assert [d.code for d in world.feed(answer(bu, 148))] == ["bad-missing"]
    assert [d.code for d in world.feed(answer(bu, 135, seq=1, auth_key=kbm(bytes(8))))] == [
        "bad-authenticator"
    ]
    assert [
        d.code for d in world.feed(answer(bu, 147, auth_key=kbm(PHKT), phkt_ciphertext=b"x"))
    ] == ["phkt-unasked"]


def test_130_waits_for_the_retransmission_timer(pending: tuple[World, BindingUpdate]) -> None:
    world, bu = pending
    effects = world.feed(answer(bu, 130))
    assert [e.event for e in effects if isinstance(e, Notify)] == ["bu-refused"] and len(
        world.bus()
    ) == 1
    world.run(0.7)  # the retry waits 0.5-1.5x the 1.5 s wait (jitter after a 130)
    assert len(world.bus()) == 1
    world.run(1.6)
    assert len(world.bus()) == 2


def bul_view(world: World, hoa: str) -> tuple[object, ...]:
    """What a forged message must not change in the BUL entry of ``hoa``."""
    e = world.mn.record(hoa).bul
    return (e.state, e.seq, e.phkt, e.coa, e.timer, e.due, e.tunnel, e.bound_until, set(e.sent))


def test_forged_and_replayed_bas_change_nothing(
    pending: tuple[World, BindingUpdate], mn_key: KeyPair
) -> None:
    """Issue 14 item 18, profile §7: no PHKT yet (the first, CGA-signed BU is outstanding)."""
    world, bu = pending
    before = bul_view(world, bu.hoa)
    forged = [
        answer(bu, 0),  # accepts a CGA BU without issuing a PHKT: no DAR does that
        answer(bu, 0, seq=bu.seq - 1),  # not a BU of this exchange
        replace(answer(bu, 0), hoa="2001:db8:1::dead"),  # another HoA
        answer(bu, 0, phkt_ciphertext=bytes(128), auth_key=kbm(PHKT)),  # not for the MN's key
        answer(bu, 0, phkt_ciphertext=encrypt_phkt(mn_key.public_der, PHKT)),  # no BAD
    ]
    codes = [[d.code for d in world.feed(ba)] for ba in forged]
    assert codes == [
        ["phkt-missing"], ["no-outstanding-bu"], ["unknown-binding"], ["phkt"], ["bad-missing"]
    ]
    assert bul_view(world, bu.hoa) == before


def test_once_bound_replays_and_forgeries_change_nothing(world: World, mn_key: KeyPair) -> None:
    hoa = world.visit(0)
    world.visit(1)
    (accepted,) = [e.effect.msg for e in world.log()
                   if isinstance(e.effect, Send) and isinstance(e.effect.msg, BindingAck)]  # fmt: skip
    before = bul_view(world, hoa)
    assert [d.code for d in world.feed(accepted)] == ["no-outstanding-bu"]  # a replay
    phkt = world.mn.record(hoa).bul.phkt
    stale = replace(accepted, seq=(accepted.seq + 1) % 65536, status=148, auth_key=kbm(phkt))
    assert [d.code for d in world.feed(stale)] == ["no-outstanding-bu"]  # no BU outstanding
    assert bul_view(world, hoa) == before


def test_an_ra_flood_of_new_prefixes_costs_one_address_per_link(
    mn_key: KeyPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14 item 18: the MN takes the first RA after a link-up; every RA of another prefix on
    that link is dropped before any CGA or DAD work (one comparison each)."""
    mn = MnCore(mn_key, config=MnConfig(sec=0, fresh_modifier=True), rand=seeded())
    made = []
    real = mn._cgas.for_prefix
    monkeypatch.setattr(mn._cgas, "for_prefix", lambda prefix: made.append(prefix) or real(prefix))
    mn.on_link_up(0.0)
    effects = [mn.on_message(ra(f"2001:db8:{i:x}::1", f"2001:db8:{i:x}::/64"), 0.01) for i in range(1, 101)]
    assert made == ["2001:db8:1::/64"] and len(mn.addresses()) == 1
    assert all([d.code for d in e] == ["ra-other-prefix"] for e in effects[1:])
    mn.on_link_up(1.0)  # a new link: the next prefix is taken, one more address
    mn.on_message(ra(DAR2, P2), 1.01)
    assert made == ["2001:db8:1::/64", P2]


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"prefix": "2001:db8:1::/48"}, "is not a /64"),  # RFC 4862 §5.5.3: 48 + 64 != 128
        ({"prefix": "fe80::/64"}, "is not a global unicast prefix"),  # §5.5.3 b
        ({"prefix": "ff02::/64"}, "is not a global unicast prefix"),  # RFC 4291 §2.4
        ({"src": "2001:db8:1::99"}, "is not link-local"),  # RFC 4861 §6.1.2
        ({"valid_lifetime": 0, "preferred_lifetime": 0}, "valid lifetime 0 for a new prefix"),  # d
        ({"preferred_lifetime": 2_592_001}, "preferred lifetime 2592001 above valid"),  # §5.5.3 c
    ],
)
def test_an_ra_no_host_may_configure_from_is_ignored_and_the_next_good_one_taken(
    mn_key: KeyPair, fields: dict[str, object], why: str
) -> None:
    """One rogue RA first after link-up: no address (a /48 made the core raise, and every RA
    after it was dropped as another prefix until the next link-up), the RSs go on, the DAR's RA
    is taken."""
    mn = MnCore(mn_key, config=MnConfig(sec=0), rand=seeded())
    mn.on_link_up(0.0)
    (dropped,) = mn.on_message(replace(ra(), **fields), 0.01)
    assert isinstance(dropped, Drop) and dropped.code == "ra-ignored" and why in dropped.reason
    assert mn.addresses() == [] and mn.next_deadline() == 4.0  # the next RS
    mn.on_message(ra(), 0.02)
    assert mn.current_address is not None and mn.current_address.startswith("2001:db8:1:")


def test_a_dar_advertising_router_lifetime_0_is_not_attached_to_and_the_rss_go_on(mn_key: KeyPair) -> None:
    """RFC 4861 §6.3.4: Router Lifetime 0, not a default router; §6.3.7: only an RA with a
    non-zero Router Lifetime ends the RSs. DAR 1 advertises 0 (DarConfig.router_lifetime): the
    MN takes no address from it and solicits all MAX_RTR_SOLICITATIONS (3) times; DAR 2, a
    default router, is attached to as ever."""
    world = World(mn_key, dars=[{"config": DarConfig(router_lifetime=0)}, {}, {}], sec=0, dad_delay=0.0)
    world.attach(0)
    world.run(10.0)
    assert world.mn.current_address is None and world.mn.addresses() == []
    assert len(world.sent(RouterSolicitation)) == 3
    assert "ra-not-a-router" in world.drops() and "address-configured" not in world.events()
    assert world.visit(1).startswith("2001:db8:2:")


def test_the_dar_attached_to_advertising_router_lifetime_0_ends_the_attachment(world: World) -> None:
    """RFC 4861 §6.3.4: the DAR attached to times out as a default router, so it is no longer the
    MN's way out: the CoA's tunnels go down and no new flow leaves from it; the address is kept
    (keep all), its PIO taken. The next RA with a non-zero Router Lifetime attaches the MN again
    and the kept binding is registered from the CoA once more."""
    hoa = world.visit(0)
    coa = world.visit(1)
    effects = world.feed(replace(ra(DAR2, P2), router_lifetime=0))
    assert Notify("router-lost", {"address": coa, "dar": DAR2, "router": "fe80::1"}) in effects
    assert TunnelDown(coa, DAR1, hoa) in effects
    assert world.mn.current_address is None and set(world.mn.addresses()) == {hoa, coa}
    assert [d.code for d in world.mn.send(coa, CN, 1, 2, b"x", world.now)] == ["no-address"]
    lost_at = world.now
    world.feed(ra(DAR2, P2))
    world.run(2.0)
    assert world.mn.current_address == coa
    assert [bu.src for t, bu in world.bus(hoa) if t >= lost_at] == [coa]
    assert world.dars[0].binding(hoa).coa == coa


def test_an_ra_cannot_bring_a_held_address_below_two_hours(world: World) -> None:
    """RFC 4862 §5.5.3 e: a forged RA with valid lifetime 0 for the HoA's prefix leaves it two
    hours. It set the lifetime to 0, so the BU after the move asked for lifetime 0, a
    de-registration (RFC 6275 §6.1.7) the MN keyed as a registration: every BA failed its BAD
    and the HoA was lost after the back-off."""
    hoa = world.visit(0)
    rogue = RouterAdvertisement("fe80::bad", "ff02::1", DAR1, P1, 0, 0)
    assert world.feed(rogue) == []
    coa = world.visit(1)
    assert [bu.lifetime for _, bu in world.bus(hoa)] == [7200]  # 4 s units: 7200 is 1800 of them
    assert world.mn.record(hoa).bul.state is BulState.BOUND
    assert world.dars[0].binding(hoa).coa == coa
    world.feed(RouterAdvertisement("fe80::bad", "ff02::1", DAR2, P2, 10_000, 0))
    assert world.mn.record(coa).valid_lifetime == 10_000  # §5.5.3 e: a longer one is taken


def test_binding_errors_never_drop_a_binding(world: World) -> None:
    """RFC 6275 §11.3.6: status 1 from the binding's DAR asks for a new registration (one, however
    many come), status 2 only says a message type is unknown; nothing removes the binding."""
    hoa = world.visit(0)
    coa = world.visit(1)
    count = len(world.bus())
    assert [d.code for d in world.feed(BindingError(DAR2, coa, 1, hoa))] == ["unknown-binding"]
    world.feed(BindingError(DAR1, coa, 2, hoa))
    assert len(world.bus()) == count and world.mn.record(hoa).bul.state is BulState.BOUND
    for _ in range(100):  # a flood of status 1 from DAR1's address (forgeable off-path)
        world.feed(BindingError(DAR1, coa, 1, hoa))
    assert len(world.bus()) == count + 1  # one re-registration, the rest find it under way
    world.run(1.0)
    entry = world.mn.record(hoa).bul
    assert entry.state is BulState.BOUND and entry.tunnel == coa
    assert world.dars[0].binding(hoa).coa == coa
    undecodable = Undecodable(DAR1, coa, "ICMPv6 Parameter Problem")  # what an ICMP error is
    assert [d.code for d in world.feed(undecodable)] == ["undecodable"]
    assert hoa in world.mn.addresses() and world.mn.record(hoa).bul.state is BulState.BOUND


# ---------------------------------------------------------------- secure mode (profile §5)


def test_a_137_teaches_the_mn_to_test_the_coa_first(mn_key: KeyPair) -> None:
    world = mn_world(mn_key, dar_config=DarConfig(require_coa_test=True))
    hoa = world.visit(0)
    coa = world.visit(1)
    sent = [type(m).__name__ for m in world.sent() if not isinstance(m, RouterSolicitation)]
    assert sent == ["BindingUpdate", "CareOfTestInit", "BindingUpdate"]
    assert (
        "coa-test-required" in world.events() and world.mn.record(hoa).bul.state is BulState.BOUND
    )
    complete = world.bus(hoa)[-1][1]
    token = world.mn.record(hoa).bul.care_of
    assert complete.nonce_indices == (0, token.index) and token.coa == coa
    assert complete.auth_key == kbm(ZERO_TOKEN, token.token) and complete.sign_with is not None
    since = len(world.sent())
    world.visit(2)  # DAR1 is now known to want a CoA test: the CoTI goes first
    to_dar1 = [m for m in world.sent()[since:] if m.dst == DAR1]
    assert [type(m).__name__ for m in to_dar1] == ["CareOfTestInit", "BindingUpdate"]
    assert to_dar1[1].sign_with is None and world.mn.record(hoa).bul.state is BulState.BOUND


def test_coa_test_always_by_configuration(mn_key: KeyPair) -> None:
    world = mn_world(mn_key, coa_test=True)
    hoa = world.visit(0)
    world.visit(1)
    sent = [m for m in world.sent() if isinstance(m, (CareOfTestInit, BindingUpdate))]
    assert [type(m).__name__ for m in sent] == ["CareOfTestInit", "BindingUpdate"]
    assert world.mn.record(hoa).bul.state is BulState.BOUND
    since = len(world.sent())
    world.lose(lambda msg: isinstance(msg, CareOfTestInit))
    world.visit(2, settle=3.5)
    cotis = [m for m in world.sent()[since:] if m.dst == DAR1]
    assert all(isinstance(m, CareOfTestInit) for m in cotis) and len(cotis) == 3  # at +0, +1, +3 s
    assert len({c.cookie for c in [*cotis, sent[0]]}) == 4  # a fresh cookie every time


# ---------------------------------------------------------------- keep policies (profile §3)


def test_flows_keep_an_address_and_the_last_flow_releases_it(mn_key: KeyPair) -> None:
    world = mn_world(mn_key, keep=KeepPolicy.FLOWS)
    hoa = world.visit(0)
    idle = world.visit(1)
    assert world.bus() == [] and idle in world.mn.addresses() and hoa not in world.mn.addresses()
    world.mn.open_flow(idle)
    coa = world.visit(2)
    assert [bu.hoa for _, bu in world.bus()] == [idle] and world.mn.record(
        idle
    ).bul.state is BulState.BOUND
    world.call(lambda: world.mn.close_flow(idle, world.now))
    world.run(1.0)
    dereg = world.bus()[-1][1]
    assert (dereg.src, dereg.hoa, dereg.lifetime) == (coa, idle, 0)
    assert dereg.auth_key == kbm(world.dars[1].record(idle).phkt, deregistration=True)
    assert idle not in world.mn.addresses() and world.dars[1].binding(idle) is None
    assert TunnelDown(coa, DAR2, idle) in world.effects()


def test_none_releases_everything_and_single_anchor_keeps_only_the_first(mn_key: KeyPair) -> None:
    world = mn_world(mn_key, keep=KeepPolicy.NONE)
    world.visit(0)
    world.visit(1)
    world.visit(2)
    assert world.bus() == [] and len(world.mn.addresses()) == 1
    world = mn_world(mn_key, keep=KeepPolicy.SINGLE_ANCHOR)
    home = world.visit(0)
    middle = world.visit(1)
    world.mn.pin(middle, world.now)  # ignored: never anchor at a later DAR
    world.visit(2)
    assert {bu.hoa for _, bu in world.bus()} == {home} and middle not in world.mn.addresses()
    assert world.dars[0].binding(home).coa == world.mn.current_address


def test_pin_and_unpin(mn_key: KeyPair) -> None:
    world = mn_world(mn_key, keep=KeepPolicy.NONE)
    first = world.visit(0)
    world.call(lambda: world.mn.pin(first, world.now))
    coa = world.visit(1)
    assert world.dars[0].binding(first).coa == coa
    world.call(lambda: world.mn.unpin(first, world.now))
    world.run(1.0)
    assert world.dars[0].binding(first) is None and first not in world.mn.addresses()
    with pytest.raises(ValueError, match="not an address"):
        world.mn.pin("2001:db8:9::9", world.now)


def test_several_anchors_at_once(world: World) -> None:
    first, second = world.visit(0), world.visit(1)
    third = world.visit(2)
    assert world.dars[0].binding(first).coa == third and world.dars[1].binding(second).coa == third
    for address, dar in ((first, DAR1), (second, DAR2)):
        (effect,) = world.mn.send(address, CN, 1, 2, b"x", world.now)
        assert effect == Send(Tunnelled(third, dar, Datagram(address, CN, 1, 2, b"x")))


# ---------------------------------------------------------------- returning home (profile §4)


def test_back_on_an_earlier_link_the_mn_deregisters_from_home(world: World) -> None:
    hoa = world.visit(0)
    coa = world.visit(1)
    phkt = world.mn.record(hoa).bul.phkt
    world.attach(0)
    world.run(2.0)
    assert world.mn.current_address == hoa
    dereg = next(bu for _, bu in world.bus() if bu.lifetime == 0)
    assert (dereg.src, dereg.dst, dereg.hoa) == (hoa, DAR1, None)  # from home: no HAO
    assert dereg.auth_key == kbm(phkt, deregistration=True) and dereg.nonce_indices == (0, 0)
    assert "binding-deregistered" in world.events() and world.dars[0].binding(hoa) is None
    assert world.mn.send(hoa, CN, 1, 2, b"x", world.now) == [
        Send(Datagram(hoa, CN, 1, 2, b"x"))
    ]
    assert world.dars[1].binding(coa).coa == hoa  # under "all", the other address is kept from here


def test_back_home_the_other_bus_follow_the_home_deregistration_at_once(world: World) -> None:
    """Profile §7: BUs to different DARs are independent; the de-registration goes first."""
    hoa = world.visit(0)
    second = world.visit(1)
    world.attach(0)
    world.run(2.0)
    (dereg_at, dereg), *_ = [(t, bu) for t, bu in world.bus(hoa) if bu.lifetime == 0]
    (rebind_at, rebind), *_ = [(t, bu) for t, bu in world.bus(second) if t >= dereg_at]
    assert rebind_at == dereg_at and (rebind.src, dereg.src) == (hoa, hoa)
    sent = world.sent(BindingUpdate)
    assert sent.index(dereg) < sent.index(rebind)
    assert world.dars[1].binding(second).coa == hoa and world.dars[0].binding(hoa) is None


def test_a_home_dar_that_never_answers_holds_back_no_other_bu(world: World) -> None:
    """DAR1 takes the de-registration, but its BAs never come (tests/sim also loses the BUs)."""
    hoa = world.visit(0)
    second = world.visit(1)
    world.lose(lambda msg: isinstance(msg, BindingAck) and msg.src == DAR1)
    world.attach(0)
    world.run(0.1)
    assert world.dars[1].binding(second).coa == hoa  # one round trip, not the 63 s back-off
    assert world.mn.record(second).bul.state is BulState.BOUND
    world.run(100.0)
    assert "deregistration-failed" in world.events()
    assert world.mn.record(second).bul.state is BulState.BOUND


# ---------------------------------------------------------------- data (profile §8)


def test_data_natively_from_the_coa_and_through_the_tunnel_for_kept_addresses(world: World) -> None:
    hoa = world.visit(0)
    coa = world.visit(1)
    mn = world.mn
    assert mn.send(coa, CN, 1, 2, b"n", 0) == [Send(Datagram(coa, CN, 1, 2, b"n"))]
    inner = Datagram(CN, hoa, 2, 1, b"in", hlim=63)
    assert mn.on_message(Tunnelled(DAR1, coa, inner), 0) == [Deliver(inner)]
    assert [d.code for d in mn.on_message(Tunnelled(DAR2, coa, inner), 0)] == ["spoofed-tunnel"]
    assert mn.on_message(Datagram(CN, coa, 2, 1, b"n"), 0) == [
        Deliver(Datagram(CN, coa, 2, 1, b"n"))
    ]
    assert [d.code for d in mn.on_message(Datagram(CN, hoa, 2, 1, b"n"), 0)] == ["not-for-me"]
    assert [d.code for d in mn.send("2001:db8:9::9", CN, 1, 2, b"x", 0)] == ["not-anchored"]
    world.detach()
    assert TunnelDown(coa, DAR1, hoa) in world.effects()
    assert [d.code for d in mn.send(hoa, CN, 1, 2, b"x", 0)] == ["no-address"]


def test_udp_echo_answers_from_the_address_it_was_sent_to(world: World) -> None:
    """RFC 862 on port 7: a kept address answers through the reverse tunnel, the CoA natively."""
    hoa = world.visit(0)
    coa = world.visit(1)
    mn = world.mn
    (tunnelled,) = mn.on_message(Tunnelled(DAR1, coa, Datagram(CN, hoa, 5000, 7, b"e")), 0)
    assert isinstance(tunnelled, Deliver)
    assert mn.echo(tunnelled.datagram, 7, 0) == [
        Send(Tunnelled(coa, DAR1, Datagram(hoa, CN, 7, 5000, b"e")))
    ]
    (native,) = mn.on_message(Datagram(CN, coa, 5001, 7, b"n"), 0)
    assert isinstance(native, Deliver)
    assert mn.echo(native.datagram, 7, 0) == [Send(Datagram(coa, CN, 7, 5001, b"n"))]
    assert mn.echo(Datagram(CN, coa, 5001, 9, b"n"), 7, 0) == []  # not the echo port
    for sport in (0, 7):  # no port to answer to; another echo service (a loop)
        assert [d.code for d in mn.echo(Datagram(CN, coa, sport, 7, b"n"), 7, 0)] == [
            "echo-refused"
        ]


def test_a_binding_error_for_a_bound_address_makes_the_mn_register_again(world: World) -> None:
    hoa = world.visit(0)
    coa = world.visit(1)
    count = len(world.bus())
    world.feed(BindingError(DAR1, coa, 1, hoa))
    assert len(world.bus()) == count + 1 and "binding-error" in world.events()
    assert [d.code for d in world.feed(BindingError(DAR2, coa, 1, hoa))] == ["unknown-binding"]


def test_a_link_change_stops_every_exchange(pending: tuple[World, BindingUpdate]) -> None:
    world, bu = pending
    world.detach()
    assert world.mn.next_deadline() is None
    assert [d.code for d in world.feed(answer(bu, 0))] == ["no-outstanding-bu"]
    assert [
        e.code for e in world.mn.on_message(ra(DAR2, P2), world.now) if isinstance(e, Drop)
    ] == []


# ---------------------------------------------------------------- endings and oddities


def test_an_unanswered_deregistration_from_home_is_reported(world: World) -> None:
    hoa = world.visit(0)
    world.visit(1)
    lose_bus(world)
    world.attach(0)
    world.run(100.0)
    dereg = [bu for _, bu in world.bus(hoa) if bu.lifetime == 0]
    assert len(dereg) == 6 and dereg[0].hoa is None  # back-off from 1 s: a binding exists
    assert "deregistration-failed" in world.events() and world.mn.current_address == hoa
    assert world.mn.record(hoa).bul.state is BulState.IDLE


def test_an_unanswered_release_still_forgets_the_address(mn_key: KeyPair) -> None:
    world = mn_world(mn_key, keep=KeepPolicy.FLOWS)
    hoa = world.visit(0)
    world.mn.open_flow(hoa)
    world.visit(1)
    lose_bus(world)
    world.call(lambda: world.mn.close_flow(hoa, world.now))
    assert world.mn.pin(hoa, world.now) == []  # a release is final
    world.run(100.0)
    released = [e for e in world.effects(Notify) if e.event == "address-released"]
    assert released[-1].data["deregistered"] is False and hoa not in world.mn.addresses()
    assert [bu.lifetime for _, bu in world.bus(hoa)][-6:] == [0] * 6


def test_a_link_change_during_dad_abandons_a_tentative_address(mn_key: KeyPair) -> None:
    mn = MnCore(mn_key, config=MnConfig(sec=0, dad_delay=1.0, optimistic=False), rand=seeded())
    mn.on_message(ra(), 0.0)
    mn.on_link_down(0.5)
    assert mn.addresses() == [] and mn.current_address is None and mn.next_deadline() is None


def test_a_link_change_during_dad_keeps_an_optimistic_address_in_use(mn_key: KeyPair) -> None:
    """It was used (flows may run on it): it stays as an earlier address, DAD no longer runs."""
    mn = MnCore(mn_key, config=MnConfig(sec=0, dad_delay=1.0), rand=seeded())
    mn.on_message(ra(), 0.0)
    address = mn.current_address
    mn.open_flow(address)
    mn.on_link_down(0.5)
    assert mn.addresses() == [address] and mn.current_address is None
    assert mn.record(address).dad_until is None and mn.next_deadline() is None


def test_messages_an_mn_does_not_expect_are_dropped_visibly(world: World) -> None:
    hoa = world.visit(0)
    coa = world.visit(1)
    assert [d.code for d in world.feed(ra(DAR3, P3))] == ["ra-other-prefix"]
    cot = CareOfTest(DAR1, coa, 1, b"cookie!!", bytes(8))
    assert [d.code for d in world.feed(cot)] == ["unexpected-cot"]
    assert [d.code for d in world.feed(BindingUpdate(DAR1, coa, None, 1, 0))] == ["unexpected"]
    nested = Tunnelled(DAR1, coa, RouterSolicitation(hoa))
    assert [d.code for d in world.feed(nested)] == ["unexpected-tunnel"]


def test_a_dar_signature_that_does_not_verify_is_refused(mn_key: KeyPair, dar_key: KeyPair) -> None:
    world = mn_world(mn_key, request_dar_signature=True)
    world.visit(0)
    lose_bus(world)
    world.visit(1, settle=0.5)
    bu = world.bus()[-1][1]
    assert bu.cga_request
    ciphertext = encrypt_phkt(mn_key.public_der, PHKT)
    not_a_cga = answer(
        bu,
        0,
        phkt_ciphertext=ciphertext,
        auth_key=kbm(PHKT),
        cga_params=cga_generate(P3, dar_key, sec=0).params,
        sign_with=dar_key,
    )
    assert [d.code for d in world.feed(not_a_cga)] == ["dar-signature"]


def test_a_flow_that_ends_while_detached_is_released_at_the_next_attachment(
    mn_key: KeyPair,
) -> None:
    world = mn_world(mn_key, keep=KeepPolicy.FLOWS)
    hoa = world.visit(0)
    world.mn.open_flow(hoa)
    world.visit(1)
    world.detach()
    assert world.mn.close_flow(hoa, world.now) == []  # no CoA to de-register from
    coa = world.visit(2)
    dereg = world.bus(hoa)[-1][1]
    assert (dereg.src, dereg.lifetime) == (coa, 0) and hoa not in world.mn.addresses()
