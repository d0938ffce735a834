"""``pulse --plan``: what a (re)start would change right now, printed, nothing applied."""

from __future__ import annotations

import sys
from pathlib import Path

from .configfile import LoadedConfig
from .ha.redundancy import enabled as paired
from .ha.role import holds_table, initial_role, owns_address, programs_kernel
from .health.state import UNKNOWN
from .kernel import make_backends
from .reconcile import all_up
from .reconciler import Reconciler
from .runtime.states import adjust_table
from .runtime.store import RUNTIME_NAME, load_states
from .statusfile import read_status, status_path


def health_from_status(rundir: Path) -> dict[tuple[str, str], str]:
    """Health states a running pulse reported, if any."""
    doc = read_status(status_path(rundir))
    if doc is None or doc.get("state") != "running":
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
    reconciler = Reconciler(backends, rundir, drain_seconds)
    states = load_states(rundir / RUNTIME_NAME)         # drain/maint/weights a running pulse keeps
    reconciler.adjust = lambda table, cfg, actual: adjust_table(table, cfg, states, actual)
    role = initial_role(loaded.cfg.backup_active, False, owns_address(loaded.cfg.primary))
    health = health_from_status(rundir) or all_up(loaded.cfg)
    ops, _, _ = reconciler.compute_plan(loaded.cfg, health, holds_table(role, paired(loaded.cfg)),
                                        addresses=programs_kernel(role))
    print(f"# plan for {config} serial_no {loaded.cfg.serial_no} against the {backends.name} table "
          f"(role {role.value})")
    for op in ops:
        print(op)
    if not ops:
        print("no changes")
    backends.close()
    return 0
