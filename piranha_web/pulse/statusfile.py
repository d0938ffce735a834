"""pulse's status file: where it lives, atomic write, read, and a human rendering.

The console runs unprivileged and never signals pulse; it reads this JSON.
Pure standard library (plus ``lvscf.files``) so the console may import it.

Layout (see ``Daemon.status_document``)::

    {"pid", "state": "running"|"stopped", "role", "serial_no", "config",
     "config_sha256", "last_reload": {"time", "ok", "error"}, "backend",
     "firewall", "updated", "ops_applied",
     "last_reconcile": {"time", "count", "ops": [...], "errors": [...]},
     "table": [{"service", "protocol", "addr", "port", "fwmark", "scheduler",
                "persistent", "netmask", "managed",
                "dests": [{"addr", "port", "weight", "fwd", "active_conns",
                           "inactive_conns", "conns", "inpkts", "outpkts",
                           "inbytes", "outbytes"}]}],
     "health": {vs: {rs: {"address", "port", "state", "last_check",
                          "last_result", "duration"}}},
     "addresses": [...], "marks": [...], "draining": [...]}
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from ..lvscf.files import write_atomic

DEFAULT_RUNTIME_DIR = "/run/piranha"
STATUS_NAME = "pulse-status.json"
PID_NAME = "pulse.pid"
MANAGED_NAME = "pulse-managed.json"


def runtime_dir(explicit: str | None = None) -> Path:
    """``explicit``, else $PIRANHA_INSTANCE, else /run/piranha."""
    return Path(explicit or os.environ.get("PIRANHA_INSTANCE") or DEFAULT_RUNTIME_DIR)


def status_path(directory: str | os.PathLike[str] | None = None) -> Path:
    """Path of the status JSON in the runtime directory."""
    return runtime_dir(str(directory) if directory else None) / STATUS_NAME


def write_status(path: Path, doc: dict[str, Any]) -> None:
    """Atomically replace the status file (readers never see half a document)."""
    write_atomic(path, json.dumps(doc, separators=(",", ":")) + "\n", mode=0o644)


def read_status(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The parsed status, or None when missing/unreadable/corrupt (never half-written: atomic)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def pid_alive(pid: int) -> bool:
    """Whether a process exists (EPERM means it exists but is not ours)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_pid(pid_file: str | os.PathLike[str]) -> int | None:
    """The pid in ``pid_file`` if it names a live process (the console's and pulse's one reading)."""
    try:
        pid = int(Path(pid_file).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if pid > 0 and pid_alive(pid) else None


def format_status(doc: dict[str, Any]) -> str:
    """An ``ipvsadm -Ln``-like table followed by per-server health."""
    lines = [_header(doc), "Prot LocalAddress:Port Scheduler Flags",
             "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn"]
    for svc in doc.get("table", []):
        flags = f" persistent {svc['persistent']}" if svc.get("persistent") else ""
        mark = "" if svc.get("managed", True) else "  (not managed by pulse)"
        lines.append(f"{svc['service']} {svc['scheduler']}{flags}{mark}")
        for d in svc.get("dests", []):
            where = f"{d['addr']}:{d['port']}"
            lines.append(f"  -> {where:<28} {_FWD.get(d['fwd'], d['fwd']):<7} {d['weight']:<6} "
                         f"{d.get('active_conns', 0):<10} {d.get('inactive_conns', 0)}")
    lines.append("")
    lines.append("Health:")
    for vs, servers in sorted(doc.get("health", {}).items()):
        for rs, h in sorted(servers.items()):
            lines.append(f"  {vs}/{rs} {h.get('address')}:{h.get('port')} {str(h.get('state')).upper()}"
                         f" ({h.get('last_result') or '-'}, {h.get('duration', 0):.3f}s)")
    return "\n".join(lines) + "\n"


_FWD = {"nat": "Masq", "direct": "Route", "tunnel": "Tunnel"}


def _header(doc: dict[str, Any]) -> str:
    """First lines: pid, role, config revision, last reload."""
    reload = doc.get("last_reload") or {}
    ok = "ok" if reload.get("ok", True) else f"FAILED: {reload.get('error')}"
    age = ""
    if isinstance(doc.get("updated"), (int, float)):
        age = f", updated {time.time() - doc['updated']:.0f}s ago"
    return (f"pulse pid {doc.get('pid')} {doc.get('state', '?')}, role {doc.get('role')}, "
            f"backend {doc.get('backend')}{age}\n"
            f"config {doc.get('config')} serial_no {doc.get('serial_no')} "
            f"sha256 {str(doc.get('config_sha256'))[:12]}, last reload {ok}\n"
            f"ops applied {doc.get('ops_applied', 0)}")
