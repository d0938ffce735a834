"""Configuration resources: global settings, redundancy, virtual/real servers, failover services.

Each handler turns JSON into the same ``services.definitions`` mutation the
matching panel uses, so the API can never accept what the console refuses.
"""

from __future__ import annotations

from typing import Any

from flask import Response, url_for

from .. import lvscf
from ..extensions import db
from ..lvscf import keys
from ..models import FailoverService, RealServer, VirtualServer
from ..services import definitions
from ..services.lvsconfig import FAILOVER_FIELDS, GLOBAL_FIELDS, REAL_FIELDS, VIRTUAL_FIELDS, settings_row
from . import bp
from .common import fields_of, if_match, json_body, listing, outcome_dict, run, with_etag
from .errors import ApiError

# What the API shows and accepts comes from the key table (serial_no is the publisher's: read-only).
REDUNDANCY_FIELDS = keys.api_fields(keys.GLOBAL, panel=keys.P_REDUNDANCY)
SETTINGS_WRITABLE = keys.api_fields(keys.GLOBAL, writable=True)
VIRTUAL_WRITABLE = keys.api_fields(keys.VIRTUAL, writable=True)
REAL_WRITABLE = keys.api_fields(keys.SERVER, writable=True)
FAILOVER_WRITABLE = keys.api_fields(keys.FAILOVER, writable=True)


def row_dict(row: Any, keys: tuple[str, ...], **extra: Any) -> dict[str, Any]:
    """An object as the API shows it: id, version, then its lvs.cf keys."""
    out: dict[str, Any] = {"id": row.id, "version": row.version}
    out.update(extra)
    out.update({k: getattr(row, k) for k in keys})
    return out


def _changed(payload: dict[str, Any], outcome: Any, status: int = 200,
             location: str | None = None) -> Response:
    payload["publish"] = outcome_dict(outcome)
    response = with_etag(payload, status)
    if location:
        response.headers["Location"] = location
    return response


def _get(model: type, oid: int) -> Any:
    row = db.session.get(model, oid)
    if row is None:
        raise ApiError(404, f"no {model.__tablename__.replace('_', ' ')} {oid}")
    return row


# --------------------------------------------------------------------------- global settings / redundancy

def _settings(keys: tuple[str, ...]) -> dict[str, Any]:
    db.session.expire_all()
    row = settings_row()
    return {"version": row.version, **{k: getattr(row, k) for k in keys}}


@bp.get("/settings")
def get_settings() -> Response:
    """GLOBAL SETTINGS: every top-level lvs.cf key (serial_no is read-only)."""
    return with_etag(_settings(GLOBAL_FIELDS))


@bp.patch("/settings")
def patch_settings() -> Response:
    """Change some global keys."""
    values = fields_of(lvscf.LvsConfig, json_body(), SETTINGS_WRITABLE)
    outcome = run(definitions.update_settings(values, if_match(), "global"))
    return _changed(_settings(GLOBAL_FIELDS), outcome)


@bp.get("/redundancy")
def get_redundancy() -> Response:
    """REDUNDANCY: backup director, heartbeat and sync-daemon keys."""
    return with_etag(_settings(REDUNDANCY_FIELDS))


@bp.patch("/redundancy")
def patch_redundancy() -> Response:
    """Change some redundancy keys."""
    values = fields_of(lvscf.LvsConfig, json_body(), REDUNDANCY_FIELDS)
    outcome = run(definitions.update_settings(values, if_match(), "redundancy"))
    return _changed(_settings(REDUNDANCY_FIELDS), outcome)


# --------------------------------------------------------------------------- virtual servers

def virtual_dict(row: VirtualServer) -> dict[str, Any]:
    return row_dict(row, VIRTUAL_FIELDS, real_server_ids=[s.id for s in row.servers])


@bp.get("/virtual-servers")
def list_virtuals() -> Response:
    """VIRTUAL SERVERS, in lvs.cf order."""
    rows = db.session.query(VirtualServer).order_by(VirtualServer.position, VirtualServer.id)
    return listing([virtual_dict(r) for r in rows])


@bp.post("/virtual-servers")
def create_virtual() -> Response:
    """ADD: a new virtual server (console defaults for what is not given)."""
    values = fields_of(lvscf.VirtualServer, json_body(), VIRTUAL_WRITABLE)
    outcome = run(definitions.create_virtual(values))
    row = _get(VirtualServer, outcome.target[1]) if outcome.target else None
    if row is None:
        raise ApiError(500, "created virtual server not found")
    return _changed(virtual_dict(row), outcome, 201, url_for("api.get_virtual", vid=row.id))


