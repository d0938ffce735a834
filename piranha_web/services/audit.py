"""The audit log: one append-only, HMAC-chained table plus a copy to syslog.

Every entry stores ``prev_hash`` (the previous entry's ``hash``) and
``hash = HMAC-SHA256(key, prev_hash + canonical JSON of its own fields)``
under the instance's audit key (services.audit_anchor), so editing or
deleting any row breaks the chain from that row on even for someone who
can rewrite the database, and ``piranha-config audit verify`` names the
first broken entry.  After each commit the chain's head is anchored outside
the database (checkpoint file and syslog line), which is what reveals a
truncated tail.  Entries from before the key existed keep plain SHA-256
hashes (``keyed`` false) and can only precede keyed ones.

Two gunicorn workers may write at the same time.  Linking needs "read the
last hash, insert the next row" to be atomic, so the row is inserted FIRST
(which takes SQLite's single write lock, or runs inside our own
``BEGIN IMMEDIATE``) and only then is the previous row looked up and the
hashes filled in: no other writer can append in between.
"""

from __future__ import annotations

import hashlib
import json
import logging
import logging.handlers
import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Mapping

from sqlalchemy import Connection, Engine, and_, event, func, insert, or_, select, update
from sqlalchemy.orm import Session

from ..models import AuditEntry
from . import audit_anchor
from .audit_anchor import Checkpoint, CheckpointError

GENESIS_HASH = "0" * 64
SYSLOG_IDENT = "piranha-web"
SYSLOG_SOCKET = "/dev/log"
HASHED_FIELDS = ("id", "ts", "username", "client_addr", "action", "object_type", "object_name",
                 "detail", "revision")
PENDING_KEY = "piranha_audit_pending"  # Session.info: entries waiting for their transaction's commit

log = logging.getLogger("piranha_web.audit")
_syslog_ready = False
_table = AuditEntry.__table__


# --------------------------------------------------------------------------- diff / hashing

def _jsonable(value: Any) -> Any:
    """Values as JSON can hold them (datetimes, enums, sets, dataclasses become plain data)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(_jsonable(v) for v in value)
    if hasattr(value, "value") and hasattr(value, "name"):  # Enum
        return _jsonable(value.value)
    return str(value)


def diff(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> dict[str, list[Any]]:
    """Field-by-field changes ``{field: [old, new]}``; unchanged fields are left out.

    ``before=None`` is a creation (every field ``[None, new]``), ``after=None``
    a deletion (every field ``[old, None]``).
    """
    old = {str(k): _jsonable(v) for k, v in (before or {}).items()}
    new = {str(k): _jsonable(v) for k, v in (after or {}).items()}
    out: dict[str, list[Any]] = {}
    for key in list(old) + [k for k in new if k not in old]:
        a, b = old.get(key), new.get(key)
        if a != b:
            out[key] = [a, b]
    return out


def canonical_ts(ts: datetime | str) -> str:
    """One spelling of a timestamp: naive UTC, microseconds, space separator (what SQLite stores)."""
    if isinstance(ts, str):
        ts = datetime.fromisoformat(ts)
    if ts.tzinfo is not None:
        ts = ts.astimezone(timezone.utc).replace(tzinfo=None)
    return ts.isoformat(sep=" ", timespec="microseconds")


def canonical_json(fields: Mapping[str, Any]) -> str:
    """Sorted-key, compact, ASCII JSON of the hashed fields: the bytes the hash covers."""
    data = {name: fields.get(name) for name in HASHED_FIELDS}
    data["ts"] = canonical_ts(data["ts"]) if data["ts"] is not None else None
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def compute_hash(prev_hash: str, fields: Mapping[str, Any], secret: bytes | None) -> str:
    """``HMAC-SHA256(secret, prev_hash + canonical_json(fields))``; plain SHA-256 when ``secret`` is None."""
    text = prev_hash + canonical_json(fields)
    if secret is None:
        return hashlib.sha256(text.encode("ascii")).hexdigest()
    return audit_anchor.mac(secret, text)


def entry_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    """The keyed hash of an entry under the current instance's audit key."""
    return compute_hash(prev_hash, fields, audit_anchor.key())


