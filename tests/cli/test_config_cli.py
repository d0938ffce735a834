"""``piranha-config check`` / ``fmt``: the real console script on the lvs.cf corpus."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from piranha_web.cli import config as cli

DATA = Path(__file__).resolve().parent.parent / "data" / "lvscf"
SCRIPT = Path(sys.executable).parent / "piranha-config"
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "piranha_web.cli.config"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ)
    full_env.pop("PIRANHA_LVS_CF", None)
    full_env.update(env or {})
    return subprocess.run([*COMMAND, *args], capture_output=True, text=True, timeout=60,
                          env=full_env, check=False)


def _broken() -> list[tuple[str, int, str]]:
    rows = []
    for raw in (DATA / "broken" / "expected.txt").read_text().splitlines():
        if raw.strip() and not raw.startswith("#"):
            name, line, fragment = raw.split(None, 2)
            rows.append((name, int(line), fragment))
    return rows


# --------------------------------------------------------------------------- the real script

def test_help_lists_subcommands() -> None:
    result = run("--help")
    assert result.returncode == 0
    assert "check" in result.stdout and "fmt" in result.stdout


def test_check_ok_summary() -> None:
    path = DATA / "seed.cf"
    result = run("check", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout == (f"{path}: ok, 1 virtual server (1 active), 2 real servers, "
                             "0 failover services\n")
    assert result.stderr == ""


def test_check_reports_every_problem_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "lvs.cf"
    path.write_text("serial_no = 1\nnetwork = direct\nkeepalive = 0\nvirtual v {\n"
                    "scheduler = fifo\n}\nbackup_active = 1\n")
    result = run("check", str(path))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines == [
        f"{path}:3: keepalive: must be more than 0 seconds",
        f"{path}:5: scheduler: invalid argument 'fifo' "
        "(one of: rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, mh)",
        f"{path}:7: backup_active: backup_active = 1 but no backup address is set",
    ]
    assert result.stdout == ""


def test_check_syntax_error() -> None:
    path = DATA / "broken" / "trailing-comment.cf"
    result = run("check", str(path))
    assert result.returncode == 1
    assert result.stderr == f"{path}:8: port: unexpected arguments\n"


def test_check_default_path_from_environment() -> None:
    path = DATA / "sample-redundant.cf"
    result = run("check", env={"PIRANHA_LVS_CF": str(path)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{path}: ok, 1 virtual server (1 active), 2 real servers, "
                                    "1 failover service\n")


@pytest.mark.parametrize("target", ["missing.cf", "."])
def test_unreadable_file_is_a_clean_error(tmp_path: Path, target: str) -> None:
    result = run("check", str(tmp_path / target))
    assert result.returncode == 1
    assert "cannot read" in result.stderr
    assert "Traceback" not in result.stderr


def test_fmt_prints_canonical_form() -> None:
    result = run("fmt", str(DATA / "crlf-tabs.cf"))
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stdout
    assert "virtual web {\n\tactive = 1\n\taddress = 192.0.2.10 eth0:1\n" in result.stdout


def test_fmt_write_replaces_atomically_and_keeps_mode(tmp_path: Path) -> None:
    path = tmp_path / "lvs.cf"
    path.write_bytes((DATA / "every-keyword.cf").read_bytes())
    path.chmod(0o640)
    result = run("fmt", "--write", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lvs.cf"]
    assert run("fmt", "--check", str(path)).returncode == 0
    assert run("check", str(path)).returncode == 0


def test_fmt_check_flags_non_canonical_files() -> None:
    result = run("fmt", "--check", str(DATA / "seed.cf"))
    assert result.returncode == 1
    assert "not in canonical form" in result.stderr


def test_fmt_refuses_broken_files(tmp_path: Path) -> None:
    path = tmp_path / "lvs.cf"
    original = "virtual v {\n"
    path.write_text(original)
    result = run("fmt", "--write", str(path))
    assert result.returncode == 1
    assert f"{path}:1: virtual: unexpected end of file" in result.stderr
    assert path.read_text() == original


def test_usage_errors_exit_2() -> None:
    assert run().returncode == 2
    assert run("no-such-command").returncode == 2
    assert run("fmt").returncode == 2


def test_check_and_fmt_do_not_import_the_web_stack() -> None:
    code = ("import sys\nfrom piranha_web.cli.config import main\n"
            f"assert main(['check', {str(DATA / 'seed.cf')!r}]) == 0\n"
            f"main(['fmt', {str(DATA / 'seed.cf')!r}])\n"
            "bad = [m for m in ('flask', 'sqlalchemy', 'pyroute2') if m in sys.modules]\n"
            "assert not bad, bad\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr


# --------------------------------------------------------------------------- in-process, whole corpus

@pytest.mark.parametrize("path", sorted(DATA.glob("*.cf")), ids=lambda p: p.name)
def test_check_every_good_file(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check", str(path)]) == 0
    assert capsys.readouterr().out.startswith(f"{path}: ok, ")


@pytest.mark.parametrize(("name", "line", "fragment"), _broken(), ids=lambda v: str(v))
def test_check_every_broken_file(name: str, line: int, fragment: str,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = DATA / "broken" / name
    assert cli.main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert any(row.startswith(f"{path}:{line}: ") and fragment in row
               for row in err.splitlines()), err


def test_registry_entries_are_module_function_specs() -> None:
    for name, (spec, help_text) in cli.SUBCOMMANDS.items():
        module, colon, func = spec.partition(":")
        assert colon and module.startswith("piranha_web.") and func, name
        assert help_text


def test_registered_but_missing_module_is_a_usage_error(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(cli.SUBCOMMANDS, "ghost", ("piranha_web.cli.no_such_module:register",
                                                   "not installed"))
    with pytest.raises(SystemExit) as info:
        cli.main(["ghost"])
    assert info.value.code == 2
    assert "not available" in capsys.readouterr().err


def test_fmt_into_a_closed_pipe_is_quiet() -> None:
    proc = subprocess.Popen([*COMMAND, "fmt", str(DATA / "every-keyword.cf")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=60) in (0, 1)
    assert "Traceback" not in err


def test_check_and_fmt_read_standard_input() -> None:
    text = (DATA / "seed.cf").read_text()
    result = subprocess.run([*COMMAND, "check", "-"], input=text, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("<stdin>: ok, 1 virtual server")
    result = subprocess.run([*COMMAND, "fmt", "-"], input=text, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("serial_no = 1\nprimary = 210.220.230.1\n")
    result = subprocess.run([*COMMAND, "fmt", "--write", "-"], input=text, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 1 and "standard input" in result.stderr
