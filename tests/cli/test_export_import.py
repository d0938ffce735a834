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


def test_import_publish_writes_what_export_prints(cli_instance: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """``import --publish`` goes through ACCEPT's path: lvs.cf written, equal to ``export``."""
    lvs_cf = cli_instance / "lvs.cf"
    assert main(["import", "--publish", str(SEED)]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "imported as revision 1" in out
    assert f"{lvs_cf}: published revision 2 (serial_no 2); pulse: not-running" in out
    assert main(["export"]) == 0
    assert capsys.readouterr().out == lvs_cf.read_text()
    assert load(lvs_cf.read_text()).virtual("www") is not None


def test_publish_prints_the_revision_and_pulses_answer(cli_instance: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from piranha_web.services import changes, pulse_status

    assert main(["import", str(SEED)]) == 0
    assert not (cli_instance / "lvs.cf").exists()  # import alone leaves lvs.cf to a publish
    monkeypatch.setattr(changes, "notify_pulse", lambda serial: pulse_status.ReloadOutcome("applied", None))
    capsys.readouterr()
    assert main(["publish", "-m", "from the test"]) == 0
    assert "published revision 2 (serial_no 2); pulse: applied" in capsys.readouterr().out
    monkeypatch.setattr(changes, "notify_pulse",
                        lambda serial: pulse_status.ReloadOutcome("failed", "line 3: bad"))
    assert main(["publish"]) == 1  # pulse refused the file: the exit status says so
    assert "published revision 3 (serial_no 3); pulse: failed: line 3: bad" in capsys.readouterr().out
    assert load((cli_instance / "lvs.cf").read_text()).serial_no == 3


LOSSY = Path(__file__).resolve().parents[1] / "convert" / "fixtures" / "keepalived" / "lossy.conf"


def test_keepalived_import_with_losses_needs_lossy(cli_instance: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Without --lossy nothing is imported and every lost setting is named with its line."""
    assert main(["import", str(SEED)]) == 0
    capsys.readouterr()
    assert main(["import", str(LOSSY)]) == 1
    err = capsys.readouterr().err
    assert f"{LOSSY}:41: quorum: " in err and f"{LOSSY}:55: SMTP_CHECK: " in err
    assert "--lossy" in err and "warning:" not in err
    assert [v.name for v in _definitions().virtuals] == ["www"]          # type: ignore[attr-defined]
    assert main(["import", "--lossy", str(LOSSY)]) == 0
    err = capsys.readouterr().err
    assert f"{LOSSY}:41: warning: quorum: " in err and f"{LOSSY}:32: warning: virtual_server: " in err
    assert [v.address for v in _definitions().virtuals] == ["192.0.2.80"]  # type: ignore[attr-defined]


def test_export_from_keepalived_with_losses_needs_lossy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "--from", str(LOSSY)]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and f"{LOSSY}:75: bfd_instance: " in captured.err
    assert main(["export", "--lossy", "--from", str(LOSSY)]) == 0
    captured = capsys.readouterr()
    assert "virtual vs2 {" in captured.out and f"{LOSSY}:75: warning: bfd_instance: " in captured.err
