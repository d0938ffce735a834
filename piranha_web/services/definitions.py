"""The edits each panel can make, as mutations for :func:`services.changes.run`.

Each function returns a closure so ``changes.run`` can apply it under the
publish lock (and re-apply it after a validation pass).  Every edit of an
existing row names the ``version`` the form was loaded with; a different
current version raises :class:`Conflict` carrying the current values.
"""

from __future__ import annotations

from typing import Any, Sequence

from sqlalchemy import func, select

from ..extensions import db
from ..lvscf import keys
from ..models import FailoverService, RealServer, VirtualServer
from .changes import Change, Conflict, Mutation, NotFound
from .lvsconfig import FAILOVER_FIELDS, GLOBAL_FIELDS, GLOBAL_REF, REAL_FIELDS, VIRTUAL_FIELDS, settings_row

# GUI defaults for new objects (parse.php add_virtual / add_server), not the parser's.
NEW_VIRTUAL: dict[str, Any] = keys.gui_defaults(keys.VIRTUAL)
NEW_REAL: dict[str, Any] = keys.gui_defaults(keys.SERVER)
NEW_FAILOVER: dict[str, Any] = keys.gui_defaults(keys.FAILOVER)


def snapshot(row: Any, keys: Sequence[str]) -> dict[str, Any]:
    """The row's values for ``keys`` (audit before/after, conflict display)."""
    return {k: getattr(row, k) for k in keys}


def _checked(row: Any, version: int | None, keys: Sequence[str]) -> Any:
    if row is None:
        raise NotFound("This entry no longer exists (someone deleted it, or a revision was restored).")
    if version is not None and row.version != version:
        raise Conflict(snapshot(row, ("version", *keys)))
    return row


def _update(row: Any, values: dict[str, Any], fields: Sequence[str], object_type: str,
            name: str | None, ref: Any) -> Change:
    """Set the given editable ``fields`` of ``row``; the change records only those."""
    keys = [k for k in values if k in fields]
    before = snapshot(row, keys)
    for key in keys:
        setattr(row, key, values[key])
    return Change("update", object_type, name, before, snapshot(row, keys), ref)


def _toggle(row: Any, object_type: str, name: str, ref: Any) -> Change:
    """(DE)ACTIVATE: flip ``active``."""
    row.active = not row.active
    return Change("activate" if row.active else "deactivate", object_type, name,
                  {"active": not row.active}, {"active": row.active}, ref)


# --------------------------------------------------------------------------- global / redundancy

def update_settings(values: dict[str, Any], version: int | None, object_type: str = "global") -> Mutation:
    """GLOBAL SETTINGS / REDUNDANCY ACCEPT: set some top-level keys."""
    def mutate() -> Change:
        row = _checked(settings_row(), version, GLOBAL_FIELDS)
        return _update(row, values, GLOBAL_FIELDS, object_type, None, GLOBAL_REF)
    return mutate


# --------------------------------------------------------------------------- virtual servers

def _virtual(vid: int) -> VirtualServer | None:
    return db.session.get(VirtualServer, vid)


def create_virtual(values: dict[str, Any]) -> Mutation:
    """VIRTUAL SERVERS ADD + ACCEPT: a new virtual server, appended to the list."""
    def mutate() -> Change:
        pos = (db.session.scalar(select(func.max(VirtualServer.position))) or 0) + 1
        row = VirtualServer(position=pos, **{**NEW_VIRTUAL, **{k: v for k, v in values.items()
                                                               if k in VIRTUAL_FIELDS}})
        db.session.add(row)
        db.session.flush()
        return Change("create", "virtual", row.name, None, snapshot(row, VIRTUAL_FIELDS), ("virtual", row.id))
    return mutate


def update_virtual(vid: int, values: dict[str, Any], version: int | None,
                   object_type: str = "virtual") -> Mutation:
    """VIRTUAL SERVER / MONITORING SCRIPTS ACCEPT."""
    def mutate() -> Change:
        row = _checked(_virtual(vid), version, VIRTUAL_FIELDS)
        return _update(row, values, VIRTUAL_FIELDS, object_type, row.name, ("virtual", vid))
    return mutate


def delete_virtual(vid: int, version: int | None) -> Mutation:
    """VIRTUAL SERVERS DELETE (its real servers go with it)."""
    def mutate() -> Change:
        row = _checked(_virtual(vid), version, VIRTUAL_FIELDS)
        before = snapshot(row, VIRTUAL_FIELDS)
        before["servers"] = [s.name for s in row.servers]
        db.session.delete(row)
        return Change("delete", "virtual", row.name, before, None, None)
    return mutate


