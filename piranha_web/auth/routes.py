"""Login/logout views: throttled, constant-time, audited, session renewed on login."""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from ..extensions import db
from ..security import SESSION_ID_KEY, login_throttle, session_revocations
from ..services import audit, users
from . import bp
from .forms import LoginForm, LogoutForm
from .throttle import throttle_keys, user_key

FAILED_MESSAGE = "Invalid username or password."


def _safe_next(target: str | None) -> str | None:
    """Only same-site paths: ``/x?y`` yes, ``//evil``, ``http://evil`` or ``/\\evil`` no."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    if any(c in target for c in "\r\n\\"):
        return None
    return target


def _home() -> str:
    return url_for("control.index")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """The welcome page with the login form; POST checks the password."""
    if current_user.is_authenticated and request.method == "GET":
        return redirect(_safe_next(request.args.get("next")) or _home())
    form = LoginForm()
    if request.method == "GET":
        return _render(form)
    if not form.validate_on_submit():
        return _render(form, status=400)

    username = form.username.data.strip()
    addr = request.remote_addr
    throttle = login_throttle(current_app)
    keys = throttle_keys(addr)
    wait = throttle.retry_after(keys)
    if wait:
        audit.warn("login throttled: user=%s addr=%s retry_after=%s", username, addr, wait)
        response = _render(form, status=429,
                           error=f"Too many failed logins. Try again in {wait} seconds.")
        response.headers["Retry-After"] = str(wait)
        return response

    user = users.authenticate(db.session, username, form.password.data or "")
    if user is None:
        db.session.rollback()
        per_user = user_key(username)
        throttle.failed(keys + ([per_user] if per_user else []))
        time.sleep(throttle.failure_delay(per_user))  # slows a guesser; never refuses the right password
        audit.record(username, "login.failure", "session", username, client_addr=addr,
                     detail={"reason": "bad username or password"})
        return _render(form, status=401, error=FAILED_MESSAGE)

    db.session.commit()  # a rehashed password, if the hasher's parameters changed
    next_url = _safe_next(request.args.get("next"))
    session.clear()  # a fresh session (and CSRF token) for the logged-in user
    session[SESSION_ID_KEY] = secrets.token_urlsafe(18)  # what a logout revokes
    login_user(user)
    audit.record(user.username, "login.success", "session", user.username, client_addr=addr)
    return redirect(next_url or _home())


def _render(form: LoginForm, *, status: int = 200, error: str | None = None) -> Any:
    response = current_app.make_response(
        (render_template("auth/login.html", form=form, error=error), status))
    return response


@bp.post("/logout")
def logout() -> Any:
    """End the session (POST + CSRF token only; GET is 405)."""
    form = LogoutForm()
    if not form.validate_on_submit():  # pragma: no cover - CSRFProtect already refused it
        return redirect(_home())
    name = getattr(current_user, "username", None)
    sid = session.get(SESSION_ID_KEY)
    if sid:  # copies of this cookie stop working too
        session_revocations(current_app).revoke(str(sid))
    logout_user()
    session.clear()
    if name:
        audit.record(name, "logout", "session", name)
    flash("You have been logged out.")
    return redirect(url_for("auth.login"))


@bp.app_context_processor
def _logout_form() -> dict[str, Any]:
    """Every page can render the logout button (``logout_form``) in its header.

    The button's form never reads the request body (``formdata=None``): error
    pages render it too, including the 413 for a body too large to read.
    """
    return {"logout_form": lambda: LogoutForm(formdata=None)}
