"""Role decisions and the status-file helpers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from piranha_web.pulse.ha.role import Role, initial_role, programs_kernel
from piranha_web.pulse.statusfile import format_status, read_status, runtime_dir, write_status


def test_initial_role_follows_piranha() -> None:
    assert initial_role(backup_active=False, forceactive=False, is_primary=False) is Role.STANDALONE
    assert initial_role(True, True, False) is Role.ACTIVE
    assert initial_role(True, False, True) is Role.ACTIVE
    assert initial_role(True, False, False) is Role.BACKUP
    assert programs_kernel(Role.STANDALONE) and programs_kernel(Role.ACTIVE)
    assert not programs_kernel(Role.BACKUP)


def test_runtime_dir_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PIRANHA_INSTANCE", raising=False)
    assert runtime_dir() == Path("/run/piranha")
    monkeypatch.setenv("PIRANHA_INSTANCE", str(tmp_path))
    assert runtime_dir() == tmp_path
    assert runtime_dir("/x") == Path("/x")


def test_status_roundtrip_and_rendering(tmp_path: Path) -> None:
    doc = {"pid": 1, "state": "running", "role": "standalone", "backend": "dry-run", "serial_no": 3,
           "config": "/etc/lvs.cf", "config_sha256": "ab" * 32, "ops_applied": 4,
           "last_reload": {"ok": False, "error": "lvs.cf:3: bad", "time": 1.0},
           "table": [{"service": "TCP 203.0.113.10:80", "scheduler": "rr", "persistent": 0, "managed": True,
                      "dests": [{"addr": "192.0.2.1", "port": 80, "weight": 2, "fwd": "nat",
                                 "active_conns": 5, "inactive_conns": 1}]}],
           "health": {"www": {"rs1": {"address": "192.0.2.1", "port": 80, "state": "up",
                                      "last_result": "connected", "duration": 0.001}}}}
    path = tmp_path / "pulse-status.json"
    write_status(path, doc)
    assert read_status(path) == doc
    text = format_status(doc)
    assert "last reload FAILED: lvs.cf:3: bad" in text
    assert "  -> 192.0.2.1:80                 Masq    2      5          1" in text
    assert "www/rs1 192.0.2.1:80 UP (connected" in text
    path.write_text("{not json")
    assert read_status(path) is None
    path.write_text(json.dumps([1]))
    assert read_status(path) is None
