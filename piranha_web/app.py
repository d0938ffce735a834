"""Application factory: ``create_app(config=None)`` builds a fully wired console."""

from __future__ import annotations

import importlib
import logging
from typing import Any

from flask import Flask, request
from flask_login import current_user
from sqlalchemy import select

from .config import build_config
from .extensions import csrf, db, login_manager
from .instance import ensure_private_dir, secure_sqlite
from .resources import data_dir
from .security import PUBLIC_ENDPOINTS
from .strictjson import StrictJSONProvider, StrictRequest

log = logging.getLogger(__name__)

# Our console areas; each package holds a ``bp`` blueprint (routes.py + forms.py beside it).
CONSOLE_BLUEPRINTS = ("control", "settings", "redundancy", "cluster", "virtual", "real", "failover",
                      "revisions", "tokens")


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app: settings, extensions, schema upgrade, blueprints, auth guard."""
    settings = build_config(config)
    app = Flask(
        __name__,
        template_folder=str(data_dir("templates")),
        static_folder=str(data_dir("static")),
        instance_path=settings["INSTANCE_PATH"],
    )
    app.config.update(settings)
    ensure_private_dir(settings["INSTANCE_PATH"])
    secure_sqlite(settings["DATABASE_URL"])
    app.json = StrictJSONProvider(app)
    app.request_class = StrictRequest
    register_extensions(app)
    register_blueprints(app)
    register_template_helpers(app)
    register_errorhandlers(app)
    prepare_database(app)
    return app


def register_extensions(app: Flask) -> None:
    """Bind db, login manager and CSRF to the app."""
    db.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "strong"
    login_manager.user_loader(load_user)


def load_user(session_id: str) -> Any:
    """Flask-Login loader for ``"<id>:<session_epoch>"``; a stale epoch logs the session out."""
    from .models import User

    user_id, _, epoch = session_id.partition(":")
    if not (user_id.isdigit() and epoch.isdigit()):
        return None
    user = db.session.get(User, int(user_id))
    if user is None or user.session_epoch != int(epoch):
        return None
    return user


def register_blueprints(app: Flask) -> None:
    """Our console areas, the security engineer's auth/audit, and the security policy.

    ``security.init_app`` installs the deny-by-default login guard (every
    route, every method, except the login page and static files: the
    CVE-2013-6492 lesson), CSRF and the security headers.
    """
    from . import audit, auth, security

    for name in CONSOLE_BLUEPRINTS:
        module = importlib.import_module(f"piranha_web.{name}")
        app.register_blueprint(module.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(audit.bp)
    importlib.import_module("piranha_web.api").init_app(app)  # REST /api/v1 (bearer tokens, no cookies)
    importlib.import_module("piranha_web.metrics").init_app(app)  # /metrics (loopback or token)
    security.init_app(app)


def register_template_helpers(app: Flask) -> None:
    """Globals the base template needs: the hand-edit banner, key help; the ``hostport`` filter."""
    from .lvscf.keys import HEALTH_DOC
    from .lvscf.model import host_port
    from .services import lvsconfig

    def key_help(name: str, inherit: bool = False) -> str:
        """A health-check key's help text (a real server's field says that blank inherits)."""
        return HEALTH_DOC.get(name, "") + ("; blank: the virtual server's" if inherit else "")
    app.jinja_env.globals["key_help"] = key_help

    app.add_template_filter(host_port, "hostport")
    from .services.charts import human
    app.add_template_filter(human, "human")

    @app.context_processor
    def _inject() -> dict[str, Any]:
        banner = None
        if current_user.is_authenticated and request.endpoint not in PUBLIC_ENDPOINTS:
            banner = lvsconfig.disk_state()
        return {"disk_state": banner}


def register_errorhandlers(app: Flask) -> None:
    """Render 401/403/404/409/500 with our own template (no stack traces to users)."""
    from flask import render_template

    def _render(error: Any) -> Any:
        code = getattr(error, "code", 500) or 500
        return render_template("errors/error.html", error=error, code=code), code

    for code in (400, 401, 403, 404, 405, 409, 413, 500):
        app.register_error_handler(code, _render)


def prepare_database(app: Flask) -> None:
    """Apply migrations, make the settings row, import lvs.cf on first start when the DB is empty."""
    from .services import lvsconfig, schema

    with app.app_context():
        if app.config.get("AUTO_MIGRATE", True):
            schema.upgrade(db.engine, app.config["INSTANCE_PATH"])
        lvsconfig.ensure_settings()
        if app.config.get("AUTO_IMPORT", True):
            lvsconfig.import_on_first_start()


def has_users(app: Flask) -> bool:
    """Whether at least one console user exists (piranha-gui refuses to start otherwise)."""
    from .models import User

    with app.app_context():
        return db.session.scalars(select(User.id).limit(1)).first() is not None
