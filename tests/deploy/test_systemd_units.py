"""The systemd units parse, carry the required hardening, install, and pass systemd-analyze verify."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from piranha_web.cli.config import main
from piranha_web.cli.config_units import UNIT_SOURCE, UNITS, install, render

BINDIR = Path(sys.executable).parent     # the virtualenv holding pulse and piranha-gui


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """A unit file as section -> key -> values (keys may repeat, as systemd allows)."""
    out: dict[str, dict[str, list[str]]] = {}
    section = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = out.setdefault(line[1:-1], {})
            continue
        assert section is not None, f"key outside a section: {line}"
        key, sep, value = line.partition("=")
        assert sep, f"not key=value: {line}"
        section.setdefault(key.strip(), []).append(value.strip())
    return out


def unit(name: str) -> dict[str, dict[str, list[str]]]:
    return parse_unit((UNIT_SOURCE / name).read_text())


def test_pulse_unit_requirements() -> None:
    svc = unit("pulse.service")["Service"]
    assert svc["Restart"] == ["on-failure"]
    assert svc["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert svc["ProtectSystem"] == ["strict"]
    assert set(svc["ReadWritePaths"][0].split()) >= {"/etc/sysconfig/ha", "/run/piranha"}
    assert set(svc["RestrictAddressFamilies"][0].split()) == {
        "AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK", "AF_PACKET"}
    caps = set(svc["CapabilityBoundingSet"][0].split())
    assert {"CAP_NET_ADMIN", "CAP_NET_RAW"} <= caps
    assert "CAP_SYS_ADMIN" not in caps
    assert svc["ExecStart"][0].startswith("/usr/local/bin/pulse --nodaemon")
    assert svc["Type"] == ["notify"]          # pulse sends READY=1 (sdnotify.py)
    assert int(svc["LimitNOFILE"][0]) >= 65536   # one socket per check in flight, the sync server's headroom
    assert svc["RuntimeDirectoryPreserve"] == ["yes"]   # the last good lvs.cf survives a restart
    assert svc["KillMode"] == ["mixed"]     # SIGTERM to pulse only: it drains; BIRD dies with it


def test_gui_unit_requirements() -> None:
    parsed = unit("piranha-gui.service")
    svc = parsed["Service"]
    assert svc["User"] == ["piranha"]
    assert svc["CapabilityBoundingSet"] == [""]
    assert svc["ProtectSystem"] == ["strict"]
    assert "AF_NETLINK" not in svc["RestrictAddressFamilies"][0]
    assert svc["ExecStart"][0].startswith("/usr/local/bin/piranha-gui")
    assert parsed["Install"]["WantedBy"] == ["multi-user.target"]


def test_render_points_at_bindir() -> None:
    text = render("pulse.service", Path("/opt/piranha/bin"))
    assert "ExecStart=/opt/piranha/bin/pulse " in text
    assert "/usr/local/bin" not in text


def test_install_units_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "units"
    assert main(["install-units", "--bindir", str(BINDIR), "--unit-dir", str(target), "--no-reload"]) == 0
    assert sorted(p.name for p in target.iterdir()) == sorted(UNITS)
    assert f"ExecStart={BINDIR}/pulse" in (target / "pulse.service").read_text()
    assert "next:" in capsys.readouterr().out


def test_install_refuses_a_bindir_without_the_programs(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["install-units", "--prefix", str(tmp_path), "--unit-dir", str(tmp_path / "u"),
                 "--no-reload"]) == 1
    assert "no pulse or piranha-gui" in capsys.readouterr().err


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    """systemd's own checker accepts both installed units without a single warning."""
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze missing: scripts/test.sh installs the systemd package"
    written = install(tmp_path, BINDIR)
    result = subprocess.run([analyze, "verify", *map(str, written)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    relevant = [ln for ln in result.stderr.splitlines() if any(u in ln for u in UNITS)]
    assert relevant == [], result.stderr
