"""desired_table() and friends: lvs.cf + health -> what the kernel should hold."""

from __future__ import annotations

import textwrap

from piranha_web.lvscf import load
from piranha_web.pulse.reconcile import (
    DOWN, UNKNOWN, UP, Address, Dest, DestKey, MarkRule, ServiceKey, all_up, configured_dests,
    desired_addresses, desired_marks, desired_table, prefixlen, routers_first, service_key,
)

CF = textwrap.dedent("""\
    serial_no = 7
    primary = 203.0.113.1
    service = lvs
    network = nat
    nat_router = 192.0.2.254 eth1:1
    nat_nmask = 255.255.255.0
    virtual www {
        active = 1
        address = 203.0.113.10 eth0:1
        vip_nmask = 255.255.255.0
        port = 80
        scheduler = rr
        QUIESCE
        SORRY
        server rs1 {
            address = 192.0.2.1
            active = 1
            weight = 3
        }
        server rs2 {
            address = 192.0.2.2
            active = 1
            port = 8080
            weight = 1
        }
        server off {
            address = 192.0.2.9
            active = 0
        }
    }
    virtual marked {
        active = 1
        address = 203.0.113.11 eth0:2
        fwmark = 80
        port = 443
        persistent = 300
        pmask = 255.255.255.0
        server rs1 {
            address = 192.0.2.1
            active = 1
        }
    }
    virtual idle {
        active = 0
        address = 203.0.113.12 eth0:3
        server rs1 {
            address = 192.0.2.1
            active = 1
        }
    }
    """)

WWW = ServiceKey.tcp("203.0.113.10", 80)


def cfg(quiesce: bool = False, sorry: bool = False):
    text = CF.replace("QUIESCE", "quiesce_server = 1" if quiesce else "")
    text = text.replace("SORRY", "sorry_server = 192.0.2.99" if sorry else "")
    return load(text)


def test_service_keys_and_attributes() -> None:
    c = cfg()
    assert service_key(c.virtuals[0]) == WWW
    assert service_key(c.virtuals[1]) == ServiceKey.mark(80)
    t = desired_table(c, all_up(c))
    assert set(t) == {WWW, ServiceKey.mark(80)}       # inactive virtual skipped
    assert t[ServiceKey.mark(80)].service.persistent == 300
    assert t[ServiceKey.mark(80)].service.netmask == "255.255.255.0"
    assert t[WWW].service.scheduler == "rr"


def test_up_servers_enter_with_full_weight_and_real_port() -> None:
    c = cfg()
    t = desired_table(c, all_up(c))
    assert t[WWW].dests == {DestKey("192.0.2.1", 80): Dest(3, "nat"),
                            DestKey("192.0.2.2", 8080): Dest(1, "nat")}


def test_down_or_unchecked_servers_are_left_out() -> None:
    c = cfg()
    t = desired_table(c, {("www", "rs1"): DOWN, ("www", "rs2"): UP})
    assert list(t[WWW].dests) == [DestKey("192.0.2.2", 8080)]
    assert desired_table(c, {})[WWW].dests == {}


def test_quiesce_keeps_down_servers_at_weight_zero() -> None:
    c = cfg(quiesce=True)
    t = desired_table(c, {("www", "rs1"): DOWN, ("www", "rs2"): UP})
    assert t[WWW].dests[DestKey("192.0.2.1", 80)].weight == 0
    assert t[WWW].dests[DestKey("192.0.2.2", 8080)].weight == 1


def test_sorry_server_only_when_every_server_is_down() -> None:
    c = cfg(sorry=True)
    sorry = DestKey("192.0.2.99", 80)
    assert sorry in desired_table(c, {("www", "rs1"): DOWN, ("www", "rs2"): DOWN})[WWW].dests
    assert desired_table(c, {("www", "rs1"): DOWN, ("www", "rs2"): DOWN})[WWW].dests[sorry].weight == 1
    assert sorry not in desired_table(c, {("www", "rs1"): DOWN, ("www", "rs2"): UP})[WWW].dests
    # still unchecked: do not flap the sorry server in at start
    assert sorry not in desired_table(c, {("www", "rs1"): DOWN, ("www", "rs2"): UNKNOWN})[WWW].dests


def test_drained_dests_stay_at_weight_zero() -> None:
    c = cfg()
    gone = DestKey("192.0.2.7", 80)
    t = desired_table(c, all_up(c), {(WWW, gone): Dest(4, "nat")})
    assert t[WWW].dests[gone] == Dest(0, "nat")
    assert (WWW, gone) not in configured_dests(c)
    assert (WWW, DestKey("192.0.2.1", 80)) in configured_dests(c)


