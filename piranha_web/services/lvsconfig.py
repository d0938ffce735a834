"""DB definitions <-> LvsConfig, and publishing: validate -> atomic write -> revision -> audit.

The database holds what the user defined; lvs.cf is rendered from it on every
accepted change and is what pulse reads.  ``piranha_web.lvscf`` does all the
validation, so the form, the file and the daemon never disagree.  Every
object built here carries a unique ``line`` marker so a validation Problem
can be traced back to the row (and form) it is about.
"""

from __future__ import annotations

import gc
import hashlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from flask import current_app
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from .. import lvscf
from ..extensions import db
from ..lvscf import files, keys
from ..lvscf.model import Director
from ..models import FailoverService, GlobalSettings, RealServer, Revision, VirtualServer
from .schema import file_lock


# The lvs.cf keys of each block, from the key table.  Every key must have a DB column
# (tests/services/test_lvsconfig.py checks it), or an import would drop it.
GLOBAL_FIELDS = keys.fields(keys.GLOBAL)
VIRTUAL_FIELDS = keys.fields(keys.VIRTUAL)
REAL_FIELDS = keys.fields(keys.SERVER)
FAILOVER_FIELDS = keys.fields(keys.FAILOVER)

ObjectRef = tuple[str, int]  # ("global"|"virtual"|"real"|"failover", row id)
GLOBAL_REF: ObjectRef = ("global", 1)


@dataclass
class Built:
    """An LvsConfig built from the DB plus the map from line marker to DB row."""

    cfg: lvscf.LvsConfig
    index: dict[int, ObjectRef] = field(default_factory=dict)
    names: dict[ObjectRef, str] = field(default_factory=dict)

    def ref_of(self, problem: lvscf.Problem) -> ObjectRef:
        """The row a problem is about (global settings when it names no block)."""
        return self.index.get(problem.line, GLOBAL_REF)


# --------------------------------------------------------------------------- DB -> LvsConfig

def settings_row(session: Session | None = None) -> GlobalSettings:
    """The single global-settings row, created with GUI defaults on first use."""
    session = session or db.session
    row = session.get(GlobalSettings, 1)
    if row is None:
        row = GlobalSettings(id=1)
        session.add(row)
        session.flush()
    return row


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while building/validating/rendering tens of thousands of small objects.

    They are all acyclic and short-lived; letting generation-2 collections
    walk the whole heap in the middle of a publish only adds latency.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def ensure_settings() -> None:
    """Create (and commit) the settings row so every form starts from a stored version."""
    if db.session.get(GlobalSettings, 1) is None:
        db.session.add(GlobalSettings(id=1))
        try:
            db.session.commit()
        except Exception:  # another worker created it first
            db.session.rollback()


def build(session: Session | None = None, serial_no: int | None = None) -> Built:
    """The whole configuration as an LvsConfig.

    Column-tuple Core selects and keyword construction keep this at a few
    tens of milliseconds for 1,000 virtual x 10 real servers (ORM loading
    of the same rows costs ten times more).
    """
    session = session or db.session
    gs = settings_row(session)
    cfg = lvscf.LvsConfig(**{k: getattr(gs, k) for k in GLOBAL_FIELDS})
    cfg.bgp_peers = list(cfg.bgp_peers or [])
    cfg.directors = [Director(name, address) for name, address in gs.directors or []]
    if serial_no is not None:
        cfg.serial_no = serial_no
    built = Built(cfg)
    marker = iter(range(10, 1 << 60))
    servers: dict[int, list[lvscf.RealServer]] = {}
    rt = RealServer.__table__
    real_rows = session.execute(select(rt.c.virtual_id, rt.c.id, *(rt.c[k] for k in REAL_FIELDS))
                                .order_by(rt.c.virtual_id, rt.c.position, rt.c.id))
    for virtual_id, rid, *values in real_rows:
        rs = lvscf.RealServer(**dict(zip(REAL_FIELDS, values)))
        _mark(built, rs, next(marker), ("real", rid))
        servers.setdefault(virtual_id, []).append(rs)
    vt = VirtualServer.__table__
    for vid, *values in session.execute(select(vt.c.id, *(vt.c[k] for k in VIRTUAL_FIELDS))
                                        .order_by(vt.c.position, vt.c.id)):
        vs = lvscf.VirtualServer(**dict(zip(VIRTUAL_FIELDS, values)), servers=servers.get(vid, []))
        _mark(built, vs, next(marker), ("virtual", vid))
        cfg.virtuals.append(vs)
    ft = FailoverService.__table__
    for fid, *values in session.execute(select(ft.c.id, *(ft.c[k] for k in FAILOVER_FIELDS))
                                        .order_by(ft.c.position, ft.c.id)):
        fos = lvscf.FailoverService(**dict(zip(FAILOVER_FIELDS, values)))
        _mark(built, fos, next(marker), ("failover", fid))
        cfg.failovers.append(fos)
    return built


