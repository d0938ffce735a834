"""Deny by default on every route and method, CSRF everywhere, security headers (issue 5, points 2-3).

CVE-2013-6492: Piranha's Apache only asked for a password on GET, so POSTs
changed lvs.cf anonymously.  These tests walk ``app.url_map`` and try every
method on every rule, with dummy values for the URL converters.
"""

from __future__ import annotations

import hashlib
import sqlite3
import uuid
from pathlib import Path
from typing import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import IntegerConverter

from piranha_web.app import create_app
from piranha_web.extensions import db
from piranha_web.security import CONTENT_SECURITY_POLICY, PUBLIC_ENDPOINTS, TOKEN_AUTH_BLUEPRINTS
from piranha_web.services import users
from tests.support.webauth import LVS_CF, PASSWORD, TOKEN_RE

pytestmark = pytest.mark.usefixtures("cheap_argon2")

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
CHANGING = ("POST", "PUT", "PATCH", "DELETE")


def build_app(tmp_path: Path, **extra: object) -> Flask:
    lvs = tmp_path / "lvs.cf"
    lvs.write_text(LVS_CF)
    settings = {"INSTANCE_PATH": str(tmp_path / "instance"), "LVS_CF": str(lvs), **extra}
    try:
        app = create_app(settings)
    except Exception:  # the first-start import is not ours to test here; an empty DB still walks
        app = create_app({**settings, "AUTO_IMPORT": False})
    with app.app_context():
        users.store_password("piranha", PASSWORD)
        users.store_password("viewer", PASSWORD, role="readonly")
    return app


def token_authenticated(endpoint: str) -> bool:
    """Endpoints of the API-style blueprints: a session cookie alone must get 401 there."""
    return endpoint.split(".", 1)[0] in TOKEN_AUTH_BLUEPRINTS


def dummy_value(converter: object) -> object:
    """Something each converter accepts; ids/names of the imported sample where it helps."""
    if isinstance(converter, IntegerConverter):
        return 1
    kind = type(converter).__name__
    if kind == "FloatConverter":
        return 1.0
    if kind == "UUIDConverter":
        return uuid.UUID(int=1)
    if kind == "PathConverter":
        return "web/x"
    if kind == "AnyConverter":
        return sorted(getattr(converter, "items", ["x"]))[0]
    return "web"


def every_url(app: Flask, skip: tuple[str, ...] = ()) -> Iterator[tuple[str, str]]:
    """``(endpoint, path)`` for every rule but the ``skip`` endpoints, converters filled with dummy values."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint in skip:
            continue
        values = {arg: dummy_value(conv) for arg, conv in rule._converters.items()}
        _, path = rule.build(values, append_unknown=False)
        yield rule.endpoint, path


def state(app: Flask) -> tuple[str, str]:
    """Fingerprint of everything a request could change: the whole DB and lvs.cf."""
    url = app.config["DATABASE_URL"]
    assert url.startswith("sqlite:///")
    conn = sqlite3.connect(url[len("sqlite:///"):])
    try:
        dump = "\n".join(conn.iterdump())
    finally:
        conn.close()
    lvs = Path(app.config["LVS_CF"]).read_bytes()
    return hashlib.sha256(dump.encode()).hexdigest(), hashlib.sha256(lvs).hexdigest()


def login(client: FlaskClient, username: str = "piranha") -> None:
    token = TOKEN_RE.search(client.get("/login").get_data(as_text=True)).group(1)
    r = client.post("/login", data={"csrf_token": token, "username": username, "password": PASSWORD})
    assert r.status_code == 302, r.get_data(as_text=True)


def session_token(client: FlaskClient, app: Flask) -> str:
    """A valid CSRF token for the client's current session (what a rendered form would hold)."""
    from flask_wtf.csrf import generate_csrf

    with client.session_transaction() as sess:
        saved = dict(sess)
    with app.test_request_context():
        from flask import session

        session.update(saved)
        token = generate_csrf()
        new = dict(session)
    with client.session_transaction() as sess:
        sess.update(new)
    return token


@pytest.fixture
def walk_app(tmp_path: Path) -> Flask:
    return build_app(tmp_path)


def test_the_walk_covers_the_console(walk_app: Flask) -> None:
    endpoints = {endpoint for endpoint, _ in every_url(walk_app)}
    assert {"auth.login", "auth.logout", "audit.index", "audit.export_csv", "audit.export_json",
            "control.index"} <= endpoints


@pytest.mark.parametrize("csrf_enabled", [True, False], ids=["csrf-on", "csrf-off"])
def test_anonymous_requests_never_succeed(tmp_path: Path, csrf_enabled: bool) -> None:
    """Every rule x every method without a session: login redirect or 401/403/405, nothing changes.

    With CSRF off too, so the login guard alone is shown to hold (the CVE was
    exactly "the check only covered some methods").
    """
    app = build_app(tmp_path, WTF_CSRF_ENABLED=csrf_enabled)
    before = state(app)
    client = app.test_client()
    tried = 0
    for endpoint, path in every_url(app):
        if endpoint in PUBLIC_ENDPOINTS:
            continue
        for method in METHODS:
            r = client.open(path, method=method, data={"name": "evil", "port": "1", "weight": "9"})
            tried += 1
            where = f"{method} {path} ({endpoint})"
            assert r.status_code in (302, 401, 403, 405), f"{where} -> {r.status_code}"
            if r.status_code == 302:
                assert r.headers["Location"].startswith("/login"), where
                assert method in ("GET", "HEAD"), where
            assert r.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, where
            assert r.headers["Cache-Control"] == "no-store", where
    assert tried >= 20 * len(METHODS)
    assert state(app) == before
    # Positive control: the fingerprint does see a change (a failed login writes an audit entry).
    token = TOKEN_RE.search(client.get("/login").get_data(as_text=True))
    client.post("/login", data={"csrf_token": token.group(1) if token else "", "username": "piranha",
                                "password": "wrong password"})
    assert state(app) != before


