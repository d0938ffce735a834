"""Builds the status document from a running :class:`~piranha_web.pulse.daemon.Daemon`.

Kept apart from the daemon so the document's shape is visible in one place;
``statusfile.py`` describes the layout for readers.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from .reconcile import Dest, ServiceEntry, ServiceKey
from .ha.role import programs_kernel

if TYPE_CHECKING:
    from .daemon import Daemon

STAT_KEYS = ("active_conns", "inactive_conns", "conns", "inpkts", "outpkts", "inbytes", "outbytes")


def service_dict(key: ServiceKey, entry: ServiceEntry, managed: bool) -> dict[str, Any]:
    """One service with its destinations, as the console shows it."""
    return {
        "service": str(key), "protocol": key.protocol, "addr": key.addr or None,
        "port": key.port or None, "fwmark": key.fwmark or None,
        "scheduler": entry.service.scheduler, "persistent": entry.service.persistent,
        "netmask": entry.service.netmask, "managed": managed,
        "dests": [dest_dict(dk.addr, dk.port, d) for dk, d in sorted(entry.dests.items())],
    }


def dest_dict(addr: str, port: int, dest: Dest) -> dict[str, Any]:
    """One destination with weight, forwarding and counters (0 when unknown)."""
    out: dict[str, Any] = {"addr": addr, "port": port, "weight": dest.weight, "fwd": dest.fwd}
    out.update({k: int(dest.stats.get(k, 0)) for k in STAT_KEYS})
    return out


def health_dict(daemon: "Daemon") -> dict[str, dict[str, Any]]:
    """{vs: {rs: {address, port, state, last_check, last_result, duration}}}."""
    out: dict[str, dict[str, Any]] = {}
    for (vs, rs), target in sorted(daemon.monitor.targets.items()):
        state = daemon.monitor.states.get((vs, rs))
        entry: dict[str, Any] = {"address": target.spec.host, "port": target.spec.port}
        entry.update(state.to_dict() if state else {"state": "unknown", "last_check": None,
                                                    "last_result": "", "duration": 0.0})
        out.setdefault(vs, {})[rs] = entry
    return out


def status_document(daemon: "Daemon") -> dict[str, Any]:
    """Everything the console and ``pulse --status`` show."""
    try:
        table = daemon.actual_table(fresh=daemon.state != "running")
    except Exception as exc:  # noqa: BLE001 - status must still be written
        table, daemon.counters.last_errors = {}, [f"dump: {exc}"]
    owned = daemon.managed.services
    c = daemon.counters
    return {
        "pid": os.getpid(), "state": daemon.state, "role": daemon.role.value,
        "programs_kernel": programs_kernel(daemon.role),
        "serial_no": daemon.loaded.cfg.serial_no, "config": str(daemon.opts.config),
        "config_sha256": daemon.loaded.sha256,
        "last_reload": {k: daemon.last_reload.get(k) for k in ("time", "ok", "error", "serial_no")},
        "reloads": dict(getattr(daemon, "reload_stats", {})),
        "backend": daemon.kernel.name,
        "firewall": daemon.firewall.name if daemon.firewall is not None else None,
        "started": daemon.started, "updated": time.time(),
        "ops_applied": c.ops_applied,
        "last_reconcile": {"time": c.last_time, "count": len(c.last_ops),
                           "ops": [str(op) for op in c.last_ops], "errors": c.last_errors},
        "drain_seconds": daemon.opts.drain_seconds,
        "ipvs_timeouts": list(daemon.timeouts_applied) if daemon.timeouts_applied else None,
        "draining": [f"{k} -> {dk}" for (k, dk) in sorted(daemon.drains)],
        "table": [service_dict(k, e, k in owned) for k, e in sorted(table.items())],
        "health": health_dict(daemon),
        "addresses": [str(a) for a in sorted(daemon.managed.addresses)],
        "marks": [str(m) for m in sorted(daemon.managed.marks)],
        # redundancy (issue 7): own state, the peer's view (role, serial_no), counters
        "redundancy": daemon.redundancy.status() if getattr(daemon, "redundancy", None) else None,
    }