# --------------------------------------------------------------------------- writing

def _utcnow_naive() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _append(conn: Connection, values: dict[str, Any]) -> dict[str, Any]:
    """Insert a row (taking the write lock), then link it to its predecessor. Returns the row."""
    secret = audit_anchor.key()
    placeholder = "pending-" + uuid.uuid4().hex
    new_id = conn.execute(
        insert(_table).values(**values, prev_hash=GENESIS_HASH, hash=placeholder, keyed=True)
        .returning(_table.c.id)
    ).scalar_one()
    prev = conn.execute(
        select(_table.c.hash).where(_table.c.id < new_id).order_by(_table.c.id.desc()).limit(1)
    ).scalar()
    prev_hash = prev or GENESIS_HASH
    row = dict(values, id=new_id)
    digest = compute_hash(prev_hash, row, secret)
    conn.execute(update(_table).where(_table.c.id == new_id).values(prev_hash=prev_hash, hash=digest))
    row.update(prev_hash=prev_hash, hash=digest)
    return row


def _append_own_transaction(values: dict[str, Any]) -> dict[str, Any]:
    """Append in a transaction of our own: ``BEGIN IMMEDIATE`` on SQLite, table lock elsewhere."""
    from ..extensions import db

    engine = db.engine
    if engine.dialect.name == "sqlite":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                row = _append(conn, values)
            except BaseException:
                conn.exec_driver_sql("ROLLBACK")
                raise
            conn.exec_driver_sql("COMMIT")
    else:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql("LOCK TABLE audit_entry IN SHARE ROW EXCLUSIVE MODE")
            row = _append(conn, values)
    _committed(engine, [row])
    return row


