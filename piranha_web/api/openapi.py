"""The OpenAPI 3 document of /api/v1, built from the same field lists the handlers use.

Object schemas come from the lvs.cf model's type hints (``convert.jsonfmt
.field_types``), so a new lvs.cf key appears in the document the moment the
model has it; tests check every route of the blueprint is documented and a
property-based run checks the live app answers as documented.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from flask import Response, jsonify

from .. import __version__, lvscf
from ..convert.jsonfmt import field_types
from ..lvscf import keys
from . import bp
from .resources import (FAILOVER_WRITABLE, REAL_WRITABLE, REDUNDANCY_FIELDS, SETTINGS_WRITABLE,
                        VIRTUAL_WRITABLE)
from ..services.lvsconfig import FAILOVER_FIELDS, GLOBAL_FIELDS, REAL_FIELDS, VIRTUAL_FIELDS

INT64 = {"minimum": -keys.INT64 - 1, "maximum": keys.INT64}
ID = {"type": "integer", "minimum": 1, "maximum": 2147483647}


def _json_type(hint: Any) -> dict[str, Any]:
    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    members = [m for m in (typing.get_args(hint) if union else (hint,)) if m is not type(None)]
    nullable = union and len(members) < len(typing.get_args(hint))
    base = members[0]
    if typing.get_origin(base) is list:       # a repeatable key (bgp_peer): its lines as strings
        return {"type": "array", "items": {"type": "string"}}
    schema: dict[str, Any] = {bool: {"type": "boolean"}, int: {"type": "integer", **INT64},
                              float: {"type": "number"}, str: {"type": "string"}}[base]
    return {**schema, "nullable": True} if nullable else dict(schema)


_BLOCK_OF = {lvscf.LvsConfig: keys.GLOBAL, lvscf.VirtualServer: keys.VIRTUAL, lvscf.RealServer: keys.SERVER,
             lvscf.FailoverService: keys.FAILOVER}


def _props(model: type, names: tuple[str, ...]) -> dict[str, Any]:
    """JSON types from the model's hints; numeric bounds from the key table."""
    hints = field_types(model)
    block = _BLOCK_OF[model]
    out = {}
    for name in names:
        schema = _json_type(hints[name])
        key = keys.key(block, name)
        if key.low is not None and key.high is not None:
            schema.update(minimum=key.low, maximum=key.high)
        out[name] = schema
    return out


def _object(props: dict[str, Any], required: list[str] | None = None, extra: bool = True) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        schema["required"] = required
    if not extra:
        schema["additionalProperties"] = False
    return schema


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _stored(model: type, keys: tuple[str, ...], **more: Any) -> dict[str, Any]:
    props = {"id": {"type": "integer"}, "version": {"type": "integer"}, **more, **_props(model, keys)}
    props["publish"] = _ref("PublishOutcome")
    return _object(props, ["id", "version", *keys])


