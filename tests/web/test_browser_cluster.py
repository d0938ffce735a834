"""CLUSTER in a real browser: chromium (Playwright) -> piranha-gui (gunicorn) -> a dry-run pulse that is d1.

d1 is 127.0.0.1 (this host), d2 127.0.0.2 where no pulse runs.  The page
lists both with what d1's pulse reports; DRAIN and UNDRAIN on d1 move its
drain state.  The screenshot (docs/console-cluster.png, refreshed with
PIRANHA_E2E_DOCS=1) goes to test-artifacts/docs/.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.support import docshots
from tests.support.gui import chromium_page, default_path_console
from tests.support.ports import free_port

from .test_cluster import ecmp_cf

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORD = "cluster browser password"


@pytest.fixture
def console_and_pulse(tmp_path: Path) -> Iterator[str]:
    """lvs.cf (cluster = ecmp) in place, the console started on it, then pulse -n (dry-run) as d1."""
    key = tmp_path / "cluster.key"
    key.write_text("c" * 32)
    os.chmod(key, 0o600)
    ha_dir = tmp_path / "sysconfig-ha"
    ha_dir.mkdir()
    (ha_dir / "lvs.cf").write_text(ecmp_cf(key, free_port()))
    with default_path_console(tmp_path, PASSWORD) as (url, ha):
        rundir = tmp_path / "instance"          # the console's default pulse runtime directory
        log = (tmp_path / "pulse.log").open("w")
        proc = subprocess.Popen([sys.executable, "-m", "piranha_web.pulse.main", "-n", "--backend", "dry-run",
                                 "-c", str(ha / "lvs.cf"), "--runtime-dir", str(rundir)],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 30
            while not (rundir / "pulse-runtime.sock").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            yield url
        finally:
            proc.terminate()
            proc.wait(10)
            log.close()


def test_cluster_page_lists_directors_and_drains_one(console_and_pulse: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    with chromium_page({"width": 1280, "height": 800}) as page:
        page.goto(console_and_pulse + "/login")
        page.fill("#username", "piranha")
        page.fill("#password", PASSWORD)
        page.get_by_role("button", name="Login").click()
        page.wait_for_selector("text=CONTROL/MONITORING")
        page.click("#tab-cluster")
        row = page.locator("#director-d1")
        assert "d1 (this console)" in row.inner_text()
        assert row.locator(".serial-no").inner_text() == "3"
        for _ in range(100):            # d2 is reported once d1's pulse has tried it
            if "unreachable" in page.locator("#director-d2 .pulse-state").inner_text():
                break
            time.sleep(0.1)
            page.reload()
        assert "unreachable" in page.locator("#director-d2 .pulse-state").inner_text()
        row.locator("button.cluster-drain").click()
        assert page.locator(".flash").first.inner_text() == "d1: drain requested"
        for _ in range(100):
            if page.locator("#director-d1 .drain-state").inner_text() == "drained":
                break
            time.sleep(0.1)
            page.reload()
        assert page.locator("#director-d1 .drain-state").inner_text() == "drained"
        docshots.capture(page, ARTIFACTS / "docs", "console-cluster.png", docshots.scratch_markers())
        page.locator("#director-d1 button.cluster-undrain").click()
        assert page.locator(".flash").first.inner_text() == "d1: undrain requested"
