"""keepalived.conf import: fixtures of each checker round-trip, and every lost setting is a note."""

from __future__ import annotations

from pathlib import Path

import pytest

from piranha_web.convert.keepalived import from_keepalived, read_keepalived, to_keepalived
from piranha_web.lvscf import LvsCfError, LvsConfig, RealServer, VirtualServer, load, validate
from piranha_web.lvscf.health import CheckSettings, check_settings
from tests.convert.test_convert_keepalived import keepalived_check

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "keepalived"
CLEAN = sorted(p for p in FIXTURES.glob("*.conf") if p.stem != "lossy")
EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"
LVS_CF = Path(__file__).resolve().parents[1] / "data" / "lvscf"


@pytest.mark.parametrize("path", CLEAN, ids=[p.stem for p in CLEAN])
def test_fixture_imports_without_notes_and_round_trips(path: Path) -> None:
    """keepalived.conf -> import -> export -> import gives the same model."""
    cfg, notes = read_keepalived(path.read_text())
    assert notes == []
    validate(cfg)
    again, notes = read_keepalived(to_keepalived(cfg))
    assert notes == []
    assert again == cfg


def test_fixtures_cover_each_checker_and_both_families() -> None:
    text = "".join(p.read_text() for p in CLEAN)
    for word in ("HTTP_GET", "SSL_GET", "TCP_CHECK", "DNS_CHECK", "MISC_CHECK", "misc_dynamic", "digest",
                 "virtualhost", "connect_port", "sorry_server", "inhibit_on_failure", "2001:db8:"):
        assert word in text


def test_web_fixture_maps_onto_the_health_keys() -> None:
    cfg = from_keepalived((FIXTURES / "web-ipv4.conf").read_text())
    web, tls = cfg.virtuals
    assert (web.address, web.device, web.vip_nmask) == ("203.0.113.10", "eth0", "255.255.255.0")
    assert (cfg.nat_router, cfg.nat_router_device) == ("198.51.100.254", "eth1")
    assert (web.check, web.check_path, web.check_status) == ("http", "/healthz", "200-299,301")
    assert (web.check_digest, web.check_port, web.check_host) == (
        "9e107d9d372bb6826bd81d3542a419d6", 8081, "www.example.test")
    assert (web.timeout, web.check_timeout, web.fall, web.rise) == (5, 2, 3, 1)   # retry 2: 3 failures
    assert (web.quiesce_server, web.sorry_server, web.persistent) == (True, "198.51.100.99", 300)
    assert (tls.check, tls.check_host) == ("https", "secure.example.test")
    first, second = tls.servers
    assert check_settings(tls, first).fall == 2            # SSL_GET's default retry is 1
    assert check_settings(tls, second).fall == 1           # retry 0
    assert (check_settings(tls, second).interval, check_settings(tls, second).timeout) == (20, 3)


def test_ipv6_dns_fixture() -> None:
    cfg = from_keepalived((FIXTURES / "dns-ipv6.conf").read_text())
    dns, smtp = cfg.virtuals
    assert (cfg.primary, cfg.backup, cfg.network) == ("2001:db8::1", "2001:db8::2", "direct")
    assert (dns.address, dns.device, dns.vip_nmask, dns.protocol) == ("2001:db8:10::53", "eth2", "64", "udp")
    assert (dns.check, dns.check_query, dns.check_qtype, dns.fall) == ("dns", "www.example.test", "AAAA", 4)
    assert (smtp.check, smtp.check_port, smtp.fall, smtp.sorry_server) == ("tcp", 2525, 5, "2001:db8:20::99")


def test_misc_fixture_keeps_the_program_and_dynamic_weights() -> None:
    cfg = from_keepalived((FIXTURES / "misc-dr.conf").read_text())
    vs = cfg.virtuals[0]
    assert vs.send_program == "/usr/local/bin/db-weight %h %p" and vs.check_dynamic is True
    assert (vs.check, vs.fall, vs.check_timeout) == (None, None, 5)       # MISC_CHECK's default retry is 0
    assert (cfg.syncdaemon, cfg.syncd_iface, cfg.syncd_id) == (True, "eth0", 7)
    assert (cfg.tcp_timeout, cfg.tcpfin_timeout, cfg.udp_timeout) == (7200, 60, 120)


LOSSY_NOTES = [
    (4, "notification_email"), (7, "lvs_sync_daemon"), (10, "vrrp_script"), (19, "authentication"),
    (24, "192.0.2.80/24"), (28, "virtual_server_group"), (32, "virtual_server"), (41, "quorum"),
    (42, "hysteresis"), (49, "url"), (52, "warmup"), (53, "delay_before_retry"), (55, "SMTP_CHECK"),
    (63, "BFD_CHECK"), (69, "virtual_server"), (75, "bfd_instance"),
]


