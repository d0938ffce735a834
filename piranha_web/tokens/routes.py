"""TOKENS: a user's API tokens (admins see and may revoke everyone's).

The secret of a new token is shown once, in the response to the POST that
created it (not through a flash message, which would sit in the session
cookie); afterwards only its prefix is known.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ..services import tokens
from ..extensions import db
from ..viewkit import actor
from . import bp


def _is_admin() -> bool:
    return getattr(current_user, "role", "") == "admin"


def _page(secret: str | None = None, created: Any = None, status: int = 200) -> Any:
    rows = tokens.listing(None if _is_admin() else current_user.username, include_revoked=True)
    return render_template("tokens/index.html", rows=rows, secret=secret, created=created,
                           admin=_is_admin()), status


@bp.get("/")
def index() -> Any:
    """The token list."""
    return _page()


@bp.post("/")
def create() -> Any:
    """Create a token for the logged-in user and show its secret once."""
    try:
        row, secret = tokens.create(current_user.username, request.form.get("name", ""), actor(),
                                    request.remote_addr)
    except tokens.TokenError as err:
        db.session.rollback()
        flash(str(err), "error")
        return _page(status=422)
    return _page(secret, row)


@bp.post("/<int:token_id>/revoke")
def revoke(token_id: int) -> Any:
    """Revoke one of the user's tokens (any token, for an admin)."""
    try:
        row = tokens.revoke(token_id, actor(), request.remote_addr,
                            only_user=None if _is_admin() else current_user.username)
    except tokens.TokenError:
        abort(404)
    flash(f"token {row.name} revoked", "success")
    return redirect(url_for(".index"))
