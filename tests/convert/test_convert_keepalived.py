"""keepalived.conf export is accepted by keepalived and imports back; import errors name lines."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from piranha_web.convert import from_keepalived, to_keepalived
from piranha_web.convert.keepalived import read_keepalived
from piranha_web.convert.keepalived import VRRP_ROUTER_ID
from piranha_web.lvscf import LvsCfError, LvsConfig, load, validate

# Inside a fresh network namespace, make the director's devices exist (a veth
# pair gives two names; keepalived -t refuses addresses on missing devices).
_CHECK = 'ip link add "$1" type veth peer name "$2" && exec "$4" -t -f "$3"'


def _devices(cfg: LvsConfig) -> list[str]:
    names = [vs.device for vs in cfg.active_virtuals() if vs.device] + [cfg.nat_router_device or ""]
    out: list[str] = []
    for name in names:
        phys = name.split(":")[0]
        if phys and phys not in out:
            out.append(phys)
    return out


def keepalived_check(conf: Path, devices: list[str]) -> subprocess.CompletedProcess[str]:
    """Run ``keepalived -t -f conf`` in a throwaway namespace that has ``devices``."""
    pair = (devices + ["eth0", "eth1"])[:2] if len(devices) <= 2 else devices
    assert len(pair) == 2, "helper handles at most two devices"
    if pair[0] == pair[1]:
        pair[1] = "spare0"
    keepalived = shutil.which("keepalived") or "/usr/sbin/keepalived"
    return subprocess.run(
        ["unshare", "--net", "--map-root-user", "sh", "-c", _CHECK, "sh", pair[0], pair[1], str(conf),
         keepalived],
        capture_output=True, text=True, timeout=60)


def _semantic(text: str) -> list[str]:
    """Lines that configure keepalived (notes about what it cannot express left out)."""
    return [ln for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("! piranha:")]


def test_seed_export_is_accepted_by_keepalived(seed_file: Path, tmp_path: Path) -> None:
    cfg = load(seed_file.read_text())
    conf = tmp_path / "keepalived.conf"
    conf.write_text(to_keepalived(cfg))
    result = keepalived_check(conf, _devices(cfg))
    assert result.returncode == 0, result.stderr


def test_corpus_exports_are_accepted_by_keepalived(corpus_file: Path, tmp_path: Path) -> None:
    cfg = load(corpus_file.read_text())
    for role in ("primary", "backup"):
        conf = tmp_path / f"{role}.conf"
        conf.write_text(to_keepalived(cfg, role))
        result = keepalived_check(conf, _devices(cfg))
        assert result.returncode == 0, (role, result.stderr)


def test_a_broken_file_fails_keepalived_check(tmp_path: Path) -> None:
    """The check itself can fail (so the tests above prove something)."""
    conf = tmp_path / "bad.conf"
    conf.write_text("virtual_server 192.0.2.1 80 {\n  lb_algo nonsense\n}\n")
    assert keepalived_check(conf, ["eth0"]).returncode != 0


def test_seed_export_says_what_pulse_does(seed_file: Path) -> None:
    text = to_keepalived(load(seed_file.read_text()))
    assert "virtual_server 210.220.230.10 80 {" in text
    assert "lb_algo rr" in text and "lb_kind NAT" in text
    assert "210.220.230.10/24 dev eth0 label eth0:1" in text
    assert "192.168.1.10/24 dev eth1 label eth1:1" in text     # the NAT router address
    assert "real_server 192.168.1.1 80 {" in text and "real_server 192.168.1.2 80 {" in text
    assert f"virtual_router_id {VRRP_ROUTER_ID}" in text
    assert "HTTP_GET" in text and 'path "/"' in text


def test_seed_round_trips(seed_file: Path) -> None:
    cfg = load(seed_file.read_text())
    back = from_keepalived(to_keepalived(cfg))
    validate(back)
    assert back == cfg


def test_corpus_export_is_a_fixed_point(corpus_file: Path) -> None:
    """export(import(export(cfg))) == export(cfg), except that an address lvs.cf gives no device
    comes back on the VRRP instance's interface (where keepalived brings it up)."""
    text = to_keepalived(load(corpus_file.read_text()))
    again = from_keepalived(text)
    validate(again)
    second = to_keepalived(again)
    interface = next(ln.split()[1] for ln in text.splitlines() if ln.strip().startswith("interface "))
    placed = [ln + f" dev {interface}" if re.fullmatch(r"\s+[0-9a-f.:]+/\d+", ln) else ln
              for ln in _semantic(text)]
    assert _semantic(second) == placed
    assert _semantic(to_keepalived(from_keepalived(second))) == _semantic(second)


