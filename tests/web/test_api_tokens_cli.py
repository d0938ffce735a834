"""``piranha-config token``: create prints the secret once, list never shows it, revoke stops it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from piranha_web.app import create_app
from piranha_web.cli.config import main
from piranha_web.services import users


@pytest.fixture
def instance(cli_instance: Path) -> Path:
    """A tmp instance (via the environment, as the CLI sees it) with the user alice."""
    app = create_app({"AUTO_IMPORT": False})
    with app.app_context():
        users.store_password("alice", "correct horse battery")
    return cli_instance


def test_create_list_use_revoke(instance: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "create", "alice", "--name", "ci"]) == 0
    secret = capsys.readouterr().out.strip()
    assert secret.startswith("pwt_")
    client = create_app({"AUTO_IMPORT": False}).test_client()
    assert client.get("/api/v1/settings", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    assert main(["token", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(t["user"], t["name"]) for t in listed] == [("alice", "ci")]
    assert secret not in json.dumps(listed)
    assert main(["token", "revoke", str(listed[0]["id"])]) == 0
    assert client.get("/api/v1/settings", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    assert main(["token", "list", "--all"]) == 0
    assert "revoked" in capsys.readouterr().out


def test_errors(instance: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "create", "nobody", "--name", "x"]) == 1
    assert "no console user" in capsys.readouterr().err
    assert main(["token", "revoke", "42"]) == 1