def test_the_walk_hits_real_objects(walk_app: Flask) -> None:
    """Converter dummies (id 1, name "web") name the imported virtual/real server, not a 404."""
    client = walk_app.test_client()
    login(client)
    assert client.get("/virtual/1/").status_code == 200
    assert client.get("/virtual/1/real/1").status_code == 200


def test_anonymous_login_post_without_token_is_refused(walk_app: Flask) -> None:
    client = walk_app.test_client()
    r = client.post("/login", data={"username": "piranha", "password": PASSWORD})
    assert r.status_code == 400
    assert client.get("/").status_code == 302


def test_logged_in_changes_without_csrf_token_are_refused(walk_app: Flask) -> None:
    client = walk_app.test_client()
    login(client)
    before = state(walk_app)
    for endpoint, path in every_url(walk_app, skip=("static",)):
        for method in CHANGING:
            r = client.open(path, method=method, data={"name": "evil", "port": "1", "weight": "9"})
            allowed = (401, 403, 405) if token_authenticated(endpoint) else (400, 405)
            assert r.status_code in allowed, f"{method} {path} ({endpoint}) -> {r.status_code}"
    assert client.get("/").status_code == 200  # still logged in: logout without a token did nothing
    assert state(walk_app) == before


def test_logged_in_changes_with_a_bad_csrf_token_are_refused(walk_app: Flask) -> None:
    client = walk_app.test_client()
    login(client)
    before = state(walk_app)
    for endpoint, path in every_url(walk_app, skip=("static",)):
        r = client.post(path, data={"csrf_token": "forged.token.value", "name": "evil"})
        allowed = (401, 403, 405) if token_authenticated(endpoint) else (400, 405)
        assert r.status_code in allowed, f"POST {path} ({endpoint}) -> {r.status_code}"
    assert state(walk_app) == before


def test_readonly_user_cannot_change_anything(walk_app: Flask) -> None:
    client = walk_app.test_client()
    login(client, "viewer")
    before = state(walk_app)
    token = session_token(client, walk_app)
    for endpoint, path in every_url(walk_app, skip=("static", "auth.login", "auth.logout")):
        for method in CHANGING:
            r = client.open(path, method=method, data={"csrf_token": token, "name": "evil"},
                            headers={"X-CSRFToken": token})
            allowed = (401, 403, 405) if token_authenticated(endpoint) else (403, 405)
            assert r.status_code in allowed, f"{method} {path} ({endpoint}) -> {r.status_code}"
    assert state(walk_app) == before
    assert client.get("/audit/").status_code == 200  # but may read
    out = client.post("/logout", data={"csrf_token": token})  # and may log out
    assert out.status_code == 302 and client.get("/").status_code == 302


def test_token_blueprints_need_their_own_authentication(tmp_path: Path) -> None:
    """The API allow-list only lets a blueprint through while it has its own auth hook."""
    from flask import Blueprint

    from piranha_web import security

    assert security.TOKEN_AUTH_BLUEPRINTS <= {"api", "metrics"}
    # The real api/metrics blueprints have hooks; probe the rule with an allow-listed hookless one.
    hookless = Blueprint("probe", __name__, url_prefix="/probe-metrics")
    hookless.add_url_rule("/", "scrape", lambda: "secret numbers")
    app = build_app(tmp_path)
    app.register_blueprint(hookless)
    allow = security.TOKEN_AUTH_BLUEPRINTS
    security.TOKEN_AUTH_BLUEPRINTS = allow | {"probe"}
    try:
        assert app.test_client().get("/probe-metrics/").status_code == 302  # no hook: session check applies
    finally:
        security.TOKEN_AUTH_BLUEPRINTS = allow


def test_security_headers_on_every_page_and_no_store(walk_app: Flask) -> None:
    client = walk_app.test_client()
    pages = [client.get("/login"), client.get("/nowhere"), client.post("/login")]
    login(client)
    pages += [client.get(p) for p in ("/", "/audit/", "/audit/export.json", "/nowhere")]
    for r in pages:
        assert r.headers["Content-Security-Policy"] == (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
        assert r.headers["X-Frame-Options"] == "DENY"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Referrer-Policy"] == "same-origin"
        assert r.headers["Cache-Control"] == "no-store"


def test_static_files_are_public_cacheable_and_still_hardened(walk_app: Flask) -> None:
    static = Path(walk_app.static_folder or "")
    name = next(p for p in sorted(static.rglob("*")) if p.is_file()).relative_to(static).as_posix()
    r = walk_app.test_client().get(f"/static/{name}")
    assert r.status_code == 200
    assert r.headers.get("Cache-Control") != "no-store"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


def test_session_cookie_config(walk_app: Flask) -> None:
    assert walk_app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert walk_app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert walk_app.config["WTF_CSRF_ENABLED"] is not False
    with walk_app.app_context():
        assert users.any_user_exists(db.session)


def test_safe_methods_never_change_anything(walk_app: Flask) -> None:
    """GET/HEAD/OPTIONS are exempt from CSRF, so no route may change state on them."""
    client = walk_app.test_client()
    login(client)
    before = state(walk_app)
    for endpoint, path in every_url(walk_app):
        for method in ("GET", "HEAD", "OPTIONS"):
            r = client.open(path, method=method, query_string={"action": "delete", "confirm": "1"})
            assert r.status_code < 500, f"{method} {path} ({endpoint}) -> {r.status_code}"
    assert state(walk_app) == before
    assert client.get("/").status_code == 200  # and the session survived the walk
