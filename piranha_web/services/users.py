"""Console users: create, set password, verify.

One place that hashes and checks passwords, used by the login page, by
``piranha-passwd`` and by ``piranha-gui``'s first-start check.  Asking for a
password on a terminal and building the app are the command-line tools' job
(piranha_web.cli.passwd); this module only works inside an app context.  Passwords are
hashed in-process with argon2id (never handed to a shell: CVE-2000-0322), and
there is no default account (CVE-2000-0248).
"""

from __future__ import annotations

import getpass

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError, VerifyMismatchError

try:
    from argon2.exceptions import InvalidHashError
except ImportError:  # argon2-cffi < 21.2 (Debian 12's python3-argon2, used by the .deb) calls it InvalidHash
    from argon2.exceptions import InvalidHash as InvalidHashError  # type: ignore[attr-defined,no-redef]
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import User, utcnow

DEFAULT_USERNAME = "piranha"
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
ROLES = ("admin", "readonly")

# argon2id with RFC 9106's "low memory" parameters, spelled out: argon2-cffi's own defaults
# differ between the versions we run on (pip's current one, Debian 12's 21.1).
_hasher = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4, hash_len=32, salt_len=16)
_dummy_hash: str | None = None


class PasswordError(ValueError):
    """A password was refused (empty, too short, mismatch); the message is for the user."""


class UserError(ValueError):
    """A bad username or role."""


def hash_password(password: str) -> str:
    """An argon2id hash string (salt and parameters included)."""
    return _hasher.hash(password)


def dummy_hash() -> str:
    """A hash of a random secret, verified when the user does not exist (constant-time login)."""
    global _dummy_hash
    if _dummy_hash is None:
        import secrets

        _dummy_hash = _hasher.hash(secrets.token_urlsafe(24))
    return _dummy_hash


def check_password_policy(password: str, verify: str | None = None) -> None:
    """Refuse empty, mismatched or short passwords with a message a user can act on."""
    if not password:
        raise PasswordError("Empty password refused.")
    if verify is not None and password != verify:
        raise PasswordError("Passwords do not match.")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordError(f"Password too short: at least {MIN_PASSWORD_LENGTH} characters are required.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordError(f"Password too long: at most {MAX_PASSWORD_LENGTH} characters.")
    if "\n" in password or "\r" in password or "\0" in password:
        raise PasswordError("Password must not contain newline or NUL characters.")


def check_username(username: str) -> str:
    """Usernames are short printable words (they end up in logs and the audit trail)."""
    name = (username or "").strip()
    if not name or len(name) > 64 or not all(c.isalnum() or c in "._-@" for c in name):
        raise UserError(
            "Invalid user name: use 1-64 letters, digits or . _ - @ characters."
        )
    return name


def get_user(session: Session, username: str) -> User | None:
    """The user called ``username``, or None."""
    return session.scalars(select(User).where(User.username == username)).first()


def any_user_exists(session: Session) -> bool:
    """Whether at least one console user exists (the console refuses to start otherwise)."""
    return session.scalar(select(func.count(User.id))) > 0


def list_users(session: Session) -> list[User]:
    """Every user, by name."""
    return list(session.scalars(select(User).order_by(User.username)))


def set_password(session: Session, username: str, password: str, *, role: str | None = None,
                 create: bool = True) -> tuple[User, bool]:
    """Set ``username``'s password (creating the user if allowed); return (user, created).

    Bumps ``session_epoch`` so every session of that user started before the
    change stops being valid on its next request.  The caller commits.
    """
    name = check_username(username)
    check_password_policy(password)
    if role is not None and role not in ROLES:
        raise UserError(f"Unknown role {role!r}; expected one of {', '.join(ROLES)}.")
    user = get_user(session, name)
    created = user is None
    if user is None:
        if not create:
            raise UserError(f"No such user: {name}")
        user = User(username=name, role=role or "admin", session_epoch=0, created_at=utcnow())
        session.add(user)
    else:
        user.session_epoch = (user.session_epoch or 0) + 1
        if role is not None:
            user.role = role
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    session.flush()
    return user, created


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The user if ``password`` is right, else None; same argon2 work whether the user exists or not.

    Upgrades the stored hash in place when the hasher's parameters have changed
    (the caller commits).
    """
    dummy = dummy_hash()  # computed up front so even a process's first miss costs the same
    user = get_user(session, username) if username else None
    stored = user.password_hash if user is not None else dummy
    try:
        _hasher.verify(stored, password or "")
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if user is None:  # pragma: no cover - only if someone guessed the random dummy secret
        return None
    if _hasher.check_needs_rehash(stored):
        user.password_hash = hash_password(password)
    return user


def store_password(username: str, password: str, *, actor: str | None = None,
                   role: str | None = None) -> User:
    """Set the password in the current app's database, audit it and commit."""
    from ..extensions import db
    from . import audit

    session = db.session
    try:
        user, created = set_password(session, username, password, role=role)
        if created:
            before, after = None, {"role": user.role, "password": "set"}
        else:
            before = {"session_epoch": user.session_epoch - 1, "password": "old"}
            after = {"session_epoch": user.session_epoch, "password": "new"}
        audit.record(actor or system_actor(), "user.create" if created else "user.password",
                     "user", user.username, before=before, after=after, session=session)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return user


def system_actor() -> str:
    """Who ran a command-line tool, for the audit trail (``cli:<unix user>``)."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (containers)
        return "cli:unknown"