def test_addresses_with_labels_and_prefixes() -> None:
    assert desired_addresses(cfg()) == {
        Address("203.0.113.10", 24, "eth0", "eth0:1"),
        Address("203.0.113.11", 32, "eth0", "eth0:2"),
        Address("192.0.2.254", 24, "eth1", "eth1:1"),
    }
    assert prefixlen(None) == 32 and prefixlen("255.255.255.128") == 25


def test_ipv6_vips_get_ipv6_prefixes() -> None:
    # validate() accepts an IPv6 VIP with a prefix-length vip_nmask; pulse used to crash on it
    c = cfg()
    www, marked = c.virtual("www"), c.virtual("marked")
    www.address, www.vip_nmask = "2001:db8::10", "64"
    marked.address, marked.vip_nmask, marked.fwmark = "2001:db8::11", None, None
    # IPv6 has no address labels: the :N alias is accepted and ignored
    assert {a for a in desired_addresses(c) if ":" in a.ip} == {
        Address("2001:db8::10", 64, "eth0", "eth0"), Address("2001:db8::11", 128, "eth0", "eth0")}


def test_ipv6_addresses_and_keys_are_canonical() -> None:
    # lvs.cf may spell an address any way; the kernel reports one spelling
    c = cfg()
    www = c.virtual("www")
    www.address = "2001:DB8:0:0::10"
    www.servers[0].address = "2001:db8:0001::1"
    key = service_key(www)
    assert key == ServiceKey.tcp("2001:db8::10", 80)
    assert DestKey("2001:db8:1::1", 80) in desired_table(c, all_up(c))[key].dests


def test_nat_router6_is_a_managed_address() -> None:
    c = cfg()
    c.nat_router6, c.nat_router6_device, c.nat_nmask6 = "2001:db8:1::254", "eth1:1", "64"
    assert Address("2001:db8:1::254", 64, "eth1", "eth1") in desired_addresses(c)
    c.network = "direct"
    assert not any(":" in a.ip for a in desired_addresses(c))


def test_nat_routers_are_announced_before_the_vips() -> None:
    c = cfg()
    c.nat_router6, c.nat_router6_device, c.nat_nmask6 = "2001:DB8:1:0::254", "eth1", "64"
    c.virtuals[0].address = "1.0.0.1"      # sorts before both routers
    order = [a.ip for a in routers_first(desired_addresses(c), c)]
    assert order[:2] == ["192.0.2.254", "2001:db8:1::254"] and order[2] == "1.0.0.1"
    c.network = "direct"
    assert [a.ip for a in routers_first(desired_addresses(c), c)][0] == "1.0.0.1"


def test_ipv6_fwmark_service_is_its_own_family() -> None:
    c = cfg()
    marked = c.virtual("marked")
    assert service_key(marked) == ServiceKey.mark(80)
    marked.address = "2001:db8::11"
    assert service_key(marked) == ServiceKey.mark(80, ipv6=True)
    assert str(service_key(marked)) == "FWM 80 IPv6"


def test_marks_for_fwmark_services_with_address_and_port() -> None:
    assert desired_marks(cfg()) == {MarkRule("tcp", "203.0.113.11", 443, 80)}


def test_an_ipv6_fwmark_service_gets_an_ipv6_mark_rule() -> None:
    c = cfg()
    c.virtual("marked").address = "2001:DB8::11"
    assert desired_marks(c) == {MarkRule("tcp", "2001:db8::11", 443, 80)}
    assert str(MarkRule("tcp", "2001:db8::11", 443, 80)) == "mark tcp [2001:db8::11]:443 -> 80"


def test_direct_routing_forwarding() -> None:
    c = load(CF.replace("network = nat", "network = direct").replace("QUIESCE", "").replace("SORRY", ""))
    t = desired_table(c, all_up(c))
    assert {d.fwd for d in t[WWW].dests.values()} == {"direct"}
    assert Address("192.0.2.254", 24, "eth1", "eth1:1") not in desired_addresses(c)


def test_a_zero_mask_means_no_mask_not_a_zero_prefix() -> None:
    # validate() accepts "0" as Piranha's "no mask": it must never become a /0 address
    assert prefixlen("0", "203.0.113.10") == 32
    assert prefixlen("0", "2001:db8::10") == 128
    assert prefixlen("64", "2001:db8::10") == 64
