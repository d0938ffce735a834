"""``piranha-config import`` takes JSON and keepalived.conf too, and round-trips with export."""

from __future__ import annotations

from pathlib import Path

import pytest

from piranha_web.cli.config import main
from piranha_web.convert import dumps_as
from piranha_web.lvscf import load

DATA = Path(__file__).resolve().parents[1] / "data" / "lvscf"
SEED = DATA / "seed.cf"


def _definitions() -> object:
    from piranha_web.app import create_app
    from piranha_web.services import lvsconfig

    app = create_app({"AUTO_IMPORT": False})
    with app.app_context():
        return lvsconfig.build().cfg


@pytest.mark.parametrize("fmt", ["json", "keepalived"])
def test_import_other_formats_into_the_console(cli_instance: Path, fmt: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    source = cli_instance / f"seed.{fmt}"
    source.write_text(dumps_as(load(SEED.read_text()), fmt))
    assert main(["import", str(source)]) == 0, capsys.readouterr().err
    cfg = _definitions()
    assert [v.name for v in cfg.virtuals] == ["www"]                     # type: ignore[attr-defined]
    assert [s.address for s in cfg.virtuals[0].servers] == ["192.168.1.1", "192.168.1.2"]  # type: ignore
    assert cfg.nat_router == "192.168.1.10"                              # type: ignore[attr-defined]


def test_import_then_export_round_trip(cli_instance: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """import (JSON) -> publish path untouched -> export from the imported text == original."""
    source = cli_instance / "seed.json"
    source.write_text(dumps_as(load(SEED.read_text()), "json"))
    assert main(["import", "--format", "json", str(source)]) == 0
    capsys.readouterr()
    assert main(["export", "-f", "json", "--from", str(source)]) == 0
    assert capsys.readouterr().out == source.read_text()


def test_import_reports_errors_with_lines(cli_instance: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = cli_instance / "bad.conf"
    source.write_text("virtual_server 192.0.2.1 80 {\n  lb_algo bogus\n}\n")
    assert main(["import", str(source)]) == 1
    assert f"{source}:2:" in capsys.readouterr().err
