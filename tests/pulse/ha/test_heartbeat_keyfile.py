"""The ``heartbeat_key_file`` extension key: parsed, written back, validated as an absolute path."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from piranha_web import lvscf

sys.path.insert(0, str(Path(__file__).parents[1]))
from pulsekit import ha_pair_globals  # noqa: E402

BASE = ha_pair_globals(3)


def test_parse_and_roundtrip() -> None:
    cfg = lvscf.load(BASE + "heartbeat_key_file = /etc/sysconfig/ha/heartbeat.key\n")
    assert cfg.heartbeat_key_file == "/etc/sysconfig/ha/heartbeat.key"
    assert "heartbeat_key_file = /etc/sysconfig/ha/heartbeat.key" in lvscf.dumps(cfg)
    assert lvscf.parse(lvscf.dumps(cfg)) == cfg


def test_absent_by_default_and_not_written() -> None:
    cfg = lvscf.load(BASE)
    assert cfg.heartbeat_key_file is None
    assert "heartbeat_key_file" not in lvscf.dumps(cfg)


def test_relative_path_refused() -> None:
    with pytest.raises(lvscf.LvsCfError) as err:
        lvscf.load(BASE + "heartbeat_key_file = heartbeat.key\n")
    assert any(p.key == "heartbeat_key_file" for p in err.value.problems)