def _mark(built: Built, obj: Any, line: int, ref: ObjectRef) -> None:
    obj.line = line
    built.index[line] = ref
    built.names[ref] = obj.name


def problems_of(cfg: lvscf.LvsConfig) -> list[lvscf.Problem]:
    """Every problem lvscf finds in ``cfg`` (validate, then whether it renders at all)."""
    return check(cfg)[0]


def check(cfg: lvscf.LvsConfig) -> tuple[list[lvscf.Problem], str | None]:
    """(problems, rendered text): validate, then render once (the text is what gets written)."""
    try:
        lvscf.validate(cfg)
        return [], lvscf.dumps(cfg)
    except lvscf.LvsCfError as err:
        return list(err.problems), None


# --------------------------------------------------------------------------- LvsConfig -> DB

def replace_definitions(cfg: lvscf.LvsConfig, session: Session | None = None) -> None:
    """Make the DB say exactly what ``cfg`` says (import, rollback)."""
    session = session or db.session
    gs = settings_row(session)
    for key in GLOBAL_FIELDS:
        setattr(gs, key, getattr(cfg, key))
    gs.bgp_peers = list(cfg.bgp_peers)
    gs.directors = [[d.name, d.address] for d in cfg.directors]
    for model in (RealServer, VirtualServer, FailoverService):
        session.execute(delete(model).execution_options(synchronize_session=False))
    for obj in list(session.identity_map.values()):
        if isinstance(obj, (VirtualServer, RealServer, FailoverService)):
            session.expunge(obj)
    vrows: list[VirtualServer] = []
    for pos, vs in enumerate(cfg.virtuals):
        row = VirtualServer(position=pos, **{k: getattr(vs, k) for k in VIRTUAL_FIELDS})
        row.servers = [RealServer(position=i, **{k: getattr(rs, k) for k in REAL_FIELDS})
                       for i, rs in enumerate(vs.servers)]
        vrows.append(row)
    session.add_all(vrows)
    session.add_all(FailoverService(position=pos, **{k: getattr(f, k) for k in FAILOVER_FIELDS})
                    for pos, f in enumerate(cfg.failovers))
    session.flush()


def is_empty(session: Session | None = None) -> bool:
    """True when nothing has been defined or published yet."""
    session = session or db.session
    return (session.scalar(select(func.count()).select_from(Revision)) == 0
            and session.scalar(select(func.count()).select_from(VirtualServer)) == 0
            and session.scalar(select(func.count()).select_from(FailoverService)) == 0)


# --------------------------------------------------------------------------- files

def lvs_cf_path() -> Path:
    """Where lvs.cf lives (PIRANHA_LVS_CF)."""
    return Path(current_app.config["LVS_CF"])


