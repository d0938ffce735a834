"""``piranha-config doctor`` against a fake /proc and /sys: every check, OK and FAIL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from piranha_web.cli import config_doctor
from piranha_web.cli.config import main
from piranha_web.cli.config_doctor import Host, format_report, run_checks

DATA = Path(__file__).resolve().parents[1] / "data" / "lvscf"
SEED = DATA / "seed.cf"


def fake_host(tmp_path: Path, *, ipvs: bool = True, modprobe: bool = False, forward: str = "1",
              devices: tuple[str, ...] = ("eth0", "eth1"), tools: tuple[str, ...] = ("nft",),
              addresses: dict[str, str] | None = None) -> Host:
    root = tmp_path / "root"
    (root / "proc/net").mkdir(parents=True)
    (root / "proc/sys/net/ipv4").mkdir(parents=True)
    (root / "proc/sys/net/ipv4/ip_forward").write_text(forward + "\n")
    if ipvs:
        (root / "proc/net/ip_vs").write_text("IP Virtual Server version 1.2.1\n")
    for dev in devices:
        (root / "sys/class/net" / dev).mkdir(parents=True)
    return Host(root=root, which=lambda tool: f"/usr/sbin/{tool}" if tool in tools else None,
                addresses={"210.220.230.1": "eth0"} if addresses is None else addresses,
                modprobe_ok=modprobe)


def _by_name(checks: list[config_doctor.Check]) -> dict[str, config_doctor.Check]:
    return {c.name: c for c in checks}


def test_healthy_seed_director_passes(tmp_path: Path) -> None:
    checks = run_checks(str(SEED), fake_host(tmp_path))
    assert all(c.ok for c in checks), format_report(checks)
    names = _by_name(checks)
    assert set(names) == {"lvs.cf", "ipvs", "ip_forward", "firewall tool", "device eth0", "device eth1",
                          "role address"}
    assert "primary" in names["role address"].detail


@pytest.mark.parametrize(("kwargs", "failing", "fix_fragment"), [
    ({"ipvs": False}, "ipvs", "modprobe ip_vs"),
    ({"forward": "0"}, "ip_forward", "sysctl -w net.ipv4.ip_forward=1"),
    ({"tools": ()}, "firewall tool", "install nftables"),
    ({"devices": ("eth0",)}, "device eth1", "ip -br link"),
    ({"addresses": {"10.0.0.1": "eth0"}}, "role address", "ip addr add 210.220.230.1"),
])
def test_each_problem_fails_with_a_fix(tmp_path: Path, kwargs: dict, failing: str, fix_fragment: str) -> None:
    checks = run_checks(str(SEED), fake_host(tmp_path, **kwargs))
    failed = [c for c in checks if not c.ok]
    assert [c.name for c in failed] == [failing]
    assert fix_fragment in failed[0].fix
    assert f"[FAIL] {failing}:" in format_report(checks)


def test_loadable_ipvs_is_ok(tmp_path: Path) -> None:
    checks = _by_name(run_checks(str(SEED), fake_host(tmp_path, ipvs=False, modprobe=True)))
    assert checks["ipvs"].ok and "modprobe" in checks["ipvs"].detail


def test_direct_routing_needs_no_forwarding(tmp_path: Path) -> None:
    cfg = tmp_path / "lvs.cf"
    cfg.write_text(SEED.read_text().replace("network = nat", "network = direct"))
    checks = _by_name(run_checks(str(cfg), fake_host(tmp_path, forward="0", devices=("eth0",))))
    assert checks["ip_forward"].ok and "not needed" in checks["ip_forward"].detail
    assert "device eth1" not in checks        # nat_router is not used without NAT


def test_backup_node_is_recognised(tmp_path: Path) -> None:
    host = fake_host(tmp_path, devices=("eth0", "eth1"), addresses={"207.175.44.196": "eth0",
                                                                    "10.11.12.2": "eth2"})
    checks = _by_name(run_checks(str(DATA / "sample-redundant.cf"), host))
    assert checks["role address"].ok and "backup" in checks["role address"].detail
    assert checks["heartbeat address"].ok


def test_invalid_config_fails_and_skips_dependent_checks(tmp_path: Path) -> None:
    bad = tmp_path / "lvs.cf"
    bad.write_text("serial_no = 1\nbogus = 2\n")
    checks = run_checks(str(bad), fake_host(tmp_path))
    assert not checks[0].ok and f"{bad}:2:" in checks[0].detail
    assert [c.name for c in checks] == ["lvs.cf", "ipvs", "firewall tool"]


def test_missing_config(tmp_path: Path) -> None:
    checks = run_checks(str(tmp_path / "none.cf"), fake_host(tmp_path))
    assert not checks[0].ok and "cannot read" in checks[0].detail


def test_command_exit_status_and_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    host = fake_host(tmp_path)
    monkeypatch.setattr(config_doctor, "Host", lambda: host)
    assert main(["doctor", str(SEED)]) == 0
    out = capsys.readouterr().out
    assert "[ OK ] ipvs:" in out and out.rstrip().endswith("7 ok, 0 failed")
    assert main(["doctor", "--json", str(tmp_path / "none.cf")]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report[0] == {"name": "lvs.cf", "ok": False, "detail": report[0]["detail"],
                         "fix": report[0]["fix"]}


def test_real_host_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """On the real machine the doctor completes (result depends on the host)."""
    assert main(["doctor", str(SEED)]) in (0, 1)
    assert "[" in capsys.readouterr().out


def test_ipv6_nat_service_needs_ipv6_forwarding(tmp_path: Path) -> None:
    cfg = tmp_path / "lvs.cf"
    text = SEED.read_text().replace("210.220.230.10 eth0:1", "2001:db8:10::10 eth0:1")
    text = text.replace("vip_nmask = 255.255.255.0", "vip_nmask = 64")
    for old, new in (("= 192.168.1.1\n", "= 2001:db8:1::1\n"), ("= 192.168.1.2\n", "= 2001:db8:1::2\n")):
        text = text.replace(old, new)
    cfg.write_text(text)
    host = fake_host(tmp_path, forward="0")
    (host.root / "proc/sys/net/ipv6/conf/all").mkdir(parents=True)
    (host.root / "proc/sys/net/ipv6/conf/all/forwarding").write_text("0\n")
    checks = _by_name(run_checks(str(cfg), host))
    assert "ip_forward" not in checks              # no IPv4 NAT service: IPv4 forwarding does not matter
    assert not checks["ipv6 forwarding"].ok
    assert "sysctl -w net.ipv6.conf.all.forwarding=1" in checks["ipv6 forwarding"].fix
    (host.root / "proc/sys/net/ipv6/conf/all/forwarding").write_text("1\n")
    assert _by_name(run_checks(str(cfg), host))["ipv6 forwarding"].ok