@bp.get("/virtual-servers/<int:vid>")
def get_virtual(vid: int) -> Response:
    return with_etag(virtual_dict(_get(VirtualServer, vid)))


@bp.patch("/virtual-servers/<int:vid>")
def patch_virtual(vid: int) -> Response:
    """EDIT (including the MONITORING SCRIPTS keys and ``active``)."""
    values = fields_of(lvscf.VirtualServer, json_body(), VIRTUAL_WRITABLE)
    outcome = run(definitions.update_virtual(vid, values, if_match()))
    db.session.expire_all()
    return _changed(virtual_dict(_get(VirtualServer, vid)), outcome)


@bp.delete("/virtual-servers/<int:vid>")
def delete_virtual(vid: int) -> Response:
    """DELETE, with its real servers."""
    outcome = run(definitions.delete_virtual(vid, if_match()))
    return _changed({"deleted": vid}, outcome)


# --------------------------------------------------------------------------- real servers

def real_dict(row: RealServer) -> dict[str, Any]:
    return row_dict(row, REAL_FIELDS, virtual_id=row.virtual_id)


def _real(vid: int, rid: int) -> RealServer:
    row = db.session.get(RealServer, rid)
    if row is None or row.virtual_id != vid:
        raise ApiError(404, f"no real server {rid} in virtual server {vid}")
    return row


@bp.get("/virtual-servers/<int:vid>/real-servers")
def list_reals(vid: int) -> Response:
    virtual = _get(VirtualServer, vid)
    return listing([real_dict(r) for r in virtual.servers])


@bp.post("/virtual-servers/<int:vid>/real-servers")
def create_real(vid: int) -> Response:
    values = fields_of(lvscf.RealServer, json_body(), REAL_WRITABLE)
    _get(VirtualServer, vid)
    outcome = run(definitions.create_real(vid, values))
    row = _real(vid, outcome.target[1]) if outcome.target else None
    if row is None:
        raise ApiError(500, "created real server not found")
    return _changed(real_dict(row), outcome, 201, url_for("api.get_real", vid=vid, rid=row.id))


@bp.get("/virtual-servers/<int:vid>/real-servers/<int:rid>")
def get_real(vid: int, rid: int) -> Response:
    return with_etag(real_dict(_real(vid, rid)))


@bp.patch("/virtual-servers/<int:vid>/real-servers/<int:rid>")
def patch_real(vid: int, rid: int) -> Response:
    values = fields_of(lvscf.RealServer, json_body(), REAL_WRITABLE)
    outcome = run(definitions.update_real(vid, rid, values, if_match()))
    db.session.expire_all()
    return _changed(real_dict(_real(vid, rid)), outcome)


@bp.delete("/virtual-servers/<int:vid>/real-servers/<int:rid>")
def delete_real(vid: int, rid: int) -> Response:
    outcome = run(definitions.delete_real(vid, rid, if_match()))
    return _changed({"deleted": rid}, outcome)


# --------------------------------------------------------------------------- failover services

def failover_dict(row: FailoverService) -> dict[str, Any]:
    return row_dict(row, FAILOVER_FIELDS)


@bp.get("/failover-services")
def list_failovers() -> Response:
    rows = db.session.query(FailoverService).order_by(FailoverService.position, FailoverService.id)
    return listing([failover_dict(r) for r in rows])


@bp.post("/failover-services")
def create_failover() -> Response:
    values = fields_of(lvscf.FailoverService, json_body(), FAILOVER_WRITABLE)
    outcome = run(definitions.create_failover(values))
    row = _get(FailoverService, outcome.target[1]) if outcome.target else None
    if row is None:
        raise ApiError(500, "created failover service not found")
    return _changed(failover_dict(row), outcome, 201, url_for("api.get_failover", fid=row.id))


@bp.get("/failover-services/<int:fid>")
def get_failover(fid: int) -> Response:
    return with_etag(failover_dict(_get(FailoverService, fid)))


@bp.patch("/failover-services/<int:fid>")
def patch_failover(fid: int) -> Response:
    values = fields_of(lvscf.FailoverService, json_body(), FAILOVER_WRITABLE)
    outcome = run(definitions.update_failover(fid, values, if_match()))
    db.session.expire_all()
    return _changed(failover_dict(_get(FailoverService, fid)), outcome)


@bp.delete("/failover-services/<int:fid>")
def delete_failover(fid: int) -> Response:
    outcome = run(definitions.delete_failover(fid, if_match()))
    return _changed({"deleted": fid}, outcome)
