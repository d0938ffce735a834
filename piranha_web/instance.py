"""The instance directory is private to the console's user, whatever the umask.

It holds the database (password and token hashes, the audit log), the
session key and the audit key.  The directory is made 0700 and every file
the console creates in it 0600 at creation (never created with the umask
and tightened later).  SQLite creates ``-wal``/``-shm`` with the database
file's mode, so creating ``piranha.db`` 0600 first is what keeps them
private; files left wider by an older version are tightened at start.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
SQLITE_SUFFIXES = ("", "-wal", "-shm", "-journal")


def ensure_private_dir(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` (and parents) and make it 0700 if we own it."""
    directory = Path(path)
    directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    _tighten(directory, DIR_MODE)
    return directory


def create_private(path: str | os.PathLike[str]) -> None:
    """Make sure ``path`` exists as a 0600 file (created so, never via the umask)."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE))
    _tighten(Path(path), FILE_MODE)


def secure_sqlite(database_url: str) -> None:
    """Pre-create a SQLite database file 0600 and tighten its companions; other URLs are left alone."""
    prefix = "sqlite:///"
    if not database_url.startswith(prefix) or database_url == prefix or ":memory:" in database_url:
        return
    db_file = Path(database_url[len(prefix):].split("?", 1)[0])
    if not db_file.parent.exists():
        ensure_private_dir(db_file.parent)
    create_private(db_file)
    for suffix in SQLITE_SUFFIXES[1:]:
        companion = Path(f"{db_file}{suffix}")
        if companion.exists():
            _tighten(companion, FILE_MODE)


def _tighten(path: Path, mode: int) -> None:
    """chmod to ``mode`` when wider and ours (a root-owned dir shared with others is not ours to change)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return
    if st.st_uid == os.geteuid() and st.st_mode & 0o777 & ~mode:
        os.chmod(path, mode)


def read_or_create_secret(path: str | os.PathLike[str]) -> str:
    """The hex secret in ``path``; created (64 hex digits, 0600, O_EXCL against racing workers) if absent."""
    target = Path(path)
    try:
        return target.read_text().strip()
    except FileNotFoundError:
        pass
    ensure_private_dir(target.parent)
    value = secrets.token_hex(32)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:  # another gunicorn worker won the race
        return target.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value