def sha256(text: str) -> str:
    """Hex sha256 of ``text`` as UTF-8 (what a Revision stores)."""
    return hashlib.sha256(text.encode()).hexdigest()


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` so pulse sees the old or the new file, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    files.write_atomic(path, text, mode=0o644)


def read_disk() -> str | None:
    """lvs.cf as it is on disk now, or None when missing/unreadable."""
    try:
        return lvs_cf_path().read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def publish_lock() -> Any:
    """Serialises publishes across gunicorn workers (serial numbers stay unique)."""
    return file_lock(Path(current_app.config["INSTANCE_PATH"]) / "publish.lock")


# --------------------------------------------------------------------------- revisions

def last_revision(session: Session | None = None) -> Revision | None:
    """The newest published revision."""
    session = session or db.session
    return session.scalars(select(Revision).order_by(Revision.id.desc()).limit(1)).first()


def next_serial(session: Session | None = None) -> int:
    """One more than anything published or imported so far."""
    session = session or db.session
    top = session.scalar(select(func.max(Revision.serial_no))) or 0
    return max(top, settings_row(session).serial_no or 0) + 1


def store_revision(text: str, serial_no: int, username: str, comment: str,
                   session: Session | None = None) -> Revision:
    """Add a Revision row for ``text`` (not committed)."""
    session = session or db.session
    rev = Revision(serial_no=serial_no, text=text, sha256=sha256(text), username=username, comment=comment)
    session.add(rev)
    session.flush()
    return rev


def record_revision(built: Built, username: str, comment: str, text: str | None = None) -> Revision:
    """Store ``built.cfg`` as the next revision; the caller commits, THEN writes ``rev.text``.

    ``text`` is ``built.cfg`` already rendered with its bumped serial_no (as
    ``check`` returns it); without it the serial is bumped and rendered here.
    (Writing before the commit would let a crash leave lvs.cf at a text no
    revision holds.)
    """
    if text is None:
        built.cfg.serial_no = next_serial()
        text = lvscf.dumps(built.cfg)
    settings_row().serial_no = built.cfg.serial_no
    return store_revision(text, built.cfg.serial_no, username, comment)


# --------------------------------------------------------------------------- hand edits

_disk_cache: dict[str, tuple[tuple[int, int, int], str]] = {}


def disk_sha() -> str | None:
    """sha256 of lvs.cf on disk, cached on (inode, size, mtime) so pages stay cheap."""
    path = lvs_cf_path()
    try:
        st = path.stat()
    except OSError:
        return None
    key = (st.st_ino, st.st_size, st.st_mtime_ns)
    cached = _disk_cache.get(str(path))
    if cached and cached[0] == key:
        return cached[1]
    text = read_disk()
    if text is None:
        return None
    digest = sha256(text)
    _disk_cache[str(path)] = (key, digest)
    return digest


def disk_state() -> dict[str, Any] | None:
    """None when lvs.cf matches the last revision; else what is off, for the banner."""
    rev_sha = db.session.scalar(select(Revision.sha256).order_by(Revision.id.desc()).limit(1))
    on_disk = disk_sha()
    if rev_sha is None:
        return {"kind": "unmanaged", "path": str(lvs_cf_path())} if on_disk else None
    if on_disk is None:
        return {"kind": "missing", "path": str(lvs_cf_path())}
    if on_disk != rev_sha:
        return {"kind": "modified", "path": str(lvs_cf_path())}
    return None


def import_text(text: str, username: str, comment: str) -> Revision:
    """Load (parse+validate) ``text`` and make the DB match it; the file itself is left as is."""
    cfg = lvscf.load(text)
    top = next_serial() - 1
    replace_definitions(cfg)
    settings_row().serial_no = max(cfg.serial_no, top)
    return store_revision(text, cfg.serial_no, username, comment)


def import_on_first_start() -> bool:
    """Import lvs.cf when the DB is empty and the file exists; a bad file is left for the banner."""
    with publish_lock():
        db.session.rollback()
        if not is_empty():
            return False
        text = read_disk()
        if text is None:
            return False
        try:
            rev = import_text(text, "system", "imported on first start")
        except lvscf.LvsCfError as err:
            db.session.rollback()
            current_app.logger.warning("not importing %s: %s", lvs_cf_path(), err)
            return False
        _audit("system", "import", "lvs.cf", str(lvs_cf_path()), None,
               {"serial_no": rev.serial_no}, rev.id, None)
        db.session.commit()
        return True


def _audit(actor: str, action: str, object_type: str, object_name: str | None,
           before: dict[str, Any] | None, after: dict[str, Any] | None,
           revision: int | None, client_addr: str | None) -> None:
    """Record an audit entry in the caller's transaction (committed with the change it describes)."""
    from . import audit

    audit.record(actor, action, object_type, object_name, before, after,
                 revision=revision, client_addr=client_addr, session=db.session)
