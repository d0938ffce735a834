"""Database tables: the definitions the user edits, users, published revisions, audit log.

Editable rows carry a ``version`` column (SQLAlchemy ``version_id_col``): the
forms send it back, a stale ACCEPT is refused instead of silently
overwriting someone else's change.  Column names mirror lvs.cf keys so that
DB row -> ``piranha_web.lvscf`` dataclass is a plain field copy.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import Base


# The largest value an INTEGER column (row ids, versions) can hold in SQLite.
MAX_ROW_ID = 2 ** 63 - 1


def row_id(text: object) -> int | None:
    """``text`` as a row id or version (decimal digits, 0..MAX_ROW_ID); None for anything else.

    Anything bigger could never name a row, and handing it to SQLite raises
    OverflowError instead of finding nothing.
    """
    value = str(text) if isinstance(text, (str, int)) and not isinstance(text, bool) else ""
    if not value.isascii() or not value.isdigit() or len(value) > 19:
        return None
    number = int(value)
    return number if number <= MAX_ROW_ID else None


def ids_fit(values: dict[str, object] | None) -> bool:
    """Whether every integer URL value (``<int:vid>``...) could be a row id; else it names no row."""
    return all(v <= MAX_ROW_ID for v in (values or {}).values() if isinstance(v, int))


def utcnow() -> datetime:
    """Timezone-aware now in UTC (stored naive-UTC by SQLite)."""
    return datetime.now(timezone.utc)


class User(Base):
    """A console user. ``get_id`` embeds ``session_epoch`` so a password change ends old sessions."""

    __tablename__ = "user"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="admin")  # "admin" | future "readonly"
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(default=utcnow)

    # Flask-Login protocol (written out to avoid UserMixin's id-only get_id).
    is_active = True
    is_anonymous = False

    @property
    def is_authenticated(self) -> bool:  # noqa: D102
        return True

    @property
    def can_write(self) -> bool:
        """Whether this user may change the configuration (readonly users may not)."""
        return self.role != "readonly"

    def get_id(self) -> str:
        """Session identifier: ``"<id>:<session_epoch>"``."""
        return f"{self.id}:{self.session_epoch}"


class AuditEntry(Base):
    """One append-only, HMAC-chained audit record (written by services.audit)."""

    __tablename__ = "audit_entry"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    ts: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    username: Mapped[str] = mapped_column(String(64))
    client_addr: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(64))
    object_name: Mapped[str | None] = mapped_column(String(255))
    detail: Mapped[str] = mapped_column(Text, default="{}")  # JSON: field -> [before, after]
    revision: Mapped[int | None] = mapped_column(Integer)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    # True: ``hash`` is an HMAC under the instance's audit key; False: plain SHA-256 (entries
    # written before the key existed).
    keyed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Revision(Base):
    """One published lvs.cf; ``id`` is the revision number shown to users."""

    __tablename__ = "revision"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    serial_no: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    username: Mapped[str] = mapped_column(String(64))
    comment: Mapped[str] = mapped_column(Text, default="")
    pulse_result: Mapped[str | None] = mapped_column(Text)


class GlobalSettings(Base):
    """The single row of global + redundancy keys (lvs.cf top level)."""

    __tablename__ = "global_settings"

    id: Mapped[int] = mapped_column(primary_key=True, default=1)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    serial_no: Mapped[int] = mapped_column(Integer, default=0)
    primary: Mapped[str | None] = mapped_column(String(255))
    primary_private: Mapped[str | None] = mapped_column(String(255))
    primary_shared: Mapped[str | None] = mapped_column(String(255))
    service: Mapped[str] = mapped_column(String(8), default="lvs")
    rsh_command: Mapped[str | None] = mapped_column(String(255))
    backup_active: Mapped[bool] = mapped_column(Boolean, default=False)
    backup: Mapped[str | None] = mapped_column(String(255))
    backup_private: Mapped[str | None] = mapped_column(String(255))
    backup_shared: Mapped[str | None] = mapped_column(String(255))
    heartbeat: Mapped[bool] = mapped_column(Boolean, default=True)
    heartbeat_port: Mapped[int] = mapped_column(Integer, default=539)
    keepalive: Mapped[float] = mapped_column(Float, default=6)
    deadtime: Mapped[float] = mapped_column(Float, default=18)
    heartbeat_key_file: Mapped[str | None] = mapped_column(String(255))
    network: Mapped[str] = mapped_column(String(8), default="nat")
    nat_router: Mapped[str | None] = mapped_column(String(64))
    nat_router_device: Mapped[str | None] = mapped_column(String(32))
    nat_nmask: Mapped[str | None] = mapped_column(String(32))
    nat_router6: Mapped[str | None] = mapped_column(String(64))
    nat_router6_device: Mapped[str | None] = mapped_column(String(32))
    nat_nmask6: Mapped[str | None] = mapped_column(String(32))
    reservation_conflict_action: Mapped[str | None] = mapped_column(String(16))
    debug_level: Mapped[str] = mapped_column(String(16), default="NONE")
    active_cmd: Mapped[str | None] = mapped_column(Text)
    inactive_cmd: Mapped[str | None] = mapped_column(Text)
    monitor_links: Mapped[int] = mapped_column(Integer, default=0)
    syncdaemon: Mapped[bool] = mapped_column(Boolean, default=False)
    syncd_iface: Mapped[str | None] = mapped_column(String(32))
    syncd_id: Mapped[int | None] = mapped_column(Integer)
    tcp_timeout: Mapped[int] = mapped_column(Integer, default=0)
    tcpfin_timeout: Mapped[int] = mapped_column(Integer, default=0)
    udp_timeout: Mapped[int] = mapped_column(Integer, default=0)
    hard_shutdown: Mapped[bool] = mapped_column(Boolean, default=True)
    ipvsadm: Mapped[str | None] = mapped_column(String(255))
    sync: Mapped[bool] = mapped_column(Boolean, default=False)

    __mapper_args__ = {"version_id_col": version}


class HealthCheckColumns:
    """The health-check keys a virtual server sets and a real server may override (lvscf/keys.py)."""

    fall: Mapped[int | None] = mapped_column(Integer)
    rise: Mapped[int | None] = mapped_column(Integer)
    check_interval: Mapped[float | None] = mapped_column(Float)
    check_timeout: Mapped[float | None] = mapped_column(Float)
    check: Mapped[str | None] = mapped_column(String(16))
    check_path: Mapped[str | None] = mapped_column(Text)
    check_host: Mapped[str | None] = mapped_column(String(255))
    check_status: Mapped[str | None] = mapped_column(String(255))
    check_body: Mapped[str | None] = mapped_column(Text)
    check_digest: Mapped[str | None] = mapped_column(String(64))
    check_port: Mapped[int | None] = mapped_column(Integer)
    check_verify: Mapped[bool | None] = mapped_column(Boolean)
    check_ca_file: Mapped[str | None] = mapped_column(Text)
    check_query: Mapped[str | None] = mapped_column(String(255))
    check_qtype: Mapped[str | None] = mapped_column(String(16))
    check_dynamic: Mapped[bool | None] = mapped_column(Boolean)
    agent_port: Mapped[int | None] = mapped_column(Integer)
    slowstart: Mapped[float | None] = mapped_column(Float)


class VirtualServer(HealthCheckColumns, Base):
    """A ``virtual NAME {}`` block, including its monitoring-script keys (send/expect/...)."""

    __tablename__ = "virtual_server"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    position: Mapped[int] = mapped_column(Integer, default=0, index=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    address: Mapped[str | None] = mapped_column(String(64))
    device: Mapped[str | None] = mapped_column(String(32))
    vip_nmask: Mapped[str | None] = mapped_column(String(32))
    sorry_server: Mapped[str | None] = mapped_column(String(64))
    fwmark: Mapped[int | None] = mapped_column(Integer)
    port: Mapped[int] = mapped_column(Integer, default=80)
    protocol: Mapped[str] = mapped_column(String(8), default="tcp")
    scheduler: Mapped[str] = mapped_column(String(8), default="wlc")
    persistent: Mapped[int] = mapped_column(Integer, default=0)
    pmask: Mapped[str | None] = mapped_column(String(32))
    send: Mapped[str | None] = mapped_column(Text)
    expect: Mapped[str | None] = mapped_column(Text)
    use_regex: Mapped[bool] = mapped_column(Boolean, default=False)
    send_program: Mapped[str | None] = mapped_column(Text)
    load_monitor: Mapped[str | None] = mapped_column(String(16))
    timeout: Mapped[float] = mapped_column(Float, default=6)
    reentry: Mapped[float] = mapped_column(Float, default=15)
    quiesce_server: Mapped[bool] = mapped_column(Boolean, default=False)
    client_monitor: Mapped[str | None] = mapped_column(String(255))

    servers: Mapped[list[RealServer]] = relationship(
        back_populates="virtual", cascade="all, delete-orphan", passive_deletes=True,
        order_by="RealServer.position, RealServer.id",
    )

    __mapper_args__ = {"version_id_col": version}


class RealServer(HealthCheckColumns, Base):
    """A ``server NAME {}`` block of one virtual server."""

    __tablename__ = "real_server"
    __table_args__ = (
        UniqueConstraint("virtual_id", "name", name="uq_real_server_virtual_name"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    virtual_id: Mapped[int] = mapped_column(ForeignKey("virtual_server.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(255))
    address: Mapped[str] = mapped_column(String(64), default="0.0.0.0")
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    weight: Mapped[int] = mapped_column(Integer, default=1)
    port: Mapped[int | None] = mapped_column(Integer)

    virtual: Mapped[VirtualServer] = relationship(back_populates="servers")

    __mapper_args__ = {"version_id_col": version}


class FailoverService(Base):
    """A ``failover NAME {}`` block (FOS mode)."""

    __tablename__ = "failover_service"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    address: Mapped[str | None] = mapped_column(String(64))
    device: Mapped[str | None] = mapped_column(String(32))
    vip_nmask: Mapped[str | None] = mapped_column(String(32))
    port: Mapped[int] = mapped_column(Integer, default=80)
    send: Mapped[str | None] = mapped_column(Text)
    expect: Mapped[str | None] = mapped_column(Text)
    timeout: Mapped[float] = mapped_column(Float, default=10)
    reentry: Mapped[float] = mapped_column(Float, default=180)
    start_cmd: Mapped[str | None] = mapped_column(Text)
    stop_cmd: Mapped[str | None] = mapped_column(Text)

    __mapper_args__ = {"version_id_col": version}


def utcnow_naive() -> datetime:
    """Now in UTC without tzinfo (what the DateTime columns of api_token hold)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _iso(ts: datetime | None) -> str | None:
    return ts.replace(tzinfo=timezone.utc).isoformat().replace("+00:00", "Z") if ts else None


class ApiToken(Base):
    """One bearer token of one user (``revoked_at`` set = no longer accepted); see services.tokens."""

    __tablename__ = "api_token"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow_naive)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    user: Mapped[User] = relationship(lazy="joined")

    def as_dict(self) -> dict[str, object]:
        """What listings show (never the hash)."""
        return {"id": self.id, "name": self.name, "user": self.user.username, "prefix": self.prefix,
                "created_at": _iso(self.created_at), "last_used_at": _iso(self.last_used_at),
                "revoked": self.revoked_at is not None}
