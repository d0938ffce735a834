"""App-wide security policy, installed by ``create_app`` via ``init_app``.

* deny by default: every endpoint except the login page and static files
  needs a logged-in user, for EVERY HTTP method (CVE-2013-6492: Piranha only
  protected GET).  The guard is put in front of every other before_request
  hook, so an anonymous request never reaches CSRF checks or views;
* CSRF on every state-changing request (Flask-WTF ``CSRFProtect``);
* session cookie HttpOnly, SameSite=Lax, and Secure whenever the request came
  over TLS (directly, or through a reverse proxy when PIRANHA_BEHIND_PROXY=1,
  which enables ProxyFix for one proxy hop of X-Forwarded-For/-Proto/-Host);
  a cookie is refused PIRANHA_SESSION_HOURS (12) after it was last issued,
  and a logout revokes its session id (copies of the cookie die with it);
* strict security headers on every response, ``no-store`` on every page.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from flask import Flask, Response, abort, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_login import current_user, logout_user

from .config import flag
from .extensions import csrf
from .models import ids_fit

PUBLIC_ENDPOINTS = frozenset({"auth.login", "static"})
# Blueprints that authenticate every request themselves instead of by session cookie: the
# REST API (bearer token) and metrics (loopback/token).  They never read the session cookie,
# so cookie CSRF does not apply to them.  Deny by default still holds: such a blueprint is let
# through only while it really has a before_request hook of its own (its authentication);
# without one, its routes fall back to the session check below.
TOKEN_AUTH_BLUEPRINTS = frozenset({"api", "metrics"})
SELF_AUTHENTICATING_BLUEPRINTS = TOKEN_AUTH_BLUEPRINTS
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The random id of one login session, kept in the cookie; a logout revokes it.
SESSION_ID_KEY = "_sid"
# Changes a read-only user may still make: only ending their own session.
ANY_ROLE_ENDPOINTS = frozenset({"auth.logout"})

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class TlsAwareSessionInterface(SecureCookieSessionInterface):
    """Signed cookie sessions whose cookie is ``Secure`` whenever the request is HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:  # noqa: D102
        from flask import has_request_context

        if has_request_context() and request.is_secure:
            return True
        return bool(app.config.get("SESSION_COOKIE_SECURE", False))


def behind_proxy(app: Flask) -> bool:
    """PIRANHA_BEHIND_PROXY=1 (config BEHIND_PROXY) trusts one proxy's X-Forwarded-* headers."""
    return flag(app.config.get("BEHIND_PROXY"))


def init_app(app: Flask) -> None:
    """Install the guard, CSRF, cookie policy, proxy handling, headers and the login throttle."""
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["REMEMBER_COOKIE_HTTPONLY"] = True
    for key in ("SESSION_COOKIE_SAMESITE", "REMEMBER_COOKIE_SAMESITE"):
        if app.config.get(key) not in ("Lax", "Strict"):
            app.config[key] = "Lax"
    app.session_interface = TlsAwareSessionInterface()
    # Signed cookies are refused once this old (counted from when the cookie was last issued:
    # login, or any change to the session): a copied cookie does not stay good forever.
    hours = float(app.config.get("SESSION_HOURS") or 12)
    app.permanent_session_lifetime = timedelta(hours=hours)
    if "csrf" not in app.extensions:
        csrf.init_app(app)
    if behind_proxy(app):
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_port=1, x_prefix=1)
    # First in line: anonymous requests stop here, before CSRF or any view code runs.
    app.before_request_funcs.setdefault(None, []).insert(0, require_login)
    app.after_request(add_security_headers)
    _init_throttle(app)


def require_login() -> Any:
    """Deny by default: anonymous GET/HEAD go to the login page, anything else is 401."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if _authenticates_itself(request.blueprint):
        return None
    if current_user.is_authenticated and _session_revoked():
        logout_user()
        session.clear()
    if current_user.is_authenticated:
        if not ids_fit(request.view_args):
            abort(404)  # beyond the row-id range: no such object (and no database overflow)
        if (request.method not in SAFE_METHODS and request.endpoint not in ANY_ROLE_ENDPOINTS
                and not getattr(current_user, "can_write", False)):
            abort(403)
        return None
    if request.method in ("GET", "HEAD") and request.endpoint is not None:
        return redirect(url_for("auth.login", next=_local_next()))
    abort(401)


def _session_revoked() -> bool:
    """True when this cookie's session was ended by a logout (a replayed copy of the cookie)."""
    from flask import current_app

    sid = session.get(SESSION_ID_KEY)
    return bool(sid) and session_revocations(current_app).is_revoked(str(sid))


def _authenticates_itself(blueprint: str | None) -> bool:
    """True for an allow-listed blueprint that has its own before_request authentication."""
    from flask import current_app

    if blueprint is None or request.endpoint is None or blueprint not in TOKEN_AUTH_BLUEPRINTS:
        return False
    return bool(current_app.before_request_funcs.get(blueprint))


def _local_next() -> str | None:
    """The path to come back to after login (only for plain page views)."""
    path = request.full_path.rstrip("?")
    return path if path.startswith("/") and not path.startswith("//") else None


def add_security_headers(response: Response) -> Response:
    """CSP and friends on every response; pages (not static files) are never cached."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.endpoint != "static":
        response.headers["Cache-Control"] = "no-store"
        response.headers.setdefault("Pragma", "no-cache")
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def _init_throttle(app: Flask) -> None:
    from .auth.throttle import LoginThrottle, SessionRevocations

    instance = app.config.get("INSTANCE_PATH", app.instance_path)
    path = app.config.get("LOGIN_THROTTLE_DB") or os.path.join(instance, "login-throttle.sqlite")
    app.extensions["piranha_login_throttle"] = LoginThrottle(
        path, limit=int(app.config.get("LOGIN_FAILURE_LIMIT", 5)),
        window=float(app.config.get("LOGIN_FAILURE_WINDOW", 60)),
        delay_base=float(app.config.get("LOGIN_FAILURE_DELAY", 0.5)),
        delay_max=float(app.config.get("LOGIN_FAILURE_DELAY_MAX", 4.0)))
    app.extensions["piranha_session_revocations"] = SessionRevocations(
        path, lifetime=app.permanent_session_lifetime.total_seconds())


def login_throttle(app: Flask) -> Any:
    """The app's :class:`~piranha_web.auth.throttle.LoginThrottle`."""
    return app.extensions["piranha_login_throttle"]


def session_revocations(app: Flask) -> Any:
    """The app's :class:`~piranha_web.auth.throttle.SessionRevocations`."""
    return app.extensions["piranha_session_revocations"]
