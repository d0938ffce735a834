"""CONTROL/MONITORING: pulse's state, the IPVS table and real-server health, as pulse reports them.

The console never asks the kernel itself: everything here comes from pulse's
pid file and status JSON, and the traffic charts from pulse's samples over its
runtime socket.  Auto update is a ``<meta http-equiv="refresh">`` (no
JavaScript needed), at least every 10 seconds as in control.php; with
JavaScript the charts also update in place (static/js/traffic.js).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from flask import current_app, render_template, request
from sqlalchemy import select

from ..extensions import db
from ..models import Revision
from ..services import charts, lvsconfig, pulse_status, runtime
from . import bp

MIN_RATE = 10


@bp.get("/")
def index() -> Any:
    """The CONTROL/MONITORING panel."""
    cfg = current_app.config
    pulse = pulse_status.summary(cfg["PULSE_PID_FILE"], cfg["PULSE_STATUS_FILE"])
    auto = request.args.get("auto_update") in ("1", "on", "y")
    rate = refresh_rate(request.args.get("rate"))
    last = lvsconfig.last_revision()
    running_rev = _revision_for_serial(pulse["serial_no"])
    hour = request.args.get("range") == "hour"
    return render_template(
        "control/index.html", pulse=pulse, auto=auto, rate=rate, last=last, running_rev=running_rev,
        reload_time=_when(pulse["last_reload"].get("time")), updated=_when(pulse["updated"]),
        lvs_cf=str(lvsconfig.lvs_cf_path()), traffic=charts.traffic(runtime.series(hour)), hour=hour,
    )


@bp.get("/traffic")
def traffic() -> Any:
    """The charts alone: what the page's script swaps in to update them in place."""
    hour = request.args.get("range") == "hour"
    return render_template("control/_traffic.html", traffic=charts.traffic(runtime.series(hour)), hour=hour)


@bp.get("/password")
def password_help() -> Any:
    """CHANGE PASSWORD: as in Piranha 0.8, a help screen (passwords are set with piranha-passwd)."""
    return render_template("control/password.html")


def refresh_rate(raw: str | None) -> int:
    """Update Interval: values below 10 (or empty, or junk) become 10, as in control.php."""
    try:
        rate = int(raw or MIN_RATE)
    except ValueError:
        rate = MIN_RATE
    return min(max(rate, MIN_RATE), 3600)


def _revision_for_serial(serial: Any) -> Revision | None:
    if not isinstance(serial, int):
        return None
    return db.session.scalars(select(Revision).where(Revision.serial_no == serial)
                              .order_by(Revision.id.desc()).limit(1)).first()


def _when(value: Any) -> str | None:
    """A status timestamp (epoch seconds or ISO text) as UTC text."""
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(value) if value else None
