"""Exported checkers for the health-check keys; keepalived -t accepts the file."""

from __future__ import annotations

from pathlib import Path

from piranha_web.convert.keepalived import from_keepalived, to_keepalived
from piranha_web.lvscf import parse, validate
from tests.convert.test_convert_keepalived import keepalived_check

LVS_CF = """serial_no = 4
primary = 203.0.113.1
network = nat
nat_router = 192.0.2.254 IF:1
nat_nmask = 255.255.255.0
syncdaemon = 1
syncd_iface = IF
syncd_id = 3
tcp_timeout = 900
udp_timeout = 300
virtual web {
\tactive = 1
\taddress = 203.0.113.10 IF:2
\tvip_nmask = 255.255.255.0
\tfwmark = 80
\tport = 80
\tcheck = http
\tcheck_path = "/health"
\tcheck_status = 200-299,301
\tcheck_digest = 0123456789abcdef0123456789abcdef
\tcheck_host = www.example.test
\tfall = 3
\tcheck_interval = 2
\tserver a {
\t\taddress = 192.0.2.1
\t\tactive = 1
\t\tweight = 5
\t}
\tserver b {
\t\taddress = 192.0.2.2
\t\tactive = 1
\t\tcheck = https
\t\tcheck_port = 443
\t}
}
virtual dns {
\tactive = 1
\taddress = 203.0.113.10 IF:2
\tport = 53
\tprotocol = udp
\tcheck = dns
\tcheck_query = www.example.test
\tserver a {
\t\taddress = 192.0.2.1
\t\tactive = 1
\t}
}
virtual prog {
\tactive = 1
\taddress = 203.0.113.11 IF:3
\tport = 25
\tsend_program = "/bin/true %h"
\tcheck_dynamic = 1
\tcheck = program
\tserver a {
\t\taddress = 192.0.2.1
\t\tactive = 1
\t}
}
"""


def test_export_checkers_and_keepalived_accepts_it(tmp_path: Path) -> None:
    dev = "eth0"
    cfg = parse(LVS_CF.replace("IF", dev))
    validate(cfg)
    text = to_keepalived(cfg)
    assert "real_server 192.0.2.1 {" in text and "connect_port 80" in text      # fwmark: port in checker
    assert "status_code 200-299 301" in text and "digest 0123456789abcdef0123456789abcdef" in text
    assert 'virtualhost "www.example.test"' in text and "retry 2" in text
    assert "SSL_GET {" in text and "connect_port 443" in text
    assert "DNS_CHECK {" in text and 'name "www.example.test"' in text
    assert "misc_dynamic" in text and "enable_script_security" in text and "script_user root" in text
    assert f"lvs_sync_daemon {dev} PIRANHA id 3" in text and "lvs_timeouts tcp 900 udp 300" in text
    conf = tmp_path / "keepalived.conf"
    conf.write_text(text)
    result = keepalived_check(conf, ["eth0", "eth1"])
    assert result.returncode == 0, result.stdout + result.stderr
    back = from_keepalived(text)
    assert (back.syncdaemon, back.syncd_iface, back.syncd_id) == (True, dev, 3)
    assert (back.tcp_timeout, back.udp_timeout) == (900, 300)
    web = back.virtual("web")
    assert web is not None and web.servers[0].port in (None, 80)
    prog = back.virtual("prog")
    assert prog is not None and prog.check_dynamic is True