def schemas() -> dict[str, Any]:
    """components/schemas."""
    nullable_str = {"type": "string", "nullable": True}
    return {
        "Error": _object({"error": {"type": "string"}, "status": {"type": "integer"},
                          "fields": {"type": "array", "items": _object(
                              {"field": {"type": "string"}, "message": {"type": "string"}})},
                          "general": {"type": "array", "items": {"type": "string"}},
                          "current": {"type": "object"}}, ["error", "status"]),
        "PublishOutcome": _object({
            "changed": {"type": "boolean"}, "published": {"type": "boolean"},
            "revision": {"type": "integer", "nullable": True},
            "serial_no": {"type": "integer", "nullable": True},
            "pending": {"type": "array", "items": {"type": "string"}},
            "write_error": nullable_str,
            "pulse": {"type": "object", "nullable": True, "properties": {
                "state": {"type": "string"}, "error": nullable_str,
                "directors": {"type": "array", "nullable": True, "items": _ref("DirectorResult"),
                              "description": "cluster = ecmp: what each director did with the revision"}}}},
            ["changed", "published"]),
        "DirectorResult": _object({
            "director": {"type": "string"},
            "result": {"type": "string", "enum": ["applied", "failed", "unreachable", "pending"]},
            "serial_no": {"type": "integer", "nullable": True},
            "reachable": {"type": "boolean", "nullable": True},
            "error": nullable_str}, ["director", "result"]),
        "Director": _object({
            "name": {"type": "string"}, "address": nullable_str, "local": {"type": "boolean"},
            "reachable": {"type": "boolean", "nullable": True}, "pulse_state": nullable_str,
            "serial_no": {"type": "integer", "nullable": True},
            "drain": {"type": "string", "nullable": True, "description": "active, withdrawn or drained"},
            "announced": {"type": "array", "items": {"type": "string"}},
            "sessions": {"type": "array", "items": _object({
                "name": {"type": "string"}, "neighbor": {"type": "string"}, "state": {"type": "string"},
                "uptime": {"type": "number", "nullable": True}})},
            "last_contact": {"type": "number", "nullable": True, "description": "epoch seconds"},
            "error": nullable_str, "last_reload": {"type": "object", "nullable": True},
            "config_sync": {"type": "object"}},
            ["name", "local", "announced", "sessions"]),
        "Cluster": _object({"mode": {"type": "string", "enum": ["ecmp", "primary/backup"]},
                            "local": nullable_str,
                            "directors": {"type": "array", "items": _ref("Director")}},
                           ["mode", "directors"]),
        "DrainResult": _object({"director": {"type": "string"}, "drain": {"type": "boolean"}},
                               ["director", "drain"]),
        "Settings": _object({"version": {"type": "integer"}, **_props(lvscf.LvsConfig, GLOBAL_FIELDS),
                             "publish": _ref("PublishOutcome")}, ["version", *GLOBAL_FIELDS]),
        "SettingsInput": _object(_props(lvscf.LvsConfig, SETTINGS_WRITABLE), extra=False),
        "Redundancy": _object({"version": {"type": "integer"}, **_props(lvscf.LvsConfig, REDUNDANCY_FIELDS),
                               "publish": _ref("PublishOutcome")}, ["version", *REDUNDANCY_FIELDS]),
        "RedundancyInput": _object(_props(lvscf.LvsConfig, REDUNDANCY_FIELDS), extra=False),
        "VirtualServer": _stored(lvscf.VirtualServer, VIRTUAL_FIELDS,
                                 real_server_ids={"type": "array", "items": {"type": "integer"}}),
        "VirtualServerInput": _object(_props(lvscf.VirtualServer, VIRTUAL_WRITABLE), extra=False),
        "RealServer": _stored(lvscf.RealServer, REAL_FIELDS, virtual_id={"type": "integer"}),
        "RealServerInput": _object(_props(lvscf.RealServer, REAL_WRITABLE), extra=False),
        "FailoverService": _stored(lvscf.FailoverService, FAILOVER_FIELDS),
        "FailoverServiceInput": _object(_props(lvscf.FailoverService, FAILOVER_WRITABLE), extra=False),
        "Deleted": _object({"deleted": {"type": "integer"}, "publish": _ref("PublishOutcome")}, ["deleted"]),
        "RevisionMeta": _object({"id": {"type": "integer"}, "serial_no": {"type": "integer"},
                                 "created_at": {"type": "string"}, "username": {"type": "string"},
                                 "comment": {"type": "string"}, "pulse_result": nullable_str,
                                 "sha256": {"type": "string"}}, ["id", "serial_no", "created_at"]),
        "Revision": {"allOf": [_ref("RevisionMeta"), _object({"text": {"type": "string"}}, ["text"])]},
        "Diff": _object({"from": {"type": "integer"}, "to": {}, "diff": {"type": "string"}},
                        ["from", "to", "diff"]),
        "Status": _object({"running": {"type": "boolean"}, "pid": {"type": "integer", "nullable": True},
                           "role": nullable_str, "serial_no": {"type": "integer", "nullable": True},
                           "published_serial_no": {"type": "integer", "nullable": True},
                           "last_reload": {"type": "object"}, "updated": {},
                           "ipvs": {"type": "array", "items": {"type": "object"}},
                           "health": {"type": "array", "items": {"type": "object"}}},
                          ["running", "ipvs", "health"]),
        "AuditEntry": _object({"id": {"type": "integer"}, "ts": {"type": "string"},
                               "username": {"type": "string"}, "client_addr": nullable_str,
                               "action": {"type": "string"}, "object_type": {"type": "string"},
                               "object_name": nullable_str, "detail": {"type": "object"},
                               "revision": {"type": "integer", "nullable": True},
                               "prev_hash": {"type": "string"}, "hash": {"type": "string"}},
                              ["id", "ts", "username", "action", "hash"]),
        "RuntimeState": _object({
            "virtual": {"type": "string"}, "real": {"type": "string"},
            "state": {"type": "string", "enum": ["ready", "drain", "maint"]}, "now": {"type": "boolean"},
            "weight": {"type": "integer", "nullable": True, "minimum": 0, "maximum": 65535},
            "percent": {"type": "integer", "nullable": True, "minimum": 0, "maximum": 1000},
            "by": {"type": "string"}, "since": {"type": "number"}, "display": {"type": "string"},
            "cps": {"type": "number", "nullable": True}, "bps": {"type": "number", "nullable": True},
            "active": {"type": "integer", "nullable": True}},
            ["virtual", "real", "state", "display"]),
        "RuntimeChange": _object({
            "state": {"type": "string", "enum": ["ready", "drain", "maint"]},
            "now": {"type": "boolean",
                    "description": "maint only: remove at once instead of after the drain"},
            "weight": {"oneOf": [{"type": "integer", "minimum": 0, "maximum": 65535},
                                 {"type": "string", "pattern": "^[0-9]{1,4}%$"}],
                       "description": "absolute, or a percentage of the configured weight"}}, extra=False),
        "Preview": _object({"diff": {"type": "string"}, "ops": {"type": "array", "items": {"type": "string"}},
                            "warnings": {"type": "array", "items": {"type": "string"}}},
                           ["diff", "ops", "warnings"]),
        "Config": _object({"format": {"type": "string"}, "format_version": {"type": "integer"},
                           "virtuals": {"type": "array", "items": {"type": "object"}},
                           "failovers": {"type": "array", "items": {"type": "object"}}},
                          ["format", "virtuals", "failovers"]),
    }


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _list_of(name: str) -> dict[str, Any]:
    return _object({"items": {"type": "array", "items": _ref(name)}}, ["items"])