def toggle_virtual(vid: int, version: int | None) -> Mutation:
    """VIRTUAL SERVERS (DE)ACTIVATE."""
    def mutate() -> Change:
        row = _checked(_virtual(vid), version, VIRTUAL_FIELDS)
        return _toggle(row, "virtual", row.name, ("virtual", vid))
    return mutate


# --------------------------------------------------------------------------- real servers

def _real(vid: int, rid: int) -> RealServer | None:
    row = db.session.get(RealServer, rid)
    return row if row is not None and row.virtual_id == vid else None


def _rname(row: RealServer) -> str:
    return f"{row.virtual.name}/{row.name}"


def create_real(vid: int, values: dict[str, Any]) -> Mutation:
    """REAL SERVER ADD + ACCEPT."""
    def mutate() -> Change:
        virtual = _checked(_virtual(vid), None, VIRTUAL_FIELDS)
        pos = (db.session.scalar(select(func.max(RealServer.position)).where(RealServer.virtual_id == vid))
               or 0) + 1
        given = {k: v for k, v in values.items() if k in REAL_FIELDS}
        row = RealServer(position=pos, **{**NEW_REAL, **given})
        virtual.servers.append(row)
        db.session.flush()
        return Change("create", "real", _rname(row), None, snapshot(row, REAL_FIELDS), ("real", row.id))
    return mutate


def update_real(vid: int, rid: int, values: dict[str, Any], version: int | None) -> Mutation:
    """REAL SERVER EDIT + ACCEPT."""
    def mutate() -> Change:
        row = _checked(_real(vid, rid), version, REAL_FIELDS)
        return _update(row, values, REAL_FIELDS, "real", _rname(row), ("real", rid))
    return mutate


def delete_real(vid: int, rid: int, version: int | None) -> Mutation:
    """REAL SERVER DELETE."""
    def mutate() -> Change:
        row = _checked(_real(vid, rid), version, REAL_FIELDS)
        before, name = snapshot(row, REAL_FIELDS), _rname(row)
        db.session.delete(row)
        return Change("delete", "real", name, before, None, ("virtual", vid))
    return mutate


def toggle_real(vid: int, rid: int, version: int | None) -> Mutation:
    """REAL SERVER (DE)ACTIVATE."""
    def mutate() -> Change:
        row = _checked(_real(vid, rid), version, REAL_FIELDS)
        return _toggle(row, "real", _rname(row), ("real", rid))
    return mutate


# --------------------------------------------------------------------------- failover services

def _failover(fid: int) -> FailoverService | None:
    return db.session.get(FailoverService, fid)


def create_failover(values: dict[str, Any]) -> Mutation:
    """FAILOVER ADD + ACCEPT."""
    def mutate() -> Change:
        pos = (db.session.scalar(select(func.max(FailoverService.position))) or 0) + 1
        row = FailoverService(position=pos, **{**NEW_FAILOVER, **{k: v for k, v in values.items()
                                                                  if k in FAILOVER_FIELDS}})
        db.session.add(row)
        db.session.flush()
        return Change("create", "failover", row.name, None, snapshot(row, FAILOVER_FIELDS),
                      ("failover", row.id))
    return mutate


def update_failover(fid: int, values: dict[str, Any], version: int | None) -> Mutation:
    """FAILOVER EDIT + ACCEPT."""
    def mutate() -> Change:
        row = _checked(_failover(fid), version, FAILOVER_FIELDS)
        return _update(row, values, FAILOVER_FIELDS, "failover", row.name, ("failover", fid))
    return mutate


def delete_failover(fid: int, version: int | None) -> Mutation:
    """FAILOVER DELETE."""
    def mutate() -> Change:
        row = _checked(_failover(fid), version, FAILOVER_FIELDS)
        before = snapshot(row, FAILOVER_FIELDS)
        db.session.delete(row)
        return Change("delete", "failover", row.name, before, None, None)
    return mutate


def toggle_failover(fid: int, version: int | None) -> Mutation:
    """FAILOVER (DE)ACTIVATE."""
    def mutate() -> Change:
        row = _checked(_failover(fid), version, FAILOVER_FIELDS)
        return _toggle(row, "failover", row.name, ("failover", fid))
    return mutate
