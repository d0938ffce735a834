"""A real browser against a real console: chromium (Playwright) -> piranha-gui (gunicorn) -> lvs.cf.

The scenario of issue 4: log in, GLOBAL SETTINGS (NAT, NAT Router IP
192.0.2.254 on eth1:1), a virtual server www (203.0.113.10 on eth0:1, port
80, firewall mark 80, round robin) with two real servers, everything
activated; the written lvs.cf must pass ``piranha-config check``.
Screenshots of every step go to ``test-artifacts/`` (gitignored).  The
console runs on its default ``/etc/sysconfig/ha/lvs.cf`` (a private mount
namespace, tests/support/sysconfig_ns.py) and no screenshot may show a
temporary path.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from piranha_web import lvscf
from tests.support import docshots
from tests.support.gui import chromium_page, default_path_console

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
BIN = Path(sys.executable).parent
PASSWORD = "browser test password"


@pytest.fixture
def console_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """piranha-gui on a free 127.0.0.1 port, on a tmp instance, with a password set first."""
    with default_path_console(tmp_path, PASSWORD) as (url, ha_dir):
        yield url, ha_dir / "lvs.cf"


@pytest.fixture
def page() -> Iterator[object]:
    """A fresh chromium page (Debian's /usr/bin/chromium)."""
    ARTIFACTS.mkdir(exist_ok=True)
    with chromium_page({"width": 1280, "height": 900}) as tab:
        yield tab


def _shot(page: object, name: str) -> None:
    docshots.assert_clean(page, docshots.scratch_markers())
    page.screenshot(path=str(ARTIFACTS / f"console-{name}.png"), full_page=True)  # type: ignore[attr-defined]


def _flash(page: object) -> str:
    return page.locator(".flash").first.inner_text()  # type: ignore[attr-defined]


def _activate(page: object, name: str) -> None:
    page.get_by_label(f"select {name}").check()  # type: ignore[attr-defined]
    page.click("#toggle")  # type: ignore[attr-defined]
    assert "revision" in _flash(page), _flash(page)


def test_configure_the_seed_scenario_in_a_browser(console_server, page) -> None:
    base, lvs_cf = console_server
    page.goto(base + "/")
    assert "/login" in page.url  # deny by default
    page.fill("#username", "piranha")
    page.fill("#password", PASSWORD)
    _shot(page, "01-login")
    page.get_by_role("button", name="Login").click()
    page.wait_for_selector("text=CONTROL/MONITORING")
    _shot(page, "02-control")

    page.click("#tab-settings")
    page.check("#network_nat")
    page.fill("#nat_router", "192.0.2.254")
    page.fill("#nat_router_device", "eth1:1")
    page.click("#accept")
    assert "revision 1" in _flash(page)
    _shot(page, "03-global-settings")

    page.click("#tab-virtual")
    page.click("#add")
    page.fill("#name", "www")
    page.fill("#address", "203.0.113.10")
    page.fill("#device", "eth0:1")
    page.fill("#port", "80")
    page.fill("#fwmark", "80")
    page.select_option("#scheduler", "rr")
    _shot(page, "04-virtual-server")
    page.click("#accept")
    assert "revision 2" in _flash(page)

    page.click("#subtab-real")
    for name, address in (("rs1", "192.0.2.1"), ("rs2", "192.0.2.2")):
        page.click("#add")
        page.fill("#name", name)
        page.fill("#address", address)
        page.click("#accept")
        assert "revision" in _flash(page)
    for name in ("rs1", "rs2"):
        _activate(page, name)
    _shot(page, "05-real-servers")
    assert page.locator("#real-list td.status", has_text="up").count() == 2

    page.click("#tab-virtual")
    _activate(page, "www")
    _shot(page, "06-virtual-servers")
    row = page.locator("#virtual-list tbody tr").first.inner_text()
    assert re.search(r"up\s+www\s+203\.0\.113\.10", row), row

    check = subprocess.run([str(BIN / "piranha-config"), "check", str(lvs_cf)], capture_output=True,
                           text=True, timeout=60)
    assert check.returncode == 0, check.stderr
    cfg = lvscf.load(lvs_cf.read_text())
    vs = cfg.virtual("www")
    assert (cfg.network, cfg.nat_router, cfg.nat_router_device) == ("nat", "192.0.2.254", "eth1:1")
    assert (vs.active, vs.address, vs.device, vs.port, vs.fwmark, vs.scheduler) == \
        (True, "203.0.113.10", "eth0:1", 80, 80, "rr")
    assert [(s.address, s.active) for s in vs.servers] == [("192.0.2.1", True), ("192.0.2.2", True)]

    page.click("#tab-revisions")
    assert page.locator("#revision-7").count() == 1
    _shot(page, "07-revisions")