ERRORS = {"400": "malformed request (bad JSON, bad If-Match)", "401": "no valid bearer token",
          "403": "the token's user is read-only", "404": "no such object",
          "409": "the object changed since it was read (stale If-Match); runtime: pulse is not running; "
                 "cluster: not cluster = ecmp, or the director cannot be reached",
          "415": "the body is not application/json", "422": "validation failed (fields name the keys)"}


def _op(summary: str, ok: tuple[str, dict[str, Any]], errors: tuple[str, ...], body: str | None = None,
        params: list[dict[str, Any]] | None = None, etag: bool = False,
        versioned: bool = True) -> dict[str, Any]:
    status, schema = ok
    response: dict[str, Any] = {"description": "OK", **_json(schema)}
    if etag:
        response["headers"] = {"ETag": {"schema": {"type": "string"}, "description": "the object's version"}}
    op: dict[str, Any] = {"summary": summary, "responses": {status: response}}
    for code in ("401", *errors):
        op["responses"][code] = {"description": ERRORS[code], **_json(_ref("Error"))}
    if body:
        op["requestBody"] = {"required": True, **_json(_ref(body))}
    parameters = list(params or [])
    if body and versioned and any(code == "409" for code in errors):
        parameters.append({"name": "If-Match", "in": "header", "required": False,
                           "schema": {"type": "string", "pattern": '^(W/)?"v[0-9]{1,9}"$'},
                           "description": "ETag from the last read; 409 when the object changed since"})
    if parameters:
        op["parameters"] = parameters
    return op


