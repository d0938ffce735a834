"""The app factory: paths, config from the environment, secret key, SQLite tuning, schema."""

from __future__ import annotations

import stat
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from piranha_web import config as config_module
from piranha_web.app import create_app
from piranha_web.extensions import Base, db


def test_templates_and_static_come_from_the_project_root(app, client) -> None:
    root = Path(__file__).resolve().parents[2]
    assert Path(app.template_folder) == root / "templates"
    assert Path(app.static_folder) == root / "static"
    css = client.get("/static/css/piranha.css")
    assert css.status_code == 200 and b".tabs" in css.data


def test_login_page_renders_from_base_template(client) -> None:
    page = client.get("/login")
    assert page.status_code == 200
    assert b"piranha.css" in page.data


def test_environment_configures_paths(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PIRANHA_INSTANCE", str(tmp_path / "inst"))
    monkeypatch.setenv("PIRANHA_LVS_CF", str(tmp_path / "x" / "lvs.cf"))
    monkeypatch.delenv("PIRANHA_DATABASE_URL", raising=False)
    monkeypatch.delenv("PIRANHA_SECRET_KEY", raising=False)
    app = create_app()
    assert app.instance_path == str((tmp_path / "inst").resolve())
    assert app.config["LVS_CF"] == str(tmp_path / "x" / "lvs.cf")
    assert app.config["DATABASE_URL"] == f"sqlite:///{(tmp_path / 'inst').resolve() / 'piranha.db'}"
    key_file = tmp_path / "inst" / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert app.config["SECRET_KEY"] == key_file.read_text().strip()
    assert len(app.config["SECRET_KEY"]) >= 32
    # a second start reads the same key (sessions survive restarts, workers agree)
    assert create_app().config["SECRET_KEY"] == app.config["SECRET_KEY"]


def test_secret_key_from_environment_wins(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PIRANHA_INSTANCE", str(tmp_path))
    monkeypatch.setenv("PIRANHA_SECRET_KEY", "from-env")
    assert create_app().config["SECRET_KEY"] == "from-env"
    assert not (tmp_path / "secret_key").exists()


def test_database_url_from_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PIRANHA_INSTANCE", str(tmp_path))
    monkeypatch.setenv("PIRANHA_DATABASE_URL", f"sqlite:///{tmp_path}/other.db")
    app = create_app({"SECRET_KEY": "k"})
    assert app.config["DATABASE_URL"].endswith("other.db")
    assert (tmp_path / "other.db").exists()


def test_default_instance_is_the_checkout_or_var_lib(monkeypatch) -> None:
    monkeypatch.delenv("PIRANHA_INSTANCE", raising=False)
    assert config_module.default_instance_path() == config_module.PROJECT_ROOT / "instance"
    monkeypatch.setattr(config_module, "running_from_checkout", lambda: False)
    assert config_module.default_instance_path() == Path("/var/lib/piranha")


def test_sqlite_runs_wal_with_foreign_keys_and_busy_timeout(app) -> None:
    with app.app_context():
        with db.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 5000


def test_migrations_build_exactly_the_models(app) -> None:
    """The console's tables as migrated equal the models (other packages test their own tables)."""
    ours = set(Base.metadata.tables)

    def include_name(name, type_, parent_names):  # type: ignore[no-untyped-def]
        if type_ == "schema":
            return True
        table = name if type_ == "table" else parent_names.get("table_name")
        return table in ours

    with app.app_context():
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"include_name": include_name})
            diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_every_console_area_is_registered(app) -> None:
    for name in ("control", "settings", "redundancy", "virtual", "real", "failover", "revisions", "auth"):
        assert name in app.blueprints


def test_two_apps_on_one_instance_migrate_once(tmp_path) -> None:
    settings = {"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "k", "LVS_CF": str(tmp_path / "lvs.cf")}
    create_app(settings)
    create_app(settings)  # second start: already at head, nothing to do, no error
    assert (tmp_path / "piranha.db").exists()


def test_anonymous_users_reach_no_console_page(client) -> None:
    for path in ("/", "/settings/", "/virtual/", "/revisions/"):
        assert client.get(path).status_code == 302
    for path in ("/settings/", "/virtual/", "/redundancy/toggle", "/revisions/overwrite"):
        assert client.post(path, data={"primary": "192.0.2.1"}).status_code in (400, 401)
