"""Failed-login throttle shared by every gunicorn worker.

Counters live in a small SQLite file in the instance directory (not in
process memory), so two workers enforce one limit.  Two kinds of counter:

* a refusing one per client address: after ``limit`` failures within
  ``window`` seconds further attempts from that address (for any user, so
  also for each (user, address) pair) get 429 with ``Retry-After`` until
  the oldest failure ages out;
* a per-user one that never refuses: once a user name has ``limit``
  failures in the window, from any mix of addresses, every further FAILED
  attempt for it is answered only after a delay that doubles with each
  failure (capped).  A correct password is never delayed or refused by it.

A lockout per user name would let anyone keep an admin out by sending five
wrong passwords a minute; refusing only per address keeps that away from
the addresses the admin uses, and the per-user delay still slows a guesser
that spreads over many addresses.  Each operation is one short
``BEGIN IMMEDIATE`` transaction.
"""

from __future__ import annotations

import math
import sqlite3
import time
from pathlib import Path
from typing import Callable, Iterable

from ..instance import create_private

_SCHEMA = """
CREATE TABLE IF NOT EXISTS login_failure (
    id  INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    ts  REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_login_failure_key_ts ON login_failure (key, ts);
"""


def _user(username: str | None) -> str:
    return (username or "").strip()[:64]


def throttle_keys(client_addr: str | None) -> list[str]:
    """The refusing counters of one attempt: its client address."""
    return [f"addr:{client_addr or '-'}"]


def user_key(username: str | None) -> str | None:
    """The per-user counter (delays failures, never refuses), or None without a user name."""
    return f"user:{_user(username)}" if _user(username) else None


class _PrivateSqlite:
    """A small SQLite file only the console's user may read; ``schema`` is created on first use."""

    schema = ""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._ready = False

    def _connect(self) -> sqlite3.Connection:
        if not self._ready:  # create it private (0600) before SQLite creates it with the umask
            create_private(self.path)
        conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        if not self._ready:
            conn.executescript(self.schema)
            self._ready = True
        return conn


class LoginThrottle(_PrivateSqlite):
    """``retry_after(keys)`` says how long to wait (0: go ahead); ``failed(keys)`` counts one."""

    schema = _SCHEMA

    def __init__(self, path: str | Path, *, limit: int = 5, window: float = 60.0,
                 delay_base: float = 0.5, delay_max: float = 4.0,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(path)
        self.limit = limit
        self.window = window
        self.delay_base = delay_base
        self.delay_max = delay_max
        self.clock = clock

    def _recent(self, conn: sqlite3.Connection, key: str, now: float, most: int) -> list[float]:
        """Timestamps of ``key``'s failures in the window, newest first (at most ``most``)."""
        rows = conn.execute(
            "SELECT ts FROM login_failure WHERE key = ? AND ts > ? ORDER BY ts DESC LIMIT ?",
            (key, now - self.window, most)).fetchall()
        return [row[0] for row in rows]

    def retry_after(self, keys: Iterable[str]) -> int:
        """Seconds until an attempt for ``keys`` is allowed again; 0 when allowed now."""
        now = self.clock()
        wait = 0.0
        conn = self._connect()
        try:
            for key in keys:
                stamps = self._recent(conn, key, now, self.limit)
                if len(stamps) >= self.limit:
                    # Allowed again once the limit-th most recent failure leaves the window.
                    wait = max(wait, stamps[-1] + self.window - now)
        finally:
            conn.close()
        return max(1, math.ceil(wait)) if wait > 0 else 0

    def failure_delay(self, key: str | None) -> float:
        """Seconds to hold a failed attempt's answer: 0 up to ``limit`` failures, then doubling, capped."""
        if key is None:
            return 0.0
        conn = self._connect()
        try:
            count = len(self._recent(conn, key, self.clock(), 64))
        finally:
            conn.close()
        if count <= self.limit:
            return 0.0
        return min(self.delay_max, self.delay_base * 2.0 ** (count - self.limit - 1))

    def failed(self, keys: Iterable[str]) -> None:
        """Count one failed attempt against every key; drop rows older than the window."""
        now = self.clock()
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT INTO login_failure (key, ts) VALUES (?, ?)", [(k, now) for k in keys])
            conn.execute("DELETE FROM login_failure WHERE ts <= ?", (now - self.window,))
            conn.execute("COMMIT")
        finally:
            conn.close()


_REVOKED_SCHEMA = """
CREATE TABLE IF NOT EXISTS revoked_session (
    sid     TEXT PRIMARY KEY,
    expires REAL NOT NULL
);
"""


class SessionRevocations(_PrivateSqlite):
    """Session ids ended by a logout, shared by every worker (same SQLite file as the throttle).

    Console sessions are signed cookies, so a copy of one would stay valid
    after its owner logged out; remembering the ids of logged-out sessions
    until the cookie would have expired anyway closes that.
    """

    schema = _REVOKED_SCHEMA

    def __init__(self, path: str | Path, *, lifetime: float,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(path)
        self.lifetime = lifetime
        self.clock = clock

    def revoke(self, sid: str) -> None:
        """Refuse ``sid`` from now on (until it would have expired by age)."""
        now = self.clock()
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT OR REPLACE INTO revoked_session (sid, expires) VALUES (?, ?)",
                         (sid, now + self.lifetime))
            conn.execute("DELETE FROM revoked_session WHERE expires < ?", (now,))
            conn.execute("COMMIT")
        finally:
            conn.close()

    def is_revoked(self, sid: str) -> bool:
        """Whether a logout ended ``sid``."""
        conn = self._connect()
        try:
            return conn.execute("SELECT 1 FROM revoked_session WHERE sid = ?", (sid,)).fetchone() is not None
        finally:
            conn.close()
