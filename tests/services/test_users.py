"""services.users: argon2id hashes, password policy, epochs, first-start helpers."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from piranha_web.app import create_app
from piranha_web.extensions import db
from piranha_web.models import AuditEntry, User
from piranha_web.services import users

pytestmark = pytest.mark.usefixtures("cheap_argon2")


@pytest.fixture
def users_app(tmp_path: Path) -> Flask:
    return create_app({"INSTANCE_PATH": str(tmp_path / "instance"), "LVS_CF": str(tmp_path / "lvs.cf"),
                       "AUTO_IMPORT": False})


def test_no_user_until_one_is_set(users_app: Flask) -> None:
    with users_app.app_context():
        assert users.any_user_exists(db.session) is False
        users.store_password("piranha", "s3cret-pass")
        assert users.any_user_exists(db.session) is True


def test_password_is_stored_as_argon2id_and_verifies(users_app: Flask) -> None:
    with users_app.app_context():
        user = users.store_password("piranha", "s3cret-pass")
        assert user.password_hash.startswith("$argon2id$")
        assert "s3cret-pass" not in user.password_hash
        assert user.role == "admin" and user.session_epoch == 0
        assert users.authenticate(db.session, "piranha", "s3cret-pass").id == user.id
        assert users.authenticate(db.session, "piranha", "wrong-pass") is None
        assert users.authenticate(db.session, "nobody", "s3cret-pass") is None
        assert users.authenticate(db.session, "", "") is None


def test_changing_a_password_bumps_the_session_epoch(users_app: Flask) -> None:
    with users_app.app_context():
        first = users.store_password("piranha", "s3cret-pass")
        old_id, old_changed = first.get_id(), first.password_changed_at
        second = users.store_password("piranha", "an0ther-pass")
        assert second.id == first.id and second.session_epoch == 1
        assert second.get_id() != old_id and second.password_changed_at >= old_changed
        assert users.authenticate(db.session, "piranha", "s3cret-pass") is None
        actions = [(e.action, e.object_name) for e in db.session.query(AuditEntry).order_by(AuditEntry.id)]
        assert actions == [("user.create", "piranha"), ("user.password", "piranha")]
        details = [(e.detail or "").replace("password", "") for e in db.session.query(AuditEntry)]
        assert all("pass" not in d for d in details)  # no password (or hash) in the log


def test_more_users_and_the_readonly_role(users_app: Flask) -> None:
    with users_app.app_context():
        users.store_password("piranha", "s3cret-pass")
        viewer = users.store_password("viewer", "s3cret-pass", role="readonly")
        assert viewer.role == "readonly" and viewer.can_write is False
        assert [u.username for u in users.list_users(db.session)] == ["piranha", "viewer"]
        with pytest.raises(users.UserError):
            users.store_password("x", "s3cret-pass", role="root")
        with pytest.raises(users.UserError):
            users.store_password("bad name;rm", "s3cret-pass")
        assert db.session.query(User).count() == 2


@pytest.mark.parametrize("password,verify,message", [
    ("", "", "Empty password"),
    ("short", "short", "at least 8"),
    ("long enough", "long enougH", "do not match"),
])
def test_password_policy(password: str, verify: str, message: str) -> None:
    with pytest.raises(users.PasswordError, match=message):
        users.check_password_policy(password, verify)
