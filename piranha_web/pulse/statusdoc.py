"""Builds the status document from what the daemon, the reconciler and the monitor hold.

Kept apart from the daemon so the document's shape is visible in one place;
its schema is ``statusfile.StatusDoc``.  The daemon hands in a
:class:`RunInfo` snapshot instead of itself, so this module never imports
the daemon.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..lvscf.model import host_port
from .configfile import LoadedConfig
from .ha.role import Role, programs_kernel
from .health.monitor import Monitor, Target
from .health.state import HealthState
from .health.weights import kernel_weight, slow_start_percent
from .reconcile import UNKNOWN, UP, Dest, ServiceEntry, ServiceKey, Table
from .reconciler import Reconciler
from .statusfile import DestDoc, HealthDoc, RuntimeDoc, ServiceDoc, StatusDoc, write_status

log = logging.getLogger("pulse")

STAT_KEYS = ("active_conns", "inactive_conns", "conns", "inpkts", "outpkts", "inbytes", "outbytes")


@dataclass(frozen=True)
class RunInfo:
    """The daemon's own part of the document."""

    state: str
    role: Role
    loaded: LoadedConfig
    config: Path
    last_reload: dict[str, Any]
    reloads: dict[str, Any]
    backend: str
    started: float
    drain_seconds: float


def service_dict(key: ServiceKey, entry: ServiceEntry, managed: bool) -> ServiceDoc:
    """One service with its destinations, as the console shows it."""
    return {
        "service": str(key), "protocol": key.protocol, "addr": key.addr or None,
        "port": key.port or None, "fwmark": key.fwmark or None,
        "scheduler": entry.service.scheduler, "persistent": entry.service.persistent,
        "netmask": entry.service.netmask, "managed": managed,
        "dests": [dest_dict(dk.addr, dk.port, d) for dk, d in sorted(entry.dests.items())],
    }


def dest_dict(addr: str, port: int, dest: Dest) -> DestDoc:
    """One destination with weight, forwarding and counters (0 when unknown)."""
    out: dict[str, Any] = {"addr": addr, "port": port, "weight": dest.weight, "fwd": dest.fwd}
    out.update({k: int(dest.stats.get(k, 0)) for k in STAT_KEYS})
    return out  # type: ignore[return-value]  # the STAT_KEYS loop fills the counters


def display_state(target: Target, state: HealthState | None, now: float) -> str:
    """UP, DOWN, DRAINING (weight 0 from the agent), SLOW-START n %, or UNKNOWN."""
    if state is None or state.effective == UNKNOWN:
        return "UNKNOWN"
    if state.effective != UP:
        return "DOWN"
    if state.drain:
        return "DRAINING"
    pct = slow_start_percent(target.weight, state, target.slowstart, now)
    return "UP" if pct is None else f"SLOW-START {pct} %"


def health_dict(monitor: Monitor) -> dict[str, dict[str, HealthDoc]]:
    """{vs: {rs: {address, port, state, display, weights, last check, counts, history}}}."""
    out: dict[str, dict[str, HealthDoc]] = {}
    now = time.monotonic()
    for (vs, rs), target in sorted(monitor.targets.items()):
        state = monitor.states.get((vs, rs))
        entry: dict[str, Any] = {"address": target.spec.host, "port": target.spec.port}
        entry.update(state.to_dict() if state else {"state": "unknown", "last_check": None,
                                                    "last_result": "", "duration": 0.0})
        entry["configured_weight"] = target.weight
        up = state is not None and state.effective == UP
        entry["weight"] = kernel_weight(target.weight, state, target.slowstart, now) if up and state else 0
        entry["display"] = display_state(target, state, now)
        out.setdefault(vs, {})[rs] = entry  # type: ignore[assignment]  # HealthState.to_dict's keys
    return out


