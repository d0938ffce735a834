"""``piranha-passwd``: prompts, --stdin, refusals, sessions ended, same DB as the console."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask

from piranha_web.app import create_app
from piranha_web.cli import passwd
from piranha_web.extensions import db
from piranha_web.services import users

pytestmark = pytest.mark.usefixtures("cheap_argon2")


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    instance = tmp_path / "instance"
    monkeypatch.setenv("PIRANHA_INSTANCE", str(instance))
    monkeypatch.setenv("PIRANHA_LVS_CF", str(tmp_path / "lvs.cf"))
    monkeypatch.delenv("PIRANHA_DATABASE_URL", raising=False)
    return instance


def stored_user(name: str = "piranha"):  # noqa: ANN201
    app = create_app({"AUTO_IMPORT": False})
    with app.app_context():
        user = users.get_user(db.session, name)
        db.session.expunge_all()
        return user


def check(name: str, password: str) -> bool:
    app = create_app({"AUTO_IMPORT": False})
    with app.app_context():
        return users.authenticate(db.session, name, password) is not None


def prompts(*answers: str):  # noqa: ANN201
    asked: list[str] = []
    it = iter(answers)

    def prompt(text: str) -> str:
        asked.append(text)
        return next(it)

    prompt.asked = asked  # type: ignore[attr-defined]
    return prompt


def test_interactive_default_user(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prompt = prompts("s3cret-pass", "s3cret-pass")
    assert passwd.main([], prompt=prompt) == 0
    assert prompt.asked == ["New Password: ", "Verify: "]
    assert "piranha" in capsys.readouterr().out
    assert check("piranha", "s3cret-pass")
    assert stored_user().password_hash.startswith("$argon2id$")


@pytest.mark.parametrize("answers,message", [
    (("", ""), "Empty password refused"),
    (("s3cret-pass", "s3cret-pasS"), "Passwords do not match."),
    (("short", "short"), "at least 8 characters"),
])
def test_refusals_exit_1_with_a_message(env: Path, capsys: pytest.CaptureFixture[str],
                                        answers: tuple[str, str], message: str) -> None:
    assert passwd.main(["piranha"], prompt=prompts(*answers)) == 1
    assert message in capsys.readouterr().err
    assert stored_user() is None


def test_stdin_for_scripts(env: Path) -> None:
    assert passwd.main(["--stdin", "ops"], stdin=io.StringIO("from-a-script\n")) == 0
    assert check("ops", "from-a-script")
    assert passwd.main(["--stdin", "ops"], stdin=io.StringIO("tiny\n")) == 1
    assert passwd.main(["--stdin", "ops"], stdin=io.StringIO("")) == 1
    assert check("ops", "from-a-script")


def test_change_bumps_epoch_and_adds_users(env: Path) -> None:
    assert passwd.main(["--stdin"], stdin=io.StringIO("first-password\n")) == 0
    assert passwd.main(["--stdin"], stdin=io.StringIO("second-password\n")) == 0
    assert stored_user().session_epoch == 1
    viewer = io.StringIO("viewer-password\n")
    assert passwd.main(["--stdin", "viewer", "--role", "readonly"], stdin=viewer) == 0
    assert stored_user("viewer").role == "readonly"
    assert check("piranha", "second-password") and not check("piranha", "first-password")


def test_bad_user_name(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert passwd.main(["--stdin", "a b"], stdin=io.StringIO("long-enough\n")) == 1
    assert "Invalid user name" in capsys.readouterr().err


def test_console_script_reads_stdin(env: Path, tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("piranha-passwd")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "piranha_web.cli.passwd"]
    proc = subprocess.run([*cmd, "--stdin", "piranha"], input="via-console-script\n", text=True,
                          capture_output=True, env=dict(os.environ), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert check("piranha", "via-console-script")
    assert not (tmp_path / "lvs.cf").exists()  # setting a password never touches lvs.cf


@pytest.fixture
def prompt_app(tmp_path: Path) -> Flask:
    """A console app (piranha-gui's first start runs the prompt inside its app context)."""
    return create_app({"INSTANCE_PATH": str(tmp_path / "instance"), "LVS_CF": str(tmp_path / "lvs.cf"),
                       "AUTO_IMPORT": False})


def test_prompt_and_set_password_asks_twice_without_echo(prompt_app: Flask) -> None:
    asked: list[str] = []
    answers = iter(["s3cret-pass", "s3cret-pass"])

    def prompt(text: str) -> str:
        asked.append(text)
        return next(answers)

    with prompt_app.app_context():
        user = passwd.prompt_and_set_password("piranha", prompt=prompt)
        assert asked == ["New Password: ", "Verify: "]
        assert users.authenticate(db.session, user.username, "s3cret-pass") is not None


def test_prompt_and_set_password_refuses_a_mismatch(prompt_app: Flask) -> None:
    answers = iter(["s3cret-pass", "s3cret-paSS"])
    with prompt_app.app_context():
        with pytest.raises(users.PasswordError, match="do not match"):
            passwd.prompt_and_set_password("piranha", prompt=lambda _: next(answers))
        assert not users.any_user_exists(db.session)