def _path_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": ID}


def _name_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True,
            "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[^\\s/]+$"}}


def _query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}


def _if_match_delete() -> dict[str, Any]:
    return {"name": "If-Match", "in": "header", "required": False,
            "schema": {"type": "string", "pattern": '^(W/)?"v[0-9]{1,9}"$'}}


def _config_op() -> dict[str, Any]:
    op = _op("the whole configuration: JSON export format, or lvs.cf / keepalived.conf text",
             ("200", _ref("Config")), ("422",),
             params=[_query("format", {"type": "string", "enum": ["json", "lvs.cf", "keepalived"]})])
    op["responses"]["200"]["content"]["text/plain"] = {"schema": {"type": "string"}}
    return op


def paths() -> dict[str, Any]:
    """Every route of the API blueprint (tests check none is missing)."""
    vid, rid, fid = _path_param("vid"), _path_param("rid"), _path_param("fid")
    vname, rname = _name_param("virtual"), _name_param("real")
    write = ("400", "403", "409", "415", "422")
    delete = ("403", "404", "409", "422")
    limit = _query("limit", {"type": "integer", "minimum": 1, "maximum": 500})
    return {
        "/settings": {
            "get": _op("GLOBAL SETTINGS", ("200", _ref("Settings")), (), etag=True),
            "patch": _op("change global settings", ("200", _ref("Settings")), write, "SettingsInput",
                         etag=True)},
        "/redundancy": {
            "get": _op("REDUNDANCY", ("200", _ref("Redundancy")), (), etag=True),
            "patch": _op("change redundancy", ("200", _ref("Redundancy")), write, "RedundancyInput",
                         etag=True)},
        "/virtual-servers": {
            "get": _op("list virtual servers", ("200", _list_of("VirtualServer")), ()),
            "post": _op("add a virtual server", ("201", _ref("VirtualServer")),
                        ("400", "403", "415", "422"), "VirtualServerInput", etag=True)},
        "/virtual-servers/{vid}": {
            "get": _op("one virtual server", ("200", _ref("VirtualServer")), ("404",), params=[vid],
                       etag=True),
            "patch": _op("edit a virtual server", ("200", _ref("VirtualServer")), (*write, "404"),
                         "VirtualServerInput", [vid], etag=True),
            "delete": _op("delete a virtual server and its real servers", ("200", _ref("Deleted")), delete,
                          params=[vid, _if_match_delete()])},
        "/virtual-servers/{vid}/real-servers": {
            "get": _op("list its real servers", ("200", _list_of("RealServer")), ("404",), params=[vid]),
            "post": _op("add a real server", ("201", _ref("RealServer")), ("400", "403", "404", "415", "422"),
                        "RealServerInput", [vid], etag=True)},
        "/virtual-servers/{vid}/real-servers/{rid}": {
            "get": _op("one real server", ("200", _ref("RealServer")), ("404",), params=[vid, rid],
                       etag=True),
            "patch": _op("edit a real server", ("200", _ref("RealServer")), (*write, "404"),
                         "RealServerInput", [vid, rid], etag=True),
            "delete": _op("delete a real server", ("200", _ref("Deleted")), delete,
                          params=[vid, rid, _if_match_delete()])},
        "/failover-services": {
            "get": _op("list failover services", ("200", _list_of("FailoverService")), ()),
            "post": _op("add a failover service", ("201", _ref("FailoverService")),
                        ("400", "403", "415", "422"), "FailoverServiceInput", etag=True)},
        "/failover-services/{fid}": {
            "get": _op("one failover service", ("200", _ref("FailoverService")), ("404",), params=[fid],
                       etag=True),
            "patch": _op("edit a failover service", ("200", _ref("FailoverService")), (*write, "404"),
                         "FailoverServiceInput", [fid], etag=True),
            "delete": _op("delete a failover service", ("200", _ref("Deleted")), delete,
                          params=[fid, _if_match_delete()])},
        "/revisions": {"get": _op("published revisions, newest first", ("200", _list_of("RevisionMeta")),
                                  ("422",), params=[limit])},
        "/revisions/{rid}": {"get": _op("one revision with its lvs.cf text", ("200", _ref("Revision")),
                                        ("404",), params=[rid])},
        "/revisions/{rid}/diff": {"get": _op(
            "diff from a revision to another (against=N) or to the current definitions",
            ("200", _ref("Diff")),
            ("404", "422"), params=[rid, _query("against", ID)])},
        "/revisions/{rid}/rollback": {"post": _op(
            "restore a revision's definitions and publish them", ("200", _ref("PublishOutcome")),
            ("403", "404", "409", "422"), params=[rid])},
        "/publish": {"post": _op("write the current definitions to lvs.cf as a new revision",
                                 ("200", _ref("PublishOutcome")), ("403", "409", "422"))},
        "/config": {"get": _config_op()},
        "/status": {"get": _op("pulse: role, serial, IPVS table, health", ("200", _ref("Status")), ())},
        "/audit": {"get": _op("audit entries, newest first", ("200", _object({
            "items": {"type": "array", "items": _ref("AuditEntry")}, "total": {"type": "integer"},
            "next_before": {"type": "integer", "nullable": True}}, ["items", "total"])), ("422",), params=[
            _query("user", {"type": "string"}), _query("action", {"type": "string"}),
            _query("object", {"type": "string"}), _query("since", {"type": "string", "format": "date"}),
            _query("until", {"type": "string", "format": "date"}), _query("before", ID), limit])},
        "/runtime": {"get": _op("every real server pulse runs, with its runtime state",
                                ("200", _list_of("RuntimeState")), ("409",))},
        "/runtime/virtual-servers/{virtual}/real-servers/{real}": {
            "get": _op("one real server's runtime state (kept by pulse, apart from health)",
                       ("200", _ref("RuntimeState")), ("404", "409", "422"), params=[vname, rname]),
            "put": _op("drain, maint (now), ready, or a runtime weight (N or N%); audited",
                       ("200", _ref("RuntimeState")), ("400", "403", "404", "409", "415", "422"),
                       "RuntimeChange", [vname, rname], versioned=False)},
        "/cluster": {"get": _op("cluster = ecmp: every director with its BGP sessions, announced VIPs, "
                                "serial_no, pulse state and last contact", ("200", _ref("Cluster")), ())},
        "/cluster/directors/{name}/drain": {"post": _op(
            "withdraw the director's routes, as pulse --drain on it; audited",
            ("200", _ref("DrainResult")), ("403", "404", "409"), params=[_name_param("name")])},
        "/cluster/directors/{name}/undrain": {"post": _op(
            "announce the director's routes again, as pulse --undrain on it; audited",
            ("200", _ref("DrainResult")), ("403", "404", "409"), params=[_name_param("name")])},
        "/preview": {"post": _op(
            "what publishing this configuration would do: lvs.cf diff, pulse's kernel operations, "
            "warnings; changes nothing", ("200", _ref("Preview")), ("400", "403", "415", "422"), "Config")},
        "/openapi.json": {"get": _op("this document", ("200", {"type": "object"}), ())},
    }


def document() -> dict[str, Any]:
    """The whole OpenAPI 3.0 document."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "piranha-web API", "version": __version__,
                 "description": "LVS director configuration (lvs.cf), revisions, pulse status and audit. "
                                "Every change is validated, published and audited like an ACCEPT in the "
                                "console. See docs/api.md."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearerAuth": []}],
        "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
                       "schemas": schemas()},
        "paths": paths(),
    }


@bp.get("/openapi.json")
def openapi_json() -> Response:
    """The OpenAPI document (needs a token like every API route)."""
    return jsonify(document())
