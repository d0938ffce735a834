"""The runtime tier on real IPVS: drain/maint from the console and the API, live charts, PREVIEW.

One seed lab (client, director, rs1, rs2), one pulse in the director
namespace and one piranha-gui (gunicorn) beside it reaching pulse over its
runtime socket; chromium (Playwright) drives CONTROL/MONITORING and the
REAL SERVER panel.  Run inside the IPVS guest:
    scripts/ipvs-kernel -- .venv/bin/python -m pytest -m ipvs tests/e2e/test_runtime_tier.py
Tests run in file order and each sets every server READY again.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import launch_in_netns
from tests.support.client import fetch_many
from tests.support.emulation import scaled
from tests.support.netns import in_netns
from tests.support.processes import NsProcess, wait_until
from tests.support.seedpulse import dest_weights, pulse_argv, read_status, seed_lvs_cf
from tests.support.topology import REAL_SERVERS, VIP, SeedTopology

pytestmark = [pytest.mark.ipvs, pytest.mark.timeout(1500)]

BIN = Path(sys.executable).parent
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
PASSWORD = "runtime tier password"
NAMES = {"192.0.2.1": "real", "192.0.2.2": "real1"}          # lvs.cf names of the seed's servers
PAGE = {REAL_SERVERS["rs1"][1]: "192.0.2.1", REAL_SERVERS["rs2"][1]: "192.0.2.2"}
OPS = ("add-service", "set-service", "del-service", "add-dest", "set-dest", "drain-dest", "del-dest",
       "add-address", "del-address", "add-mark", "del-mark")


class Lab:
    """pulse + console in the director namespace, their files and a few helpers."""

    def __init__(self, seed: SeedTopology, work: Path) -> None:
        self.seed, self.work = seed, work
        self.cf, self.rundir = work / "lvs.cf", work / "run"
        self.env = dict(os.environ, PIRANHA_INSTANCE=str(work / "instance"), PIRANHA_LVS_CF=str(self.cf),
                        PIRANHA_PULSE_RUNTIME=str(self.rundir))
        self.env.pop("PIRANHA_DATABASE_URL", None)
        self.env.pop("PIRANHA_SECRET_KEY", None)
        self.pulse: NsProcess | None = None
        self.gui: NsProcess | None = None
        self.base = "http://127.0.0.1:3636"

    def start_pulse(self) -> None:
        argv = pulse_argv(self.cf, self.rundir, "--drain-seconds", "1", "--sample-interval", "1")
        self.pulse = self.seed.start("director", "pulse", argv)

    def stop_pulse(self) -> None:
        assert self.pulse is not None
        self.pulse.stop()

    def status(self) -> dict[str, Any]:
        return read_status(self.rundir)

    def weights(self) -> dict[str, int]:
        """addr -> kernel weight of the VIP's service, from pulse's status."""
        return dest_weights(self.status(), f"TCP {VIP}:80")

    def active(self, addr: str) -> int:
        for svc in self.status().get("table", []):
            for d in svc["dests"]:
                if d["addr"] == addr:
                    return int(d["active_conns"])
        return 0

    def cli(self, *argv: str, stdin: str | None = None) -> str:
        done = subprocess.run(list(argv), input=stdin, env=self.env, capture_output=True, text=True,
                              timeout=scaled(120), check=True)
        return done.stdout

    def api(self, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
        def call() -> tuple[int, Any]:
            data = json.dumps(body).encode() if body is not None else None
            req = urllib.request.Request(self.base + "/api/v1" + path, data=data, method=method,
                                         headers={"Authorization": f"Bearer {token}",
                                                  "Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=scaled(30)) as resp:
                    return resp.status, json.loads(resp.read())
            except urllib.error.HTTPError as err:
                return err.code, json.loads(err.read() or b"{}")
        return in_netns(self.seed.ns("director"), call, timeout=scaled(60))

    def get_text(self, path: str, token: str) -> str:
        def call() -> str:
            req = urllib.request.Request(self.base + path, headers={"Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(req, timeout=scaled(30)) as resp:
                return resp.read().decode()
        return in_netns(self.seed.ns("director"), call, timeout=scaled(60))

    def write_config(self, config: dict[str, Any], serial: int) -> None:
        """lvs.cf from a JSON export, with a new serial (pulse notices the file by itself)."""
        from piranha_web import lvscf
        from piranha_web.convert.jsonfmt import from_dict

        cfg = from_dict(config)
        cfg.serial_no = serial
        tmp = self.cf.with_suffix(".tmp")
        tmp.write_text(lvscf.dumps(cfg))
        tmp.replace(self.cf)

    def pulse_ops_since(self, offset: int) -> list[str]:
        """Operation lines pulse logged after byte ``offset`` of its log, as it logged them."""
        assert self.pulse is not None
        text = self.pulse.log_path.read_bytes()[offset:].decode(errors="replace")
        lines = [line.split(" INFO ", 1)[1] for line in text.splitlines() if " INFO " in line]
        return [line for line in lines if line.split(" ", 1)[0] in OPS]


@pytest.fixture(scope="module")
def lab(seed: SeedTopology, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = Lab(seed, tmp_path_factory.mktemp("runtime"))
    lab.cf.write_text(seed_lvs_cf(1, timeout=0.5, reentry=1))
    lab.start_pulse()
    lab.cli(str(BIN / "piranha-passwd"), "--stdin", stdin=PASSWORD + "\n")
    lab.cli(str(BIN / "piranha-passwd"), "viewer", "--role", "readonly", "--stdin", stdin=PASSWORD + "\n")
    # one worker: every worker imports the app in a slow guest (as the seed scenario); the worker
    # timeout is stretched like every other bound, since an argon2 login is CPU-bound there
    gui = [str(BIN / "piranha-gui"), "--bind", "127.0.0.1:3636", "--workers", "1",
           "--timeout", str(int(scaled(60)))]
    lab.gui = seed.start("director", "gui", gui, env=lab.env)
    try:
        wait_until(lambda: set(lab.weights()) == set(NAMES), timeout=60, what="both real servers in")
        wait_until(lambda: (lab.rundir / "pulse-runtime.sock").exists(), timeout=30, what="runtime socket")
        wait_until(lambda: lab.get_text("/login", ""), timeout=120, interval=1, what="the console to answer")
        yield lab
    finally:
        for proc in (lab.gui, lab.pulse):
            if proc is not None and proc.alive():
                proc.stop()
        keep_logs(lab)


def keep_logs(lab: Lab) -> None:
    """pulse's and the console's logs to test-artifacts/e2e/ (the guest's temp files are gone after it)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for proc, name in ((lab.pulse, "runtime-pulse.log"), (lab.gui, "runtime-gui.log")):
        if proc is not None and proc.log_path.exists():
            shutil.copyfile(proc.log_path, ARTIFACTS / name)


@pytest.fixture(scope="module")
def tokens(lab: Lab) -> dict[str, str]:
    admin = lab.cli(str(BIN / "piranha-config"), "token", "create", "piranha", "--name", "e2e").strip()
    viewer = lab.cli(str(BIN / "piranha-config"), "token", "create", "viewer", "--name", "ro").strip()
    return {"admin": admin, "viewer": viewer}


@pytest.fixture(scope="module")
def browser(lab: Lab) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = launch_in_netns(pw, lab.seed.ns("director"), lab.work)
        try:
            page = chromium.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.set_default_timeout(scaled(60) * 1000)
            page.goto(lab.base + "/login")
            page.fill("#username", "piranha")
            page.fill("#password", PASSWORD)
            page.get_by_role("button", name="Login").click()
            page.wait_for_selector("text=CONTROL/MONITORING")
            yield page
        finally:
            chromium.close()


def ready_all(lab: Lab, token: str) -> None:
    for name in NAMES.values():
        assert lab.api("PUT", f"/runtime/virtual-servers/www/real-servers/{name}", token,
                       {"state": "ready"})[0] == 200
    wait_until(lambda: lab.weights() == {"192.0.2.1": 1, "192.0.2.2": 1}, timeout=30, what="all READY")


def row_cell(page: Any, real: str, css: str) -> str:
    return str(page.locator(f"#health tr:has(td.runtime[data-real='{real}']) td.{css}").inner_text())


def test_drain_from_control_keeps_the_held_connection(lab: Lab, tokens: dict[str, str], browser: Any) -> None:
    held = lab.seed.client_hold_connection()
    addr = PAGE[held.request()]
    other = next(a for a in NAMES if a != addr)
    browser.goto(lab.base + "/")
    browser.locator(f"#health tr:has(td.runtime[data-real='{NAMES[addr]}']) button.runtime-drain").click()
    assert "runtime state DRAIN" in browser.locator(".flash").first.inner_text()
    wait_until(lambda: lab.weights().get(addr) == 0, timeout=30, what="kernel weight 0")

    def shows_weight_zero() -> bool:
        browser.goto(lab.base + "/")
        return (row_cell(browser, NAMES[addr], "kernel-weight") == "0"
                and row_cell(browser, NAMES[addr], "runtime") == "DRAIN")
    wait_until(shows_weight_zero, timeout=30, interval=1, what="weight 0 on CONTROL/MONITORING")
    assert int(row_cell(browser, NAMES[addr], "active-conns")) >= 1
    assert PAGE[held.request()] == addr                      # the established connection lives on
    assert {PAGE[n] for n in fetch_many(lab.seed.ns("client"), f"http://{VIP}/", 4)} == {other}
    held.close()

    def active_gone() -> bool:
        browser.goto(lab.base + "/")
        return row_cell(browser, NAMES[addr], "active-conns") == "0"
    wait_until(active_gone, timeout=60, interval=1, what="its active connections falling to 0")
    browser.screenshot(path=str(lab.work / "control-drained.png"), full_page=True)
    ready_all(lab, tokens["admin"])


def test_chart_shows_traffic_under_a_load_loop(lab: Lab, tokens: dict[str, str], browser: Any) -> None:
    stop = threading.Event()

    def load() -> None:
        for _ in range(2000):                                  # bounded; stopped by the test
            if stop.is_set():
                return
            fetch_many(lab.seed.ns("client"), f"http://{VIP}/", 5)
            time.sleep(0.1)

    loop = threading.Thread(target=load, daemon=True)
    loop.start()
    try:
        browser.goto(lab.base + "/")
        chart = browser.locator("figure.traffic-virtual[data-virtual='www'] .charts .chart-cps")

        def nonzero_in_place() -> bool:                        # the static script swaps the charts in place
            return (float(chart.get_attribute("data-peak") or 0) > 0
                    and bool(browser.locator("#traffic").get_attribute("data-updated")))
        wait_until(nonzero_in_place, timeout=90, interval=1,
                   what="a non-zero connections/s chart, updated without a reload")
        assert chart.locator("polyline").count() == 1
    finally:
        stop.set()
        loop.join(scaled(60))
    metrics = lab.get_text("/metrics", tokens["admin"])
    counted = re.search(r'piranha_ipvs_connections_total\{real="real",virtual="www"\} ([0-9.e+]+)', metrics)
    assert counted and float(counted.group(1)) > 0, metrics[-3000:]


def test_preview_lists_the_ops_pulse_then_applies(lab: Lab, browser: Any) -> None:
    browser.goto(lab.base + "/virtual/")
    browser.get_by_label("select www").check()
    browser.click("#edit")
    browser.click("#subtab-real")
    browser.get_by_label("select real1").check()
    browser.click("#edit")
    edit_url = browser.url
    browser.fill("#weight", "3")
    browser.click("#preview-button")
    ops = [li.inner_text() for li in browser.locator("#preview-ops li").all()]
    assert ops == [f"set-dest TCP {VIP}:80 -> 192.0.2.2:80 nat weight 3"], ops
    assert "+\t\tweight = 3" in browser.locator("#preview-diff").inner_text()
    assert lab.weights()["192.0.2.2"] == 1                       # nothing applied by PREVIEW
    offset = lab.pulse.log_path.stat().st_size if lab.pulse else 0
    browser.click("#accept")
    wait_until(lambda: lab.weights().get("192.0.2.2") == 3, timeout=30, what="pulse applied the change")
    assert lab.pulse_ops_since(offset) == ops
    browser.goto(edit_url)
    browser.fill("#weight", "1")
    browser.click("#accept")
    wait_until(lambda: lab.weights().get("192.0.2.2") == 1, timeout=30, what="weight back to 1")


def test_api_preview_matches_pulse_log(lab: Lab, tokens: dict[str, str]) -> None:
    status, config = lab.api("GET", "/config", tokens["admin"])
    assert status == 200
    config["virtuals"][0]["servers"] = [s for s in config["virtuals"][0]["servers"] if s["name"] != "real1"]
    status, preview = lab.api("POST", "/preview", tokens["admin"], config)
    assert status == 200, preview
    assert preview["ops"] == [f"drain-dest TCP {VIP}:80 -> 192.0.2.2:80 nat weight 0"]
    offset = lab.pulse.log_path.stat().st_size if lab.pulse else 0
    _, original = lab.api("GET", "/config", tokens["admin"])
    lab.write_config(config, 90)
    wait_until(lambda: "192.0.2.2" not in lab.weights(), timeout=30, what="real1 drained then deleted")
    logged = lab.pulse_ops_since(offset)
    assert logged[:1] == preview["ops"], logged
    lab.write_config(original, 91)
    wait_until(lambda: set(lab.weights()) == set(NAMES), timeout=60, what="real1 back")


def test_maint_removes_after_the_drain_and_readonly_is_refused(lab: Lab, tokens: dict[str, str]) -> None:
    path = "/runtime/virtual-servers/www/real-servers/{}"
    held = lab.seed.client_hold_connection()
    addr = PAGE[held.request()]
    name = NAMES[addr]
    status, body = lab.api("PUT", path.format(name), tokens["viewer"], {"state": "maint"})
    assert status == 403, body
    assert lab.api("GET", path.format(name), tokens["viewer"])[1]["display"] == "READY"
    status, body = lab.api("PUT", path.format(name), tokens["admin"], {"state": "maint"})
    assert status == 200 and body["display"] == "MAINT"
    wait_until(lambda: lab.weights().get(addr) == 0, timeout=30, what="weight 0 while connections remain")
    time.sleep(scaled(3))
    assert lab.weights().get(addr) == 0 and lab.active(addr) >= 1     # still draining: not removed yet
    assert PAGE[held.request()] == addr
    held.close()
    wait_until(lambda: addr not in lab.weights(), timeout=60, what="removed once drained")
    assert lab.api("PUT", path.format(name), tokens["admin"], {"state": "bogus"})[0] == 422
    ready_all(lab, tokens["admin"])


def test_states_survive_a_pulse_restart(lab: Lab, tokens: dict[str, str]) -> None:
    status, _ = lab.api("PUT", "/runtime/virtual-servers/www/real-servers/real1", tokens["admin"],
                        {"weight": "300%"})
    assert status == 200
    wait_until(lambda: lab.weights().get("192.0.2.2") == 3, timeout=30, what="weight 300%")
    lab.stop_pulse()
    lab.start_pulse()
    wait_until(lambda: lab.status().get("state") == "running" and set(lab.weights()) == set(NAMES),
               timeout=60, what="pulse back")
    assert lab.weights()["192.0.2.2"] == 3
    status, body = lab.api("GET", "/runtime/virtual-servers/www/real-servers/real1", tokens["admin"])
    assert status == 200 and body["display"] == "WEIGHT 300%"
    ready_all(lab, tokens["admin"])
