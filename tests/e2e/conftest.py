"""Fixtures for the end-to-end tests (root + IPVS kernel; marker ``ipvs``).

The repository root is put on sys.path so ``tests.support`` imports under
``--import-mode=importlib`` whichever way pytest was started.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.topology import topology_fixture  # noqa: E402

seed = topology_fixture("module")


SCENARIO_LOG = ROOT / "test-artifacts" / "e2e" / "scenario.log"
# Lines of the scenario log worth reading in a CI log: what the client saw and the 6:2 split.
HIGHLIGHTS = ("client browser", "requests with", "held connection", "reloaded in place", "stopped rs2",
              "scenario complete")
LOADED_AT = time.time()


def pytest_terminal_summary(terminalreporter: object) -> None:
    """Show the seed experiment's observable results (alternating pages, 6:2) in the run's log."""
    if not SCENARIO_LOG.exists() or SCENARIO_LOG.stat().st_mtime < LOADED_AT:
        return  # the scenario did not run in this session
    lines = [line for line in SCENARIO_LOG.read_text(errors="replace").splitlines()
             if line.startswith("[") and any(h in line for h in HIGHLIGHTS)]
    reporter: Any = terminalreporter
    reporter.write_sep("=", f"seed article scenario ({SCENARIO_LOG.relative_to(ROOT)})")
    for line in lines:
        reporter.write_line(line[:200])