def status_document(run: RunInfo, rec: Reconciler, monitor: Monitor, redundancy: dict[str, Any] | None,
                    runtime: Callable[[Table], RuntimeDoc] | None = None) -> StatusDoc:
    """Everything the console and ``pulse --status`` show."""
    try:
        table = rec.actual_table(fresh=run.state != "running")
    except Exception as exc:  # noqa: BLE001 - status must still be written
        table, rec.counters.last_errors = {}, [f"dump: {exc}"]
    owned = rec.managed.services
    c = rec.counters
    return {
        "pid": os.getpid(), "state": str(run.state), "role": run.role.value,
        "programs_kernel": programs_kernel(run.role),
        "serial_no": run.loaded.cfg.serial_no, "config": str(run.config),
        "config_sha256": run.loaded.sha256,
        "last_reload": {"time": run.last_reload.get("time"), "ok": bool(run.last_reload.get("ok")),
                        "error": run.last_reload.get("error"), "serial_no": run.last_reload.get("serial_no")},
        "reloads": dict(run.reloads),
        "backend": run.backend,
        "firewall": rec.firewall.name if rec.firewall is not None else None,
        "started": run.started, "updated": time.time(),
        "ops_applied": c.ops_applied,
        "last_reconcile": {"time": c.last_time, "count": len(c.last_ops),
                           "ops": [str(op) for op in c.last_ops], "errors": c.last_errors},
        "drain_seconds": run.drain_seconds,
        "ipvs_timeouts": list(rec.timeouts_applied) if rec.timeouts_applied else None,
        "draining": [f"{k} -> {dk}" for (k, dk) in sorted(rec.drains)],
        "table": [service_dict(k, e, k in owned) for k, e in sorted(table.items())],
        "health": health_dict(monitor),
        "addresses": [str(a) for a in sorted(rec.managed.addresses)],
        "marks": [str(m) for m in sorted(rec.managed.marks)],
        "warnings": list(rec.warnings),
        "redundancy": redundancy,   # own state, the peer's view (role, serial_no), counters
        "runtime": runtime(table) if runtime is not None else None,
    }


def log_state(doc: StatusDoc) -> None:
    """SIGUSR1: log the table and health."""
    log.info("state: role %s serial_no %s ops %d", doc["role"], doc["serial_no"], doc["ops_applied"])
    for svc in doc["table"]:
        log.info("  %s %s: %s", svc["service"], svc["scheduler"],
                 ", ".join(f"{host_port(d['addr'], d['port'])} w{d['weight']}" for d in svc["dests"]) or "-")
    for vs, servers in doc["health"].items():
        for rs, h in servers.items():
            log.info("  %s/%s %s %s", vs, rs, host_port(h["address"], h["port"]), h["state"])


class StatusWriter:
    """Writes the status file every ``interval``, sooner after a change, at most ~5 times a second.

    And never more than ``1 / DUTY`` of the time: at 10,000 real servers one
    document takes a good fraction of a second to build and write (seconds
    under user-mode Linux), so the gap after each write is at least ``DUTY``
    times as long as that write took.  A small table is written as before; a
    huge one refreshes less often instead of keeping a CPU busy and the event
    loop away from reloads and heartbeats.
    """

    DUTY = 20

    def __init__(self, path: Path, interval: float, build: Callable[[], StatusDoc]) -> None:
        self.path = path
        self.interval = interval
        self.build = build
        self._last = self._next = 0.0
        self._cost = 0.0              # seconds the last write took

    def due(self) -> bool:
        """Is a write due now?"""
        return time.monotonic() >= self._next

    def now(self) -> None:
        """Write at the end of this loop pass (the table just changed), cost permitting."""
        self._next = self._last + self.DUTY * self._cost

    def soon(self) -> None:
        """Write within 0.2 s of the last write (a health change; bounded in a flapping storm)."""
        self._next = min(self._next, self._last + max(0.2, self.DUTY * self._cost))

    def write(self) -> None:
        """Write the status file now; a failure is logged, never raised."""
        self._last = time.monotonic()
        try:
            write_status(self.path, self.build())
        except OSError as exc:
            log.error("cannot write status: %s", exc)
        self._cost = time.monotonic() - self._last
        self._next = self._last + max(self.interval, self.DUTY * self._cost)
