"""Builds the status document from what the daemon, the reconciler and the monitor hold.

Kept apart from the daemon so the document's shape is visible in one place;
its schema is ``statusfile.StatusDoc``.  The daemon hands in a
:class:`RunInfo` snapshot instead of itself, so this module never imports
the daemon.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..lvscf.files import atomic_file
from ..lvscf.model import host_port
from .configfile import LoadedConfig
from .ha.role import Role, programs_kernel
from .health.monitor import Monitor, Target
from .health.state import HealthState
from .health.weights import kernel_weight, slow_start_percent
from .jsonchunks import LazyList, LazyMap, chunks, grouped
from .reconcile import UNKNOWN, UP, Dest, ServiceEntry, ServiceKey, Table
from .reconciler import Reconciler
from .statusfile import DestDoc, HealthDoc, ServiceDoc, StatusDoc

log = logging.getLogger("pulse")

LAST_OPS_SHOWN = 100     # a start's 11,000 ops would be most of the document; "count" has the total
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


def health_items(monitor: Monitor) -> Iterator[tuple[str, dict[str, HealthDoc]]]:
    """(vs, {rs: {address, port, state, display, weights, last check, counts, history}}), by name.

    Produced one virtual server at a time, so a writer can pause in between.
    """
    now = time.monotonic()
    states = monitor.states
    return grouped((key, health_entry(target, states.get(key), now))
                   for key, target in sorted(monitor.targets.items()))


def health_entry(target: Target, state: HealthState | None, now: float) -> HealthDoc:
    """One real server's health as the console shows it."""
    entry: dict[str, Any] = {"address": target.spec.host, "port": target.spec.port}
    entry.update(state.to_dict() if state else {"state": "unknown", "last_check": None,
                                                "last_result": "", "duration": 0.0})
    entry["configured_weight"] = target.weight
    up = state is not None and state.effective == UP
    entry["weight"] = kernel_weight(target.weight, state, target.slowstart, now) if up and state else 0
    entry["display"] = display_state(target, state, now)
    return entry  # type: ignore[return-value]  # HealthState.to_dict's keys


def health_dict(monitor: Monitor) -> dict[str, dict[str, HealthDoc]]:
    """Every watched server's health, by virtual and real server name."""
    return dict(health_items(monitor))


def status_parts(run: RunInfo, rec: Reconciler, monitor: Monitor, redundancy: dict[str, Any] | None,
                 runtime: Callable[[Table], dict[str, Any]] | None = None) -> dict[str, Any]:
    """The status document with its per-server parts lazy (see :mod:`.jsonchunks`)."""
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
                           "ops": [str(op) for op in c.last_ops[:LAST_OPS_SHOWN]], "errors": c.last_errors},
        "drain_seconds": run.drain_seconds,
        "ipvs_timeouts": list(rec.timeouts_applied) if rec.timeouts_applied else None,
        "draining": [f"{k} -> {dk}" for (k, dk) in sorted(rec.drains)],
        "table": LazyList(service_dict(k, e, k in owned) for k, e in sorted(table.items())),
        "health": LazyMap(health_items(monitor)),
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
    in an emulated guest), so the gap after each write is at least ``DUTY``
    times as long as that write took.  A small table is written as before; a
    huge one refreshes less often instead of keeping a CPU busy.

    The periodic write (:meth:`start`) runs as a task that builds and encodes
    the document a slice of ``SLICE`` seconds per loop iteration (see
    :mod:`.jsonchunks`), so neither a reload nor the heartbeat thread waits
    for a whole document.  :meth:`write` writes at once (start, stop, a
    failed reload).
    """

    DUTY = 20
    SLICE = 0.004

    def __init__(self, path: Path, interval: float, build: Callable[[], Mapping[str, Any]]) -> None:
        self.path = path
        self.interval = interval
        self.build = build
        self._last = self._next = 0.0
        self._cost = 0.0              # seconds of work the last write took
        self._asap = self._soon = False   # asked since the last write started: a table / health change
        self._task: asyncio.Task[None] | None = None

    def due(self) -> bool:
        """Is a write due now (and none under way)?"""
        return self._task is None and time.monotonic() >= self._next

    def now(self) -> None:
        """Write at the end of this loop pass (the table just changed), cost permitting."""
        self._asap = True
        self._plan()

    def soon(self) -> None:
        """Write within 0.2 s of the last write (a health change; bounded in a flapping storm)."""
        self._soon = True
        self._plan()

    def write(self) -> None:
        """Write the status file now, in one go; a write under way is dropped."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        started = time.monotonic()
        self._asap = self._soon = False
        for _ in self._writing():
            pass
        self._written(started, time.monotonic() - started)

    def start(self) -> None:
        """Write the status file in the background, a slice per loop iteration."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._write_sliced(), name="status-writer")

    async def _write_sliced(self) -> None:
        """Write the document between other work: one slice, then the loop's turn, and so on."""
        started = time.monotonic()
        self._asap = self._soon = False
        writing = self._writing()
        try:
            while True:
                try:
                    next(writing)
                except StopIteration as done:
                    work: float = done.value
                    break
                await asyncio.sleep(0)
        finally:
            writing.close()                       # cancelled: the temporary file goes, the old one stays
            if self._task is asyncio.current_task():
                self._task = None
        self._written(started, work)

    def _writing(self) -> Generator[None, None, float]:
        """Write the file piece by piece, pausing (yield) after each slice; returns the seconds of work.

        The file is replaced only when whole; a failure is logged, never raised.
        """
        work, begun = 0.0, time.perf_counter()
        try:
            with atomic_file(self.path, 0o644) as out:
                for piece in chunks(self.build()):
                    out.write(piece)
                    if time.perf_counter() - begun > self.SLICE:
                        work += time.perf_counter() - begun
                        yield
                        begun = time.perf_counter()
                out.write("\n")
        except OSError as exc:
            log.error("cannot write status: %s", exc)
        return work + time.perf_counter() - begun

    def _written(self, started: float, cost: float) -> None:
        """A write that began at ``started`` took ``cost`` seconds of work: plan the next one."""
        self._last, self._cost = started, cost
        self._plan()

    def _plan(self) -> None:
        """When the next write is due: the interval, or sooner for a change, never above the duty."""
        gap = self.DUTY * self._cost
        due = self._last + max(self.interval, gap)
        if self._soon:
            due = min(due, self._last + max(0.2, gap))
        if self._asap:
            due = min(due, self._last + gap)
        self._next = due
