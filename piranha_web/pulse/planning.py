"""``pulse --plan``: what a (re)start would change right now, printed, nothing applied."""

from __future__ import annotations

import sys
from pathlib import Path

from .configfile import LoadedConfig
from .daemon import Daemon, Options
from .health.state import UNKNOWN
from .kernel import make_backends
from .reconcile import all_up
from .ha.role import initial_role
from .statusfile import read_status, status_path


def health_from_status(rundir: Path) -> dict[tuple[str, str], str]:
    """Health states a running pulse reported, if any."""
    doc = read_status(status_path(rundir)) or {}
    if doc.get("state") != "running":
        return {}
    return {(vs, rs): str(h.get("state", UNKNOWN))
            for vs, servers in (doc.get("health") or {}).items() for rs, h in servers.items()}


def print_plan(config: Path, rundir: Path, loaded: LoadedConfig, backend: str, drain_seconds: float) -> int:
    """Print one operation per line (or "no changes"); exit code 0."""
    try:
        backends = make_backends(backend)
    except RuntimeError as exc:
        print(f"pulse: {exc}", file=sys.stderr)
        return 1
    daemon = Daemon(Options(config=config, runtime_dir=rundir, backend=backend,
                            drain_seconds=drain_seconds), backends, loaded)
    daemon.role = initial_role(loaded.cfg.backup_active, False, daemon._is_primary())
    health = health_from_status(rundir) or all_up(loaded.cfg)
    for key, state in health.items():
        daemon.monitor.seed(key, state)
    ops, _, _ = daemon.compute_plan()
    print(f"# plan for {config} serial_no {loaded.cfg.serial_no} against the {backends.name} table "
          f"(role {daemon.role.value})")
    for op in ops:
        print(op)
    if not ops:
        print("no changes")
    backends.ipvs.close()
    backends.addresses.close()
    return 0
