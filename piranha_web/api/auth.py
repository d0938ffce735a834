"""Bearer-token authentication for every API request (cookies are never consulted)."""

from __future__ import annotations

from typing import Any

from flask import g, request

from ..models import ids_fit
from . import bp
from .errors import error_response
from ..services.tokens import verify

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def bearer_token() -> str | None:
    """The token of an ``Authorization: Bearer ...`` header, if any."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


@bp.before_request
def authenticate() -> Any:
    """401 without a live token; 403 for a read-only user's write."""
    secret = bearer_token()
    token = verify(secret) if secret else None
    if token is None:
        message = "missing bearer token" if secret is None else "invalid or revoked token"
        return error_response(401, message)
    g.api_token = token
    if not ids_fit(request.view_args):
        return error_response(404, "no such object")   # ids beyond the database's integer range
    g.api_user = token.user
    if request.method not in SAFE_METHODS and not token.user.can_write:
        return error_response(403, f"user {token.user.username!r} is read-only")
    return None


def actor() -> str:
    """The name audited for this request: the token's user."""
    return str(g.api_user.username)
