"""Format detection and read_any: the import command's front door."""

from __future__ import annotations

from pathlib import Path

import pytest

from piranha_web.convert import detect_format, dumps_as, loads_any, read_any
from piranha_web.lvscf import LvsCfError, load


@pytest.mark.parametrize("fmt", ["lvs.cf", "json", "keepalived"])
def test_each_export_is_detected_and_read_back(seed_file: Path, tmp_path: Path, fmt: str) -> None:
    cfg = load(seed_file.read_text())
    path = tmp_path / "exported.conf"
    path.write_text(dumps_as(cfg, fmt))
    assert detect_format(path.read_text()) == fmt
    back = read_any(path)
    assert [v.name for v in back.virtuals] == ["www"]
    assert [s.address for s in back.virtuals[0].servers] == ["192.168.1.1", "192.168.1.2"]


def test_lvs_cf_with_comments_is_not_mistaken_for_keepalived() -> None:
    text = "# virtual_server is a keepalived word\nserial_no = 1\n"
    assert detect_format(text) == "lvs.cf"


def test_explicit_format_wins() -> None:
    with pytest.raises(LvsCfError):
        loads_any("serial_no = 1\n", fmt="json")


def test_read_any_validates_by_default(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"network": "direct", "virtuals": [{"name": "v", "scheduler": "nope"}]}')
    with pytest.raises(LvsCfError, match="scheduler"):
        read_any(path)
    assert read_any(path, validate=False).virtuals[0].scheduler == "nope"


def test_unknown_format_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        loads_any("x", fmt="yaml")