def test_backup_role_swaps_vrrp_side() -> None:
    cfg = load((Path(__file__).parents[1] / "data/lvscf/sample-redundant.cf").read_text())
    text = to_keepalived(cfg, "backup")
    assert "state BACKUP" in text and "priority 100" in text
    assert "unicast_src_ip 207.175.44.196" in text
    back = from_keepalived(text)
    assert (back.primary, back.backup, back.backup_active) == ("207.175.44.150", "207.175.44.196", True)


def test_inexpressible_things_are_noted_not_dropped() -> None:
    cfg = load((Path(__file__).parents[1] / "data/lvscf/every-keyword.cf").read_text())
    text = to_keepalived(cfg)
    assert "! piranha: inactive server web2" in text
    assert "! piranha: inactive virtual placeholder not exported" in text
    assert "! piranha: failover service ftp not exported" in text


HANDWRITTEN = """\
global_defs {
   router_id LVS_A
}
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 7
    priority 90
    advert_int 1
    unicast_src_ip 192.0.2.2
    unicast_peer {
        192.0.2.1
    }
    virtual_ipaddress {
        192.0.2.100/24 dev eth0 label eth0:1
    }
}
virtual_server 192.0.2.100 443
{
    delay_loop 3
    lvs_sched wrr
    lvs_method DR
    protocol TCP
    persistence_timeout 600
    alpha
    real_server 198.51.100.1 8443 {
        weight 3
        SSL_GET { url { path /health
            status_code 200 } connect_timeout 2 }
    }
    real_server 198.51.100.2 8443 {
        weight 5
        inhibit_on_failure
        TCP_CHECK { connect_timeout 2 }
    }
}
"""


def test_handwritten_keepalived_imports() -> None:
    cfg, notes = read_keepalived(HANDWRITTEN)
    validate(cfg)
    # One real server quiesced, the other not: lvs.cf says it once per virtual server.
    assert [(p.line, p.key) for p in notes] == [(33, "inhibit_on_failure")]
    with pytest.raises(LvsCfError) as info:
        from_keepalived(HANDWRITTEN)
    assert info.value.line == 33
    assert (cfg.primary, cfg.backup, cfg.network, cfg.keepalive) == ("192.0.2.1", "192.0.2.2", "direct", 1)
    vs = cfg.virtuals[0]
    assert (vs.address, vs.port, vs.device, vs.vip_nmask) == ("192.0.2.100", 443, "eth0:1", "255.255.255.0")
    assert (vs.scheduler, vs.persistent, vs.timeout, vs.check_timeout) == ("wrr", 600, 3, 2)
    assert vs.quiesce_server is False and vs.rise == 1
    # SSL_GET stays TLS; keepalived's default retry (1) is two failures in a row.
    assert (vs.check, vs.fall, vs.send, vs.expect) == ("https", 2, None, None)
    tls, tcp = vs.servers
    assert (tls.check, tls.check_path, tls.check_status) == (None, "/health", "200")
    assert (tcp.check, tcp.check_path, tcp.check_status) == ("tcp", None, None)
    assert [(r.address, r.port, r.weight) for r in vs.servers] == [
        ("198.51.100.1", 8443, 3), ("198.51.100.2", 8443, 5)]


@pytest.mark.parametrize(("text", "line", "fragment"), [
    ("virtual_server 192.0.2.1 80 {\n  lb_algo bogus\n}\n", 2, "scheduler 'bogus' has no lvs.cf"),
    ("virtual_server 192.0.2.1 80 {\n  lb_kind FULLNAT\n}\n", 2, "not NAT, DR or TUN"),
    ("virtual_server 192.0.2.1 80 {\n  protocol SCTP\n}\n", 2, "SCTP"),
    ("virtual_server 192.0.2.1 80 {\n  delay_loop soon\n}\n", 2, "expected a number"),
    ("virtual_server 192.0.2.1 80 {\n  real_server 10.0.0.x 80 {\n  }\n}\n", 2, "not an IP"),
    ("virtual_server 192.0.2.1 80 {\n  real_server 192.0.2.9 80 {\n", 2, "never closed"),
    ("virtual_server 192.0.2.1 80 {\n}\n}\n", 3, "without a matching"),
    ("\n\nvirtual_server group G1 {\n}\nvirtual_server 192.0.2.1 80 {\n}\n", 3, "group has no lvs.cf"),
    ("include /etc/keepalived/lvs.conf\n", 1, "not supported"),
    ("virtual_server 192.0.2.1 80 {\n  lb_kind NAT\n}\n"
     "virtual_server 192.0.2.2 80 {\n  lb_kind DR\n}\n", 5, "one forwarding method"),
    ("global_defs {\n}\n", 0, "no virtual_server"),
    ('virtual_server 192.0.2.1 80 {\n  x "unterminated\n}\n', 2, "unterminated"),
])
def test_import_errors_name_the_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(LvsCfError) as info:
        from_keepalived(text)
    assert info.value.line == line
    assert fragment in info.value.message
