"""Bare extension instances, bound to an app in ``create_app`` (cookiecutter style).

The database layer is plain SQLAlchemy 2 rather than Flask-SQLAlchemy: one
engine per app (kept in ``app.extensions``) and a ``scoped_session`` scoped to
the Flask application context, so every request gets its own session and
tests can build several apps in one process without sharing connections.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, globals as flask_globals
from flask_login import LoginManager
from flask_wtf import CSRFProtect
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session, sessionmaker

ENGINE_KEY = "piranha_db_engine"


class Base(DeclarativeBase):
    """Declarative base of every table (models.py)."""


def _app_ctx_id() -> int:
    """Scope sessions to the current application context (one per request/CLI run)."""
    return id(flask_globals.app_ctx._get_current_object())  # type: ignore[attr-defined]


class _AppBoundSession(Session):
    """A session that finds its engine on ``current_app``: several apps, one registry."""

    def get_bind(self, mapper: Any = None, clause: Any = None, **kw: Any) -> Engine:  # noqa: D102
        return current_app.extensions[ENGINE_KEY]


class Database:
    """``db.session`` (scoped), ``db.engine`` and ``db.Model`` in one object."""

    Model = Base

    def __init__(self) -> None:
        self.session = scoped_session(
            sessionmaker(class_=_AppBoundSession, expire_on_commit=False), scopefunc=_app_ctx_id
        )

    @property
    def engine(self) -> Engine:
        """The engine of the current app."""
        return current_app.extensions[ENGINE_KEY]

    def init_app(self, app: Flask) -> None:
        """Create the app's engine (SQLite tuned for two gunicorn workers) and session teardown."""
        app.extensions[ENGINE_KEY] = make_engine(app.config["DATABASE_URL"])
        app.teardown_appcontext(self._remove_session)

    def _remove_session(self, exc: BaseException | None = None) -> None:
        self.session.remove()


def make_engine(url: str) -> Engine:
    """An engine; for SQLite: WAL, foreign keys, busy_timeout so concurrent workers wait, not fail."""
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": 15})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        if ":memory:" not in url and url not in ("sqlite://", "sqlite:///"):
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=15000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    return engine


db = Database()
login_manager = LoginManager()
csrf = CSRFProtect()
