"""The directors of an ECMP cluster as the console sees them: the CLUSTER page, the API, DRAIN/UNDRAIN,
and what a publish did on each director.

The console reads only its own pulse's status file.  With ``cluster = ecmp``
that pulse keeps what every other director last told it over the
authenticated peer channel (their status summaries, when each was last heard,
why one is unreachable), so one read shows the whole cluster.  DRAIN and
UNDRAIN go to the console's own pulse over its runtime socket; it carries
them to the named director, whose pulse then does what ``pulse --drain`` /
``--undrain`` does.  Every accepted request is an audit entry.
"""

from __future__ import annotations

import time
from typing import Any

from flask import current_app

from .. import lvscf
from ..extensions import db
from ..pulse.statusfile import read_status
from . import audit, lvsconfig
from .runtime import Refused, ask

OBJECT_TYPE = "director"
PRIMARY_BACKUP = "primary/backup"
FINAL = ("applied", "failed")
RESULTS = ("applied", "failed", "unreachable", "pending")


def _lvs_cf() -> lvscf.LvsConfig | None:
    """lvs.cf as it is on disk (the directors pulse knows), or None when missing or unreadable."""
    text = lvsconfig.read_disk()
    if text is None:
        return None
    try:
        return lvscf.parse(text)
    except lvscf.LvsCfError:
        return None


def _status() -> dict[str, Any]:
    return dict(read_status(current_app.config["PULSE_STATUS_FILE"]) or {})


def overview() -> dict[str, Any]:
    """``mode`` (ecmp or primary/backup) and, for ecmp, one row per director of lvs.cf."""
    cfg = _lvs_cf()
    if cfg is None or not cfg.ecmp:
        return {"mode": PRIMARY_BACKUP, "directors": [], "local": None}
    status = _status()
    mine = status.get("cluster") or {}
    return {"mode": "ecmp", "local": mine.get("director"),
            "directors": [_row(d.name, d.address, status, mine) for d in cfg.directors]}


def _row(name: str, address: str | None, status: dict[str, Any], mine: dict[str, Any]) -> dict[str, Any]:
    """One director: its own pulse's words (the local one) or what it last told ours (a remote one)."""
    local = name == mine.get("director")
    if local:
        summary, reachable, error = mine, True, None
        state, contact = status.get("state"), status.get("updated")
    else:
        view = (mine.get("peers") or {}).get(name) or {}
        summary, reachable, error = view.get("status") or {}, view.get("reachable"), view.get("error")
        contact = view.get("last_contact")
        state = ((summary.get("pulse") or {}).get("state") if reachable
                 else "unreachable" if reachable is False else "unknown")
    sync = summary.get("peer_channel") or {}
    sessions = [{k: s.get(k) for k in ("name", "neighbor", "state", "uptime")}
                for s in summary.get("sessions") or [] if isinstance(s, dict)]
    return {"name": name, "address": address, "local": local, "reachable": reachable,
            "pulse_state": state, "serial_no": summary.get("serial_no"),
            "drain": (summary.get("drain") or {}).get("state"),
            "announced": list(summary.get("announced") or []), "sessions": sessions,
            "last_contact": contact, "error": error,
            "last_reload": (status if local else summary.get("pulse") or {}).get("last_reload"),
            "config_sync": {k: sync.get(k) for k in ("failed_serial", "last_error")}}


def set_drain(name: str, drain: bool, actor: str, client_addr: str | None = None) -> dict[str, Any]:
    """Ask director ``name`` (through our pulse) to drain or undrain; audit it.

    Refused: 409 outside ECMP mode or when pulse cannot do it, 404 for a name lvs.cf does not have.
    """
    cfg = _lvs_cf()
    if cfg is None or not cfg.ecmp:
        raise Refused(409, f"the cluster mode is {PRIMARY_BACKUP}: there are no ECMP directors to drain")
    if name not in {d.name for d in cfg.directors}:
        raise Refused(404, f"lvs.cf has no director {name!r}")
    ask({"op": "cluster", "director": name, "drain": drain, "by": actor})
    action = "drain" if drain else "undrain"
    audit.record(actor, f"cluster.{action}", OBJECT_TYPE, name, client_addr=client_addr, session=db.session,
                 detail={"request": action})
    db.session.commit()
    return {"director": name, "drain": drain}


def publish_results(serial_no: int, local: str, since: float, timeout: float,
                    interval: float = 0.05) -> list[dict[str, Any]] | None:
    """Each director's result for revision ``serial_no``: applied, failed, unreachable (or pending).

    ``local`` is what the console's own pulse did.  Waits (at most ``timeout``)
    until every other director has applied or failed; None outside ECMP mode.
    """
    deadline = time.monotonic() + max(0.0, timeout)
    while True:
        found = overview()
        if found["mode"] != "ecmp" or not found["directors"]:
            return None
        results = [_judge(row, serial_no, local, since) for row in found["directors"]]
        if all(r["result"] in FINAL + ("unreachable",) for r in results) or time.monotonic() >= deadline:
            return results
        time.sleep(interval)


def _judge(row: dict[str, Any], serial_no: int, local: str, since: float) -> dict[str, Any]:
    """applied / failed / pending for one director, with the serial_no it reports and why it failed."""
    out = {"director": row["name"], "serial_no": row["serial_no"], "reachable": row["reachable"],
           "error": None}
    if local == "not-running":       # our pulse is down: it neither runs nor passes on the revision
        return dict(out, result="unreachable", error="pulse is not running on the console's director")
    if row["local"]:
        return dict(out, result=local if local in FINAL else "pending")
    if isinstance(row["serial_no"], int) and row["serial_no"] >= serial_no:
        return dict(out, result="applied")
    if row["reachable"] is False:       # our pulse could not reach it at its last try
        return dict(out, result="unreachable", error=row["error"])
    error = _failure(row, serial_no, since)
    return dict(out, result="failed" if error else "pending", error=error)


def _failure(row: dict[str, Any], serial_no: int, since: float) -> str | None:
    """Why director ``row`` did not take revision ``serial_no``, when its pulse said so."""
    sync = row["config_sync"]
    if sync.get("failed_serial") == serial_no:
        return str(sync.get("last_error") or "its pulse could not install the revision")
    last = row["last_reload"] or {}
    when = last.get("time")
    if last.get("ok") is False and isinstance(when, (int, float)) and when >= since - 1.0:
        return str(last.get("error") or "its pulse rejected the revision")
    return None


def describe(results: list[dict[str, Any]] | None) -> str:
    """``d1 applied, d2 applied, d3 unreachable`` (empty outside ECMP mode)."""
    return ", ".join(f"{r['director']} {r['result']}" for r in results or [])
