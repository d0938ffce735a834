"""The database and its -wal/-shm are 0600 and the instance directory 0700, whatever the umask."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Iterator

import pytest

from piranha_web.app import create_app
from piranha_web.extensions import db
from piranha_web.services import users

pytestmark = pytest.mark.usefixtures("fast_hashing")


@pytest.fixture
def umask_022() -> Iterator[None]:
    """What scripts/run.sh runs with (and most login shells)."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_fresh_instance_is_private_under_umask_022(tmp_path: Path, umask_022: None) -> None:
    instance = tmp_path / "instance"
    app = create_app({"INSTANCE_PATH": str(instance), "LVS_CF": str(tmp_path / "lvs.cf")})
    with app.app_context():
        users.store_password("piranha", "correct horse battery")  # a write: WAL and SHM exist now
        for suffix in ("", "-wal", "-shm"):
            path = instance / f"piranha.db{suffix}"
            assert path.exists(), path
            assert mode(path) == 0o600, (path, oct(mode(path)))
        db.engine.dispose()
    assert mode(instance) == 0o700
    for name in ("secret_key", "migrate.lock"):
        assert mode(instance / name) == 0o600, name


def test_existing_wide_files_are_tightened_at_start(tmp_path: Path, umask_022: None) -> None:
    instance = tmp_path / "instance"
    app = create_app({"INSTANCE_PATH": str(instance), "LVS_CF": str(tmp_path / "lvs.cf")})
    with app.app_context():
        users.store_password("piranha", "correct horse battery")
        db.engine.dispose()
    os.chmod(instance, 0o755)
    for suffix in ("", "-wal", "-shm"):
        path = instance / f"piranha.db{suffix}"
        if path.exists():
            os.chmod(path, 0o644)
    app = create_app({"INSTANCE_PATH": str(instance), "LVS_CF": str(tmp_path / "lvs.cf")})
    assert mode(instance) == 0o700
    for path in instance.glob("piranha.db*"):
        assert mode(path) == 0o600, path
    with app.app_context():
        assert users.any_user_exists(db.session)
        db.engine.dispose()
