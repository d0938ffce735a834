"""Every console panel in a real browser, as the docs/ pages show it.

Chromium (Playwright, Debian's package) drives a real ``piranha-gui``
(gunicorn) that runs with the product's defaults for lvs.cf: it writes
``/etc/sysconfig/ha/lvs.cf``, seen in a private mount namespace where that
directory is this test's (tests/support/sysconfig_ns.py).  The console thus
shows its real path, and each image is taken only after the page's text and
form values were checked for the test's temporary directory
(tests/support/docshots.py).  The run configures the seed article's director
(NAT, virtual server www with two real servers), a backup director, a failover
service and an API token (its secret belongs to a throwaway instance), and
shows one refused form.

Images go to test-artifacts/docs/; with PIRANHA_E2E_DOCS=1 they are copied
to docs/ (how the committed docs/console-*.png were made, except
CONTROL/MONITORING with a running pulse, which needs real IPVS:
tests/e2e/test_seed_article.py); here CONTROL/MONITORING shows pulse
stopped (console-control-stopped.png).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from piranha_web import lvscf
from tests.support import docshots, gui
from tests.support.console import Console

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "docs"
USER, PASSWORD = "piranha", "docs screenshot password"
VIEWPORT = {"width": 1000, "height": 620}
# Images a docs/ page shows, produced by this run (the test below checks each was made).
PANEL_IMAGES = (
    "console-login.png", "console-global-settings.png", "console-redundancy.png",
    "console-virtual-servers.png", "console-virtual-server.png", "console-virtual-server-refused.png",
    "console-real-servers.png", "console-real-server.png", "console-monitoring-scripts.png",
    "console-failover.png", "console-failover-edit.png", "console-revisions.png",
    "console-revision.png", "console-lvs-cf-on-disk.png", "console-tokens.png", "console-audit-log.png",
    "console-change-password.png", "console-control-stopped.png",
)


@pytest.fixture
def default_path_console(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """piranha-gui with the default lvs.cf path; yields its URL and the directory behind /etc/sysconfig/ha."""
    with gui.default_path_console(tmp_path, PASSWORD, USER) as running:
        yield running


@pytest.fixture
def page() -> Iterator[Any]:
    """A fresh chromium page (Debian's /usr/bin/chromium)."""
    with gui.chromium_page(VIEWPORT) as tab:
        yield tab


class Shots:
    """Captures named docs images, each checked for the test's temporary paths first."""

    def __init__(self, page: Any, scratch: Path) -> None:
        self.page = page
        self.forbidden = docshots.scratch_markers(scratch)
        self.made: list[str] = []

    def __call__(self, name: str) -> None:
        docshots.capture(self.page, ARTIFACTS, name, self.forbidden)
        self.made.append(name)

    def goto(self, base: str, path: str, name: str) -> None:
        self.page.goto(base + path)
        self.page.wait_for_load_state()
        self(name)


def test_every_panel_with_the_default_path(default_path_console: tuple[str, Path], page: Any,
                                           tmp_path: Path) -> None:
    base, ha_dir = default_path_console
    shots = Shots(page, tmp_path)
    console = Console(page, base, ARTIFACTS / "steps", log=lambda _: None, forbidden=shots.forbidden)

    page.goto(base + "/")
    page.fill("#username", USER)
    shots("console-login.png")
    console.login(USER, PASSWORD)
    shots("console-control-stopped.png")
    assert "/etc/sysconfig/ha/lvs.cf" in page.inner_text("footer")

    console.global_settings(primary="203.0.113.1", nat_router="192.0.2.254", nat_nmask="255.255.255.0",
                            nat_router_device="eth1:1")
    shots("console-global-settings.png")

    page.click("#tab-redundancy")
    page.fill("#backup", "203.0.113.2")
    page.click("#accept")
    page.wait_for_load_state()
    shots("console-redundancy.png")

    console.add_virtual_server(
        {"name": "www", "port": "80", "address": "203.0.113.10", "fwmark": "80", "device": "eth0:1"},
        {"protocol": "tcp", "vip_nmask": "255.255.255.0", "scheduler": "wlc"})
    console.add_real_server("www", "real", "192.0.2.1")
    console.add_real_server("www", "real1", "192.0.2.2")
    for name in ("real", "real1"):
        console.toggle_real_server("www", name)
    console.monitoring_scripts("www")
    shots("console-monitoring-scripts.png")
    console.toggle_virtual_server("www")
    shots("console-virtual-servers.png")

    page.locator("#virtual-list tbody tr").first.locator("input[type=radio]").check()
    page.click("#edit")
    page.wait_for_selector("#scheduler")
    shots("console-virtual-server.png")
    page.fill("#address", "203.0.113.300")
    page.fill("#port", "70000")
    page.click("#accept")
    page.wait_for_selector(".field-error")
    shots("console-virtual-server-refused.png")
    page.click("#cancel")
    page.wait_for_load_state()

    console.open_real_servers("www")
    shots("console-real-servers.png")
    page.locator("#real-list tbody tr").first.locator("input[type=radio]").check()
    page.click("#edit")
    page.wait_for_selector("#weight")
    shots("console-real-server.png")

    page.click("#tab-failover")
    page.click("#add")
    page.wait_for_selector("#start_cmd")
    page.fill("#name", "ftp")
    page.fill("#address", "203.0.113.20")
    page.fill("#port", "21")
    page.fill("#start_cmd", "/usr/sbin/vsftpd")
    page.fill("#stop_cmd", "/usr/bin/pkill -x vsftpd")
    shots("console-failover-edit.png")
    page.click("#accept")
    page.wait_for_selector("#failover-list")
    shots("console-failover.png")

    shots.goto(base, "/revisions/", "console-revisions.png")
    page.locator("#revision-list tbody a").nth(1).click()
    page.wait_for_load_state()
    shots("console-revision.png")
    shots.goto(base, "/revisions/disk", "console-lvs-cf-on-disk.png")

    page.click("#tab-tokens")
    page.fill("#token-name", "prometheus")
    page.click("#create-token-button")
    page.wait_for_selector("#token-secret")
    shots("console-tokens.png")

    page.click("#tab-audit")
    shots("console-audit-log.png")
    shots.goto(base, "/password", "console-change-password.png")

    assert sorted(set(PANEL_IMAGES) - set(shots.made)) == []
    written = (ha_dir / "lvs.cf").read_text()
    cfg = lvscf.load(written)
    assert [v.name for v in cfg.virtuals] == ["www"] and cfg.backup == "203.0.113.2"