def test_every_setting_lvs_cf_cannot_hold_is_a_note_with_its_line() -> None:
    text = (FIXTURES / "lossy.conf").read_text()
    cfg, notes = read_keepalived(text)
    assert [(p.line, p.key) for p in notes] == LOSSY_NOTES
    lines = text.splitlines()
    for p in notes:         # the keyword is on the line the note names
        assert p.key is not None and p.key in lines[p.line - 1]
    with pytest.raises(LvsCfError) as info:
        from_keepalived(text)
    assert [(p.line, p.key) for p in info.value.problems] == LOSSY_NOTES
    lossy = from_keepalived(text, lossy=True)
    assert lossy == cfg and [v.address for v in cfg.virtuals] == ["192.0.2.80"]


def test_the_shipped_example_imports_without_notes() -> None:
    cfg, notes = read_keepalived((EXAMPLES / "keepalived.conf").read_text())
    assert notes == []
    assert cfg == load((EXAMPLES / "lvs.cf").read_text())


HEALTHY_LVS_CF = """serial_no = 9
primary = 192.0.2.1
backup_active = 1
backup = 192.0.2.2
heartbeat = 1
keepalive = 2
deadtime = 7
network = direct
virtual web {
\tactive = 1
\taddress = 203.0.113.20 eth0:1
\tport = 80
\tload_monitor = uptime
\ttimeout = 4
\treentry = 30
\tquiesce_server = 1
\tcheck = http
\tcheck_path = "/ok"
\tcheck_body = "ready"
\tfall = 4
\trise = 2
\tslowstart = 30
\tserver a {
\t\taddress = 198.51.100.1
\t\tactive = 1
\t\tweight = 3
\t}
\tserver b {
\t\taddress = 198.51.100.2
\t\tactive = 1
\t\tcheck = agent
\t\tagent_port = 5555
\t}
\tserver c {
\t\taddress = 198.51.100.3
\t\tactive = 1
\t\tcheck = https
\t\tcheck_verify = 1
\t\tcheck_ca_file = "/etc/ssl/ca.pem"
\t\tcheck_interval = 8
\t\tcheck_timeout = 2.5
\t}
}
virtual legacy {
\tactive = 1
\taddress = 203.0.113.21 eth0:2
\tport = 25
\tsend = "HELO x\\r\\n"
\texpect = "250"
\tuse_regex = 1
\tserver a {
\t\taddress = 198.51.100.1
\t\tactive = 1
\t}
}
"""


def _effective(vs: VirtualServer, rs: RealServer) -> CheckSettings | tuple[object, ...]:
    """What checks ``rs``: all its settings, or for an agent or no check those that still count."""
    cs = check_settings(vs, rs)
    if cs.kind in ("agent", "none"):
        return (cs.kind, cs.interval, cs.timeout, cs.rise, cs.fall, cs.agent_port, cs.slowstart)
    return cs


def _same_settings(a: LvsConfig, b: LvsConfig) -> None:
    """Every real server is checked the same way, and every lvs.cf key outside the checks is equal
    (an address without a device comes back on the VRRP instance's interface)."""
    assert len(a.virtuals) == len(b.virtuals)
    for va, vb in zip(a.virtuals, b.virtuals):
        assert [_effective(va, r) for r in va.servers] == [_effective(vb, r) for r in vb.servers]
        for name in ("name", "address", "port", "protocol", "scheduler", "persistent", "send",
                     "expect", "use_regex", "send_program", "load_monitor", "reentry", "quiesce_server"):
            assert getattr(va, name) == getattr(vb, name), name
        assert va.device in (None, vb.device)
        assert [(r.name, r.address, r.port, r.weight) for r in va.servers] == [
            (r.name, r.address, r.port, r.weight) for r in vb.servers]


@pytest.mark.parametrize("source", ["healthy", *sorted(p.stem for p in LVS_CF.glob("*.cf"))])
def test_lvs_cf_export_then_import_keeps_every_check(source: str) -> None:
    """lvs.cf -> export -> import: same settings (the keys keepalived lacks ride in comments)."""
    text = HEALTHY_LVS_CF if source == "healthy" else (LVS_CF / f"{source}.cf").read_text()
    cfg = load(text)
    cfg.virtuals = [vs for vs in cfg.virtuals if vs.active]
    for vs in cfg.virtuals:
        vs.servers = [rs for rs in vs.servers if rs.active]
    back, notes = read_keepalived(to_keepalived(cfg))
    assert notes == []
    validate(back)
    _same_settings(cfg, back)
    if source == "healthy":
        web = back.virtuals[0]
        assert (web.rise, web.slowstart, web.check_body, web.load_monitor) == (2, 30, "ready", "uptime")
        assert (web.servers[1].check, web.servers[1].agent_port) == ("agent", 5555)
        assert (web.servers[2].check_verify, web.servers[2].check_ca_file) == (True, "/etc/ssl/ca.pem")


@pytest.mark.parametrize("path", CLEAN, ids=[p.stem for p in CLEAN])
def test_fixture_re_export_is_accepted_by_keepalived(path: Path, tmp_path: Path) -> None:
    cfg = from_keepalived(path.read_text())
    conf = tmp_path / "keepalived.conf"
    conf.write_text(to_keepalived(cfg))
    devices = sorted({d.split(":")[0] for d in [vs.device for vs in cfg.virtuals] + [cfg.nat_router_device]
                      if d})
    result = keepalived_check(conf, devices)
    assert result.returncode == 0, result.stdout + result.stderr
