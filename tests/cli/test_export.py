"""``piranha-config export``: every format, to stdout or a file, from any source format."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from piranha_web.cli.config import main
from piranha_web.convert import from_json, from_keepalived
from piranha_web.lvscf import load, parse

DATA = Path(__file__).resolve().parents[1] / "data" / "lvscf"
SEED = DATA / "seed.cf"


def test_export_json_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "--format", "json", "--from", str(SEED)]) == 0
    out = capsys.readouterr().out
    assert json.loads(out)["virtuals"][0]["name"] == "www"
    assert from_json(out) == load(SEED.read_text())


def test_export_uses_piranha_lvs_cf_by_default(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PIRANHA_LVS_CF", str(SEED))
    assert main(["export"]) == 0
    assert parse(capsys.readouterr().out) == load(SEED.read_text())


def test_export_keepalived_to_file(tmp_path: Path) -> None:
    target = tmp_path / "keepalived.conf"
    assert main(["export", "-f", "keepalived", "--from", str(SEED), str(target)]) == 0
    assert from_keepalived(target.read_text()).virtuals[0].name == "www"
    assert target.stat().st_mode & 0o777 == 0o600


def test_export_backup_role(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "-f", "keepalived", "--role", "backup",
                 "--from", str(DATA / "sample-redundant.cf")]) == 0
    assert "state BACKUP" in capsys.readouterr().out


@pytest.mark.parametrize("fmt", ["json", "keepalived"])
def test_round_trip_through_each_format(tmp_path: Path, fmt: str) -> None:
    """lvs.cf -> FORMAT -> lvs.cf gives the same configuration (seed article)."""
    middle, back = tmp_path / f"mid.{fmt}", tmp_path / "back.cf"
    assert main(["export", "-f", fmt, "--from", str(SEED), str(middle)]) == 0
    assert main(["export", "-f", "lvs.cf", "--from", str(middle), str(back)]) == 0
    original, result = load(SEED.read_text()), load(back.read_text())
    assert result == original


def test_invalid_source_names_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "lvs.cf"
    bad.write_text("serial_no = 1\nnetwork = nat\nvirtual v {\n\tactive = 1\n\tscheduler = zz\n}\n")
    assert main(["export", "--from", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:5: scheduler:" in err


def test_no_validate_exports_anyway(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "lvs.cf"
    bad.write_text("network = nat\nvirtual v {\n\tscheduler = zz\n}\n")
    assert main(["export", "-f", "json", "--no-validate", "--from", str(bad)]) == 0
    assert json.loads(capsys.readouterr().out)["virtuals"][0]["scheduler"] == "zz"


def test_missing_source_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "--from", str(tmp_path / "nope.cf")]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_console_script_runs_without_flask(tmp_path: Path) -> None:
    """export must work on a director with no console: it never imports Flask."""
    code = ("import sys; from piranha_web.cli.config import main; "
            f"rc = main(['export', '-f', 'json', '--from', {str(SEED)!r}, {str(tmp_path / 'o.json')!r}]); "
            "assert rc == 0; assert 'flask' not in sys.modules and 'sqlalchemy' not in sys.modules")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
