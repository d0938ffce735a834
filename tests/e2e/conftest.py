"""Fixtures for the end-to-end tests (root + IPVS kernel; marker ``ipvs``).

The repository root is put on sys.path so ``tests.support`` imports under
``--import-mode=importlib`` whichever way pytest was started.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.topology import topology_fixture  # noqa: E402

seed = topology_fixture("module")


@pytest.fixture
def playwright_instance() -> Iterator[Any]:
    """One Playwright driver for the test (both of its browsers hang off it)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


SCENARIO_LOGS = [ROOT / "test-artifacts" / d / "scenario.log" for d in ("e2e", "e2e-ipv6")]
# Lines of the scenario logs worth reading in a CI log: what the client saw and the 6:2 split.
HIGHLIGHTS = ("client browser", "requests with", "held connection", "reloaded in place", "stopped rs2",
              "scenario complete")
LOADED_AT = time.time()


def pytest_terminal_summary(terminalreporter: object) -> None:
    """Show the seed experiments' observable results (alternating pages, 6:2) in the run's log."""
    reporter: Any = terminalreporter
    for log in SCENARIO_LOGS:
        if not log.exists() or log.stat().st_mtime < LOADED_AT:
            continue  # that scenario did not run in this session
        lines = [line for line in log.read_text(errors="replace").splitlines()
                 if line.startswith("[") and any(h in line for h in HIGHLIGHTS)]
        reporter.write_sep("=", f"seed article scenario ({log.relative_to(ROOT)})")
        for line in lines:
            reporter.write_line(line[:200])
