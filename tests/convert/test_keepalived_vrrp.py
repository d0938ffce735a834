"""keepalived.conf's VRRP half and global_defs: devices, masks, peers, and notes for the rest."""

from __future__ import annotations

from piranha_web.convert.keepalived import read_keepalived

SERVICES = """virtual_server 192.0.2.10 80 {
    lb_kind NAT
    real_server 198.51.100.1 80 {
    }
}
virtual_server 2001:db8::10 80 {
    lb_kind NAT
    real_server 2001:db8:1::1 80 {
    }
}
"""


def _vrrp(body: str, extra: str = "") -> str:
    return f"vrrp_instance A {{\n    interface eth4\n{body}\n}}\n{extra}{SERVICES}"


def test_addresses_live_on_the_instance_interface_unless_dev_or_label_says_otherwise() -> None:
    cfg, notes = read_keepalived(_vrrp("""    virtual_ipaddress {
        192.0.2.10/26
        198.51.100.254/24 dev eth1 label eth1:7
        2001:db8::10/64
        2001:db8:1::fe/48 dev eth5
    }"""))
    assert notes == []
    v4, v6 = cfg.virtuals
    assert (v4.device, v4.vip_nmask) == ("eth4", "255.255.255.192")
    assert (v6.device, v6.vip_nmask) == ("eth4", "64")
    assert (cfg.nat_router, cfg.nat_router_device, cfg.nat_nmask) == (
        "198.51.100.254", "eth1:7", "255.255.255.0")
    assert (cfg.nat_router6, cfg.nat_router6_device, cfg.nat_nmask6) == ("2001:db8:1::fe", "eth5", "48")


def test_peers_from_state_and_unicast_addresses() -> None:
    cfg, notes = read_keepalived(_vrrp("""    state BACKUP
    advert_int 3
    unicast_src_ip 192.0.2.2
    unicast_peer {
        192.0.2.1
        192.0.2.3
    }"""))
    assert (cfg.primary, cfg.backup, cfg.backup_active, cfg.keepalive, cfg.deadtime) == (
        "192.0.2.1", "192.0.2.2", True, 3, 9)
    assert [(p.line, p.key) for p in notes] == [(8, "192.0.2.3")]


def test_what_vrrp_has_and_lvs_cf_lacks_is_a_note() -> None:
    text = _vrrp("""    nopreempt
    unicast_src_ip 192.0.2.1
    unicast_peer {
        192.0.2.2
    }
    track_interface {
        eth9
    }
    virtual_ipaddress {
        192.0.2.10/24 brd 192.0.2.255 scope global
        192.0.2.99/24
        192.0.2.98/24
    }""", "vrrp_instance B {\n    unicast_src_ip 192.0.2.7\n}\n")
    cfg, notes = read_keepalived(text)
    assert cfg.nat_router == "192.0.2.99"           # the first other address of a NAT director
    assert [(p.line, p.key) for p in notes] == [
        (3, "nopreempt"), (8, "track_interface"), (12, "192.0.2.10/24"), (12, "192.0.2.10/24"),
        (14, "192.0.2.98/24"), (17, "vrrp_instance")]
    assert "NAT router" in notes[4].message and "peers" in notes[5].message


def test_global_defs_sync_daemon_timeouts_and_the_rest() -> None:
    text = """global_defs {
    router_id a
    enable_script_security
    script_user nobody
    lvs_sync_daemon eth0 A id 9 ttl 2
    lvs_timeouts tcp 100 udp 20 sctp 5
    vrrp_garp_master_delay 3
}
""" + SERVICES
    cfg, notes = read_keepalived(text)
    assert (cfg.syncdaemon, cfg.syncd_iface, cfg.syncd_id, cfg.tcp_timeout, cfg.udp_timeout) == (
        True, "eth0", 9, 100, 20)
    assert [(p.line, p.key) for p in notes] == [
        (4, "script_user"), (5, "lvs_sync_daemon"), (6, "lvs_timeouts"), (7, "vrrp_garp_master_delay")]
