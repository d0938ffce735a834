"""API tokens: created for a console user, shown once, stored only as a SHA-256 hash.

A token is 32 random bytes (``pwt_`` + urlsafe base64), so a plain SHA-256
is enough at rest: there is nothing to brute-force, and lookup by hash needs
no per-row salt.  The token acts as its user: same role, and every change
made with it is audited under the user's name.  Creating and revoking a
token is itself audited.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select

from ..extensions import db
from ..models import ApiToken, User, utcnow_naive
from . import audit

TOKEN_PREFIX = "pwt_"
MAX_TOKEN_NAME = 64
# last_used_at is a write per request otherwise; minute precision is plenty.
_TOUCH_EVERY = timedelta(seconds=60)


class TokenError(ValueError):
    """A token request the user can fix (unknown user, bad name, unknown token)."""


def hash_token(secret: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create(username: str, name: str, actor: str, client_addr: str | None = None) -> tuple[ApiToken, str]:
    """A new token for ``username``; returns (row, secret). The secret is never stored."""
    name = name.strip()
    if not name or len(name) > MAX_TOKEN_NAME or not name.isprintable():
        raise TokenError(f"token name must be 1-{MAX_TOKEN_NAME} printable characters")
    user = db.session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        raise TokenError(f"no console user {username!r} (create one with piranha-passwd)")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, name=name, prefix=secret[:12], token_hash=hash_token(secret))
    db.session.add(row)
    db.session.flush()
    audit.record(actor, "token.create", "token", f"{username}/{name}", None,
                 {"id": row.id, "prefix": row.prefix}, client_addr=client_addr, session=db.session)
    db.session.commit()
    return row, secret


def revoke(token_id: int, actor: str, client_addr: str | None = None,
           only_user: str | None = None) -> ApiToken:
    """Revoke token ``token_id`` (``only_user``: it must belong to that user)."""
    row = db.session.get(ApiToken, token_id)
    if row is None or (only_user is not None and row.user.username != only_user):
        raise TokenError(f"no token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = utcnow_naive()
        audit.record(actor, "token.revoke", "token", f"{row.user.username}/{row.name}",
                     {"revoked": False}, {"revoked": True}, client_addr=client_addr, session=db.session)
        db.session.commit()
    return row


def listing(username: str | None = None, include_revoked: bool = False) -> list[ApiToken]:
    """Tokens, newest first (of one user when ``username`` is given)."""
    query = select(ApiToken).join(User).order_by(ApiToken.id.desc())
    if username is not None:
        query = query.where(User.username == username)
    if not include_revoked:
        query = query.where(ApiToken.revoked_at.is_(None))
    return list(db.session.scalars(query))


def verify(secret: str) -> ApiToken | None:
    """The live token for ``secret`` (and note its use), else None."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    row = db.session.scalars(select(ApiToken).where(ApiToken.token_hash == hash_token(secret))).first()
    if row is None or row.revoked_at is not None:
        return None
    now = utcnow_naive()
    if row.last_used_at is None or now - row.last_used_at > _TOUCH_EVERY:
        row.last_used_at = now
        db.session.commit()
    return row
