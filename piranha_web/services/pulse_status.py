"""What the console knows about pulse: its pid file and its status JSON.

No kernel access: pulse writes ``<instance>/pulse-status.json`` atomically and
the console only reads it, through the pure ``pulse.statusfile`` (the one
pulse module besides ``pulse.reconcile`` the console may import), whose
``StatusDoc`` is the document's one schema for writer and reader.  Signalling
is best effort (pulse runs as root, the console usually not); pulse also
notices a new serial_no by itself, so a refused signal is not an error.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..pulse.statusfile import HealthDoc, ServiceDoc, StatusDoc, read_pid, read_status


def request_reload(pid_file: str | Path) -> bool:
    """SIGHUP pulse; False when it is not running or we may not signal it."""
    pid = read_pid(pid_file)
    if pid is None:
        return False
    try:
        os.kill(pid, signal.SIGHUP)
    except OSError:
        return False
    return True


@dataclass
class ReloadOutcome:
    """How pulse took a new revision: ``state`` is applied/failed/pending/not-running."""

    state: str
    error: str | None = None
    directors: list[dict[str, Any]] | None = None    # cluster = ecmp: each director's result


def wait_for_serial(pid_file: str | Path, status_file: str | Path, serial_no: int,
                    timeout: float = 2.0, interval: float = 0.05) -> ReloadOutcome:
    """Signal pulse and wait (bounded) until its status shows ``serial_no`` (or a failed reload)."""
    if read_pid(pid_file) is None:
        return ReloadOutcome("not-running")
    since = time.time()
    request_reload(pid_file)
    deadline = time.monotonic() + max(0.0, timeout)
    while True:
        outcome = _judge(read_status(status_file), serial_no, since)
        if outcome is not None:
            return outcome
        if time.monotonic() >= deadline:
            return ReloadOutcome("pending")
        time.sleep(interval)


def _judge(status: StatusDoc | None, serial_no: int, since: float | None = None) -> ReloadOutcome | None:
    """applied/failed once the status speaks about our revision, else None (keep waiting).

    A failed reload counts only if it happened after we signalled (``since``,
    with a second of slack for clock granularity): an older failure is about
    an older file.
    """
    if not status:
        return None
    last = status.get("last_reload") or {}
    when = last.get("time")
    fresh = since is None or (isinstance(when, (int, float)) and when >= since - 1.0)
    failed = fresh and last.get("ok") is False
    current = status.get("serial_no")
    if failed:
        return ReloadOutcome("failed", str(last.get("error") or "reload failed"))
    if isinstance(current, int) and current >= serial_no:
        return ReloadOutcome("applied")
    return None


def summary(pid_file: str | Path, status_file: str | Path) -> dict[str, Any]:
    """Everything the CONTROL/MONITORING panel shows, normalised for the template."""
    pid = read_pid(pid_file)
    status: StatusDoc | dict[str, Any] = read_status(status_file) or {}
    last = status.get("last_reload") or {}
    return {
        "running": pid is not None,
        "pid": pid,
        "status": status,
        "role": status.get("role") or status.get("state"),
        "serial_no": status.get("serial_no"),
        "last_reload": last,
        "ipvs": ipvs_rows(status),
        "health": health_rows(status),
        "updated": status.get("updated"),
    }


def ipvs_rows(status: StatusDoc | dict[str, Any]) -> list[ServiceDoc]:
    """The IPVS table pulse reports (``table``: services with their ``dests``)."""
    table: list[ServiceDoc] = status.get("table") or []
    return [s for s in table if isinstance(s, dict)]


def health_rows(status: StatusDoc | dict[str, Any]) -> list[dict[str, Any]]:
    """Per-real-server health, flattened from ``{virtual: {server: HealthDoc}}``."""
    health: dict[str, dict[str, HealthDoc]] = status.get("health") or {}
    runtime = status.get("runtime") or {}
    states, traffic = runtime.get("states") or {}, runtime.get("traffic") or {}
    rows: list[dict[str, Any]] = []
    for vname, servers in sorted(health.items()):
        if not isinstance(servers, dict):
            continue
        for sname, info in sorted(servers.items()):
            if isinstance(info, dict):
                state = (states.get(vname) or {}).get(sname) or {}
                rows.append(dict(info, virtual=vname, name=sname, in_state=_since(info.get("changed_at")),
                                 runtime=state.get("display") or "READY",
                                 kernel=(traffic.get(vname) or {}).get(sname)))
    return rows


def _since(when: Any) -> str | None:
    """How long ago an epoch timestamp was, as ``1h 02m 03s``."""
    if not isinstance(when, (int, float)) or isinstance(when, bool):
        return None
    seconds = max(0, int(time.time() - when))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"
