"""Database schema upgrades (Alembic), safe when several gunicorn workers start at once."""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine

from ..instance import ensure_private_dir
from ..resources import data_dir

MIGRATIONS_DIR = data_dir("migrations")


@contextmanager
def file_lock(path: Path | str) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` (created if needed) for the duration of the block."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def alembic_config(url: str) -> AlembicConfig:
    """An Alembic config pointing at migrations/ (no alembic.ini needed)."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, instance_path: str | Path, revision: str = "head") -> None:
    """Bring the database to ``revision`` under ``<instance>/migrate.lock``."""
    ensure_private_dir(instance_path)
    with file_lock(Path(instance_path) / "migrate.lock"):
        cfg = alembic_config(str(engine.url))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
