"""Repository-wide pytest policy (applies to every test directory).

In CI (``PIRANHA_NO_SKIP=1``, set by scripts/test.sh when ``CI`` is set) a
skipped test is reported as a failure: a test must never be silently dropped
because something it needs was not installed.  Tests that need a real IPVS
kernel are deselected by marker (``-m "not ipvs"``), not skipped.
"""

from __future__ import annotations

import os

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("PIRANHA_NO_SKIP") == "1" and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"skipped in CI, which is not allowed: {reason}"
