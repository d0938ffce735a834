"""pulse's status file: where it lives, atomic write, read, and a human rendering.

The console runs unprivileged and never signals pulse; it reads this JSON.
Pure standard library (plus ``lvscf.files``) so the console may import it.

The document's schema is :class:`StatusDoc` below: pulse writes exactly
that, the console and ``pulse --status`` read it through :func:`read_status`.
"""

from __future__ import annotations

import enum
import json
import os
import time
from pathlib import Path
from typing import Any, NotRequired, TypedDict, cast

from ..lvscf.files import write_atomic

DEFAULT_RUNTIME_DIR = "/run/piranha"
STATUS_NAME = "pulse-status.json"
PID_NAME = "pulse.pid"
MANAGED_NAME = "pulse-managed.json"


class Lifecycle(enum.StrEnum):
    """Where the daemon is in its life (the document's ``state``)."""

    STARTING = "starting"
    RUNNING = "running"
    STOPPED = "stopped"


class DestDoc(TypedDict):
    """One real server in the kernel table, with its counters."""

    addr: str
    port: int
    weight: int
    fwd: str
    active_conns: int
    inactive_conns: int
    conns: int
    inpkts: int
    outpkts: int
    inbytes: int
    outbytes: int


class ServiceDoc(TypedDict):
    """One virtual service in the kernel table."""

    service: str
    protocol: str
    addr: str | None
    port: int | None
    fwmark: int | None
    scheduler: str
    persistent: int
    netmask: str
    managed: bool
    dests: list[DestDoc]


class HealthDoc(TypedDict, total=False):
    """One real server's check state."""

    address: str
    port: int
    state: str
    last_check: float | None
    last_result: str
    duration: float
    checks: dict[str, int]          # results by kind since start (absent before the first check)
    display: str                    # UP, DOWN, DRAINING, SLOW-START n %, UNKNOWN
    weight: int                     # the kernel weight now (0 when out)
    configured_weight: int
    last_ok: bool | None
    successes: int                  # consecutive
    failures: int
    changed_at: float | None        # when the state last changed (epoch seconds)
    history: str                    # the last results, oldest first: + pass, - fail
    drain: bool
    maint: bool
    agent_pct: int | None
    duration_buckets: list[int]     # check durations per health.state.DURATION_BUCKETS (+Inf last)
    duration_sum: float


class ReloadDoc(TypedDict):
    """The latest attempt to load lvs.cf."""

    time: float | None
    ok: bool
    error: str | None
    serial_no: int | None


class ReconcileDoc(TypedDict):
    """The latest reconcile pass that changed something."""

    time: float | None
    count: int
    ops: list[str]
    errors: list[str]


class RuntimeDoc(TypedDict):
    """Runtime states apart from health, and the sampled counters by lvs.cf name."""

    states: dict[str, dict[str, dict[str, Any]]]     # virtual -> real -> runtime.states.RuntimeState
    traffic: dict[str, dict[str, dict[str, Any]]]    # virtual -> real -> weight, counters, rates
    sample_interval: float
    samples: int


class StatusDoc(TypedDict):
    """The whole status file."""

    pid: int
    state: str                      # a Lifecycle value
    role: str                       # a ha.role.Role value
    programs_kernel: bool
    serial_no: int
    config: str
    config_sha256: str
    last_reload: ReloadDoc
    reloads: dict[str, Any]         # total, failed, last_duration
    backend: str
    firewall: str | None
    started: float
    updated: float
    ops_applied: int
    last_reconcile: ReconcileDoc
    drain_seconds: float
    ipvs_timeouts: list[int] | None
    draining: list[str]
    table: list[ServiceDoc]
    health: dict[str, dict[str, HealthDoc]]
    addresses: list[str]
    marks: list[str]
    warnings: list[str]             # conditions that break traffic (forwarding off for a NAT family)
    redundancy: dict[str, Any] | None   # ha.redundancy.Redundancy.status()
    cluster: NotRequired[dict[str, Any] | None]   # ecmp.cluster.EcmpCluster.status() (cluster = ecmp)
    runtime: RuntimeDoc | None          # runtime.control.RuntimeControl.status()


def runtime_dir(explicit: str | None = None) -> Path:
    """``explicit``, else $PIRANHA_INSTANCE, else /run/piranha."""
    return Path(explicit or os.environ.get("PIRANHA_INSTANCE") or DEFAULT_RUNTIME_DIR)


def status_path(directory: str | os.PathLike[str] | None = None) -> Path:
    """Path of the status JSON in the runtime directory."""
    return runtime_dir(str(directory) if directory else None) / STATUS_NAME


def write_status(path: Path, doc: StatusDoc) -> None:
    """Atomically replace the status file (readers never see half a document)."""
    write_atomic(path, json.dumps(doc, separators=(",", ":")) + "\n", mode=0o644)


def read_status(path: str | os.PathLike[str]) -> StatusDoc | None:
    """The parsed status, or None when missing/unreadable/corrupt (never half-written: atomic).

    A document from an older pulse may lack keys: readers use ``.get``.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return cast(StatusDoc, data) if isinstance(data, dict) else None


def write_pid(directory: Path) -> None:
    """Write the pid file (main() already refused to start over a live one).

    Explicit modes, whatever the umask: only root may plant files pulse reads
    back (pulse-managed.json decides what a stop removes) or point the pid
    file elsewhere.
    """
    directory.mkdir(mode=0o755, parents=True, exist_ok=True)
    write_atomic(directory / PID_NAME, f"{os.getpid()}\n", mode=0o644)


def remove_pid(pid_file: Path) -> None:
    """Remove the pid file if it is there."""
    try:
        pid_file.unlink()
    except FileNotFoundError:
        pass


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


def format_status(doc: StatusDoc) -> str:
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
    lines += _cluster_lines(doc.get("cluster"))
    return "\n".join(lines) + "\n"


def _cluster_lines(cluster: dict[str, Any] | None) -> list[str]:
    """cluster = ecmp: this director, its drain state, announced VIPs, BGP sessions, the other directors."""
    if not cluster:
        return []
    drain = cluster.get("drain") or {}
    lines = ["", f"Cluster (ecmp): director {cluster.get('director') or '? (no director block matches)'}, "
             f"drain {drain.get('state')}" + (", safe to stop" if drain.get("safe_to_stop") else ""),
             f"  announced: {' '.join(cluster.get('announced') or []) or '-'}"]
    for s in cluster.get("sessions") or []:
        up = f", up {s['uptime']:.0f}s" if s.get("uptime") is not None else ""
        lines.append(f"  {s.get('name')} {s.get('neighbor')}: {s.get('state')}{up}, "
                     f"{s.get('exported', 0)} prefix(es) announced")
    bird = cluster.get("bird") or {}
    if bird:
        running = f"running pid {bird.get('pid')}" if bird.get("running") else "NOT RUNNING"
        error = f", {bird['last_error']}" if bird.get("last_error") else ""
        lines.append(f"  bird: {running}, restarts {bird.get('restarts', 0)}{error}")
    for name, view in sorted((cluster.get("peers") or {}).items()):
        peer = view.get("status") or {}
        drain = (peer.get("drain") or {}).get("state")
        heard = (f"serial_no {peer.get('serial_no')}, drain {drain}" if view.get("reachable")
                 else f"UNREACHABLE: {view.get('error')}")
        lines.append(f"  director {name} {view.get('address')}: {heard}")
    return lines


_FWD = {"nat": "Masq", "direct": "Route", "tunnel": "Tunnel"}


def _header(doc: StatusDoc) -> str:
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