def record(actor: str, action: str, object_type: str, object_name: str | None = None,
           before: Mapping[str, Any] | None = None, after: Mapping[str, Any] | None = None,
           revision: int | None = None, client_addr: str | None = None,
           session: Session | None = None, detail: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Append one audit entry and copy it to syslog; return the stored fields.

    With ``session`` the entry joins the caller's transaction (it is committed,
    or rolled back, with the change it describes).  Without one it is
    committed at once in its own ``BEGIN IMMEDIATE`` transaction (logins).
    ``detail`` adds non-diff facts (pulse's answer, a failure reason) beside
    the ``{field: [old, new]}`` diff of ``before``/``after``.
    """
    payload: dict[str, Any] = diff(before, after)
    if detail:
        payload.update({str(k): _jsonable(v) for k, v in detail.items()})
    if client_addr is None:
        client_addr = _request_addr()
    values = {
        "ts": _utcnow_naive(),
        "username": (actor or "?")[:64],
        "client_addr": client_addr[:64] if client_addr else None,
        "action": action[:64],
        "object_type": (object_type or "")[:64],
        "object_name": object_name[:255] if object_name is not None else None,
        "detail": json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
        "revision": revision,
    }
    if session is None:
        return _append_own_transaction(values)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_lock_pg())
    row = _append(session.connection(), values)
    session.info.setdefault(PENDING_KEY, []).append(row)  # anchored and logged once committed
    return row


@event.listens_for(Session, "after_commit")
def _session_committed(session: Session) -> None:
    rows = session.info.pop(PENDING_KEY, None)
    if rows:
        _committed(session.get_bind(), rows)


@event.listens_for(Session, "after_rollback")
def _session_rolled_back(session: Session) -> None:
    session.info.pop(PENDING_KEY, None)  # those entries never existed


def _committed(engine: Engine, rows: list[dict[str, Any]]) -> None:
    """Anchor the chain's head outside the database, then copy each new entry to syslog.

    The change these entries describe is already committed, so a checkpoint
    that cannot be written is reported, not raised: the caller still has to
    finish (write lvs.cf, tell pulse), and the next write anchors again.
    """
    try:
        head = anchor(engine)
    except Exception as exc:  # noqa: BLE001 - any failure here must not undo a committed change
        head = None
        _setup_syslog()
        log.error("audit checkpoint not written: %s", _one_line(exc))
    for row in rows:
        _to_syslog(row, head)


def anchor(engine: Engine) -> Checkpoint | None:
    """Record the committed head (count, last id and hash, first keyed id) in the checkpoint file."""
    with engine.connect() as conn:
        count = conn.execute(select(func.count(_table.c.id))).scalar() or 0
        last = conn.execute(select(_table.c.id, _table.c.hash).order_by(_table.c.id.desc()).limit(1)).first()
        keyed_from = conn.execute(select(func.min(_table.c.id)).where(_table.c.keyed.is_(True))).scalar()
    if last is None:
        return None
    return audit_anchor.advance_checkpoint(Checkpoint(count, last.id, last.hash, keyed_from))


def _lock_pg() -> Any:
    from sqlalchemy import text

    return text("LOCK TABLE audit_entry IN SHARE ROW EXCLUSIVE MODE")


def _request_addr() -> str | None:
    """The client address of the current request, if there is one (ProxyFix already applied)."""
    try:
        from flask import has_request_context, request
    except ImportError:  # pragma: no cover
        return None
    return request.remote_addr if has_request_context() else None


# --------------------------------------------------------------------------- syslog

def _setup_syslog() -> None:
    """Attach a SysLogHandler (ident ``piranha-web``) once, if /dev/log exists."""
    global _syslog_ready
    if _syslog_ready:
        return
    _syslog_ready = True
    log.setLevel(logging.INFO)
    if not os.path.exists(SYSLOG_SOCKET):
        log.addHandler(logging.NullHandler())  # no syslog here (containers, tests): stay quiet
        return
    try:
        handler = logging.handlers.SysLogHandler(
            address=SYSLOG_SOCKET, facility=logging.handlers.SysLogHandler.LOG_AUTHPRIV)
    except OSError:
        return
    handler.ident = f"{SYSLOG_IDENT}[{os.getpid()}]: "
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)


def _one_line(value: Any) -> str:
    """Control characters escaped: a user name typed at the login form cannot forge log lines."""
    text = str(value)
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _quoted(value: Any) -> str:
    """A syslog field value: numbers as they are, anything else in double quotes with \\ and \" escaped."""
    if value is None:
        return "-"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return '"' + _one_line(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def syslog_line(row: Mapping[str, Any], head: Checkpoint | None = None) -> str:
    """The one-line syslog form of an entry plus the chain's head (no passwords are ever in entries).

    Every value is a number or a quoted, escaped string (``shlex.split`` reads
    it back), so a user name holding ``key=value`` pairs or quotes cannot add
    fields.  ``chain_count``/``chain_head`` anchor the chain on the log host.
    """
    obj = row.get("object_type") or ""
    if row.get("object_name"):
        obj = f"{obj}/{row['object_name']}"
    fields: list[tuple[str, Any]] = [
        ("id", row.get("id")), ("user", row.get("username")), ("addr", row.get("client_addr")),
        ("action", row.get("action")), ("object", obj or None), ("revision", row.get("revision")),
        ("detail", row.get("detail")), ("hash", row.get("hash"))]
    if head is not None:
        fields += [("chain_count", head.count), ("chain_head", head.last_hash)]
    return "audit " + " ".join(f"{name}={_quoted(value)}" for name, value in fields)


def warn(message: str, *args: Any) -> None:
    """A syslog warning that is not an audit entry (e.g. throttled logins, to avoid log floods)."""
    _setup_syslog()
    log.warning(message, *(_one_line(a) for a in args))


def _to_syslog(row: Mapping[str, Any], head: Checkpoint | None = None) -> None:
    _setup_syslog()
    log.info(syslog_line(row, head))


# --------------------------------------------------------------------------- reading

@dataclass(frozen=True)
class VerifyResult:
    """Outcome of a chain check: ``broken_id`` is the first entry whose link is wrong.

    ``unkeyed`` counts the intact entries written before the audit key existed.
    """

    ok: bool
    count: int
    broken_id: int | None = None
    reason: str = ""
    unkeyed: int = 0


def row_fields(entry: AuditEntry) -> dict[str, Any]:
    """The hashed fields of a stored entry."""
    return {name: getattr(entry, name) for name in HASHED_FIELDS}


def verify(session: Session, instance: Path | None = None) -> VerifyResult:
    """Walk the chain in id order against the key and the checkpoint; report the first problem.

    Finds edited entries (their HMAC no longer matches), deleted ones (the
    next entry's link breaks; recomputing needs the key), entries turned
    back into unkeyed ones (below ``keyed_from`` only) and a truncated tail
    (the checkpoint's head is gone or differs).  ``instance`` holds the key
    and checkpoint (default: the current app's instance directory).
    """
    secret = audit_anchor.key(instance)
    try:
        point = audit_anchor.read_checkpoint(instance, secret)
    except CheckpointError as err:
        return VerifyResult(False, 0, None, str(err))
    keyed_from = point.keyed_from if point is not None else None
    prev, count, unkeyed, keyed_seen, head_seen = GENESIS_HASH, 0, 0, False, point is None
    for entry in session.scalars(select(AuditEntry).order_by(AuditEntry.id).execution_options(yield_per=500)):
        if entry.prev_hash != prev:
            return VerifyResult(False, count, entry.id, "prev_hash does not match the previous entry")
        if not entry.keyed and (keyed_seen or (keyed_from is not None and entry.id >= keyed_from)):
            return VerifyResult(False, count, entry.id, "entry is not keyed, but the chain is keyed from "
                                f"entry {keyed_from or '?'} on")
        if entry.hash != compute_hash(entry.prev_hash, row_fields(entry), secret if entry.keyed else None):
            return VerifyResult(False, count, entry.id, "hash does not match the entry's contents")
        keyed_seen = keyed_seen or entry.keyed
        unkeyed += not entry.keyed
        prev = entry.hash
        count += 1
        if point is not None and entry.id == point.last_id:
            head_seen = True
            if (count, entry.hash) != (point.count, point.last_hash):
                return VerifyResult(False, count, entry.id, f"the checkpoint records {point.count} entries "
                                    f"up to this one with another hash: entries were removed or rewritten")
    if point is not None and not head_seen:
        return VerifyResult(False, count, None, f"truncated: the checkpoint records {point.count} entries "
                            f"up to entry {point.last_id}, the database holds {count} up to it")
    if point is None and keyed_seen:
        return VerifyResult(False, count, None, "the checkpoint file is missing for a keyed chain")
    return VerifyResult(True, count, unkeyed=unkeyed)


@dataclass(frozen=True)
class Filters:
    """What the AUDIT LOG panel, the exports and ``audit list`` can filter on."""

    user: str | None = None
    object: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def clauses(self) -> list[Any]:
        """SQL conditions for these filters."""
        out: list[Any] = []
        if self.user:
            out.append(AuditEntry.username == self.user)
        if self.object:
            like = f"%{_escape_like(self.object)}%"
            out.append(or_(AuditEntry.object_name.like(like, escape="\\"),
                           AuditEntry.object_type.like(like, escape="\\")))
        if self.action:
            out.append(AuditEntry.action.like(f"{_escape_like(self.action)}%", escape="\\"))
        if self.since:
            out.append(AuditEntry.ts >= _naive_utc(self.since))
        if self.until:
            out.append(AuditEntry.ts <= _naive_utc(self.until))
        return out


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _naive_utc(ts: datetime) -> datetime:
    return ts.astimezone(timezone.utc).replace(tzinfo=None) if ts.tzinfo else ts


def parse_when(text: str | None, *, end_of_day: bool = False) -> datetime | None:
    """An ISO date or date-time (``2026-11-26`` or ``2026-11-26T07:00``); None if empty.

    A bare date used as an upper bound means the end of that day.  Raises
    ValueError on garbage.
    """
    if not text or not text.strip():
        return None
    text = text.strip()
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if end_of_day and len(text) == 10:
        value = value.replace(hour=23, minute=59, second=59, microsecond=999999)
    return value


@dataclass(frozen=True)
class Page:
    """One page of entries, newest first, plus the keys to the neighbouring pages."""

    entries: list[AuditEntry]
    newer_than: int | None  # pass as ``after`` to get the newer page
    older_than: int | None  # pass as ``before`` to get the older page
    total: int


def page(session: Session, filters: Filters, *, before: int | None = None, after: int | None = None,
         size: int = 50) -> Page:
    """Keyset pagination (by id), so page 200 of a big log costs the same as page 1."""
    base = filters.clauses()
    total = session.scalar(select(func.count(AuditEntry.id)).where(*base)) if base else \
        session.scalar(select(func.count(AuditEntry.id)))
    stmt = select(AuditEntry).where(*base)
    if after is not None:
        rows = list(session.scalars(
            stmt.where(AuditEntry.id > after).order_by(AuditEntry.id).limit(size + 1)))
        has_newer = len(rows) > size
        rows = list(reversed(rows[:size]))
        has_older = bool(rows) and session.scalar(
            select(AuditEntry.id).where(*base, AuditEntry.id < rows[-1].id).limit(1)) is not None
    else:
        if before is not None:
            stmt = stmt.where(AuditEntry.id < before)
        rows = list(session.scalars(stmt.order_by(AuditEntry.id.desc()).limit(size + 1)))
        has_older = len(rows) > size
        rows = rows[:size]
        has_newer = before is not None and bool(rows) and session.scalar(
            select(AuditEntry.id).where(*base, AuditEntry.id > rows[0].id).limit(1)) is not None
    return Page(
        entries=rows,
        newer_than=rows[0].id if rows and has_newer else None,
        older_than=rows[-1].id if rows and has_older else None,
        total=total or 0,
    )


def iter_entries(session: Session, filters: Filters, *, batch: int = 500) -> Iterator[AuditEntry]:
    """Every matching entry, oldest first, fetched in batches (exports, ``audit list``)."""
    last = 0
    while True:
        rows = list(session.scalars(
            select(AuditEntry).where(and_(*filters.clauses(), AuditEntry.id > last))
            .order_by(AuditEntry.id).limit(batch)))
        if not rows:
            return
        yield from rows
        last = rows[-1].id


def entry_dict(entry: AuditEntry) -> dict[str, Any]:
    """An entry as plain JSON-ready data (exports, ``audit list --json``)."""
    try:
        detail = json.loads(entry.detail or "{}")
    except ValueError:
        detail = {"_raw": entry.detail}
    return {
        "id": entry.id,
        "ts": canonical_ts(entry.ts).replace(" ", "T") + "Z",
        "username": entry.username,
        "client_addr": entry.client_addr,
        "action": entry.action,
        "object_type": entry.object_type,
        "object_name": entry.object_name,
        "detail": detail,
        "revision": entry.revision,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }


def describe_changes(detail: Mapping[str, Any]) -> list[tuple[str, Any, Any, bool]]:
    """``(field, old, new, is_change)`` rows for display: diffs first, plain facts after."""
    changes = [(k, v[0], v[1], True) for k, v in detail.items() if isinstance(v, list) and len(v) == 2]
    facts = [(k, None, v, False) for k, v in detail.items() if not (isinstance(v, list) and len(v) == 2)]
    return changes + facts
