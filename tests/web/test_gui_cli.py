"""piranha-gui (refuses to start without a user, runs real gunicorn) and piranha-config db/import."""

from __future__ import annotations

import getpass
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from piranha_web import lvscf
from piranha_web.app import create_app, has_users
from piranha_web.cli import gui
from piranha_web.extensions import db
from piranha_web.models import Revision, VirtualServer
from tests.support.ports import free_port

BIN = Path(sys.executable).parent
GOOD = ("serial_no = 3\nprimary = 192.0.2.1\nnetwork = direct\n"
        "virtual www {\n address = 203.0.113.10 eth0:1\n}\n")


def env_for(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(PIRANHA_INSTANCE=str(tmp_path / "instance"), PIRANHA_LVS_CF=str(tmp_path / "lvs.cf"))
    env.pop("PIRANHA_DATABASE_URL", None)
    env.pop("PIRANHA_SECRET_KEY", None)
    return env


def test_gunicorn_command_line_defaults() -> None:
    argv = gui.gunicorn_argv(gui.build_parser().parse_args([]))
    assert argv[:3] == [sys.executable, "-m", "gunicorn"]
    assert argv[argv.index("--bind") + 1] == "127.0.0.1:3636"
    assert argv[argv.index("--workers") + 1] == "2" and argv[-1] == "piranha_web.wsgi:app"
    assert "--chdir" not in argv  # the app is found as a package, from any directory
    argv = gui.gunicorn_argv(gui.build_parser().parse_args(["--bind", "127.0.0.1:9", "--workers", "3"]))
    assert "127.0.0.1:9" in argv and "3" in argv


def test_refuses_to_start_without_a_user_and_without_a_tty(tmp_path) -> None:
    result = subprocess.run([str(BIN / "piranha-gui")], env=env_for(tmp_path), stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "piranha-passwd" in result.stderr


def test_prepare_only_checks_for_a_user_and_exits_without_serving(tmp_path) -> None:
    env = env_for(tmp_path)
    run = [str(BIN / "piranha-gui"), "--prepare-only"]
    refused = subprocess.run(run, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                             timeout=60)
    assert refused.returncode == 1 and "piranha-passwd" in refused.stderr
    subprocess.run([str(BIN / "piranha-passwd"), "--stdin"], env=env, input="a long enough password\n",
                   capture_output=True, text=True, timeout=60, check=True)
    ready = subprocess.run(run, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert ready.returncode == 0, ready.stderr


def test_with_a_tty_it_asks_for_the_password(tmp_path, monkeypatch) -> None:
    app = create_app({"INSTANCE_PATH": str(tmp_path), "LVS_CF": str(tmp_path / "lvs.cf"), "SECRET_KEY": "k"})
    answers = iter(["a long enough password", "a long enough password"])
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": next(answers))
    assert gui.ensure_user(app, interactive=True)
    assert has_users(app)


def test_with_a_tty_a_mismatch_is_refused(tmp_path, monkeypatch) -> None:
    app = create_app({"INSTANCE_PATH": str(tmp_path), "LVS_CF": str(tmp_path / "lvs.cf"), "SECRET_KEY": "k"})
    answers = iter(["a long enough password", "another password!!"])
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": next(answers))
    assert not gui.ensure_user(app, interactive=True)
    assert not has_users(app)


@pytest.mark.slow
def test_runs_gunicorn_with_two_workers(tmp_path) -> None:
    env = env_for(tmp_path)
    subprocess.run([str(BIN / "piranha-passwd"), "--stdin"], input="a long enough password\n", env=env,
                   check=True, capture_output=True, text=True, timeout=60)
    port = free_port()
    proc = subprocess.Popen([str(BIN / "piranha-gui"), "--bind", f"127.0.0.1:{port}"], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        deadline = time.monotonic() + 30
        status = None
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as response:
                    status = response.status
                    break
            except OSError:  # refused, or accepted before a worker is up (read timeout)
                time.sleep(0.2)
        assert status == 200
        opener = urllib.request.build_opener(NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as err:
            opener.open(f"http://127.0.0.1:{port}/settings/", timeout=5)
        assert err.value.code == 302
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0]
    assert output.count("Booting worker") == 2, output


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None


def test_config_db_upgrade(tmp_path) -> None:
    result = subprocess.run([str(BIN / "piranha-config"), "db", "upgrade"], env=env_for(tmp_path),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "instance" / "piranha.db").exists()


def test_config_import(tmp_path) -> None:
    src = tmp_path / "old.cf"
    src.write_text(GOOD)
    env = env_for(tmp_path)
    result = subprocess.run([str(BIN / "piranha-config"), "import", str(src)], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "revision 1" in result.stdout
    app = create_app({"INSTANCE_PATH": env["PIRANHA_INSTANCE"], "LVS_CF": env["PIRANHA_LVS_CF"],
                      "SECRET_KEY": "k"})
    with app.app_context():
        assert [v.name for v in db.session.query(VirtualServer)] == ["www"]
        assert db.session.get(Revision, 1).serial_no == 3
    src.write_text("serial_no = 1\nvirtual www {\n port = http80\n}\n")
    result = subprocess.run([str(BIN / "piranha-config"), "import", str(src)], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and f"{src}:3:" in result.stderr


def test_lvscf_of_an_import_is_checkable(tmp_path) -> None:
    assert lvscf.load(GOOD).virtual("www").address == "203.0.113.10"
