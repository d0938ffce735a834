"""The seed article's experiment, end to end, through the product's entry points.

Hanbit 2003 ("LVS with Piranha on Red Hat AS 2.1"), replayed in namespaces
(addresses mapped to TEST-NET, see tests/support/topology.py):

1. ``piranha-passwd --stdin`` sets the console password;
   ``piranha-gui --bind 127.0.0.1:3636`` runs in the director namespace.
2. A browser in the director namespace logs in and configures GLOBAL
   SETTINGS (NAT, NAT router 192.0.2.254/24 on eth1:1), the virtual server
   ``www`` (203.0.113.10 on eth0:1, port 80, fwmark 80, rr) with real servers
   192.0.2.1 and 192.0.2.2, activates everything, ACCEPT on each panel.
3. ``pulse -n --backend ipvs`` starts; it brings up eth0:1/eth1:1, the MARK
   rule and the IPVS service (nothing is configured by hand).
4. A browser in the client namespace ("samba") loads http://203.0.113.10/
   and refreshes 4 times: the two real servers' pages alternate.
   CONTROL/MONITORING shows both real servers up and the table with
   connections.
5. Afterword, improved: scheduler wrr with weights 3 and 1 is ACCEPTed while
   pulse keeps running (same pid, no restart); 8 requests split 6:2 and a TCP
   connection opened before the change keeps working.
6. One real server is stopped: the console shows it down and requests go to
   the other.

piranha-gui and pulse run with the product's default lvs.cf path: each in a
private mount namespace where /etc/sysconfig/ha is the scenario's directory
(tests/support/sysconfig_ns.py), so the console shows /etc/sysconfig/ha/lvs.cf.
Screenshots of each step go to test-artifacts/e2e/; CONTROL/MONITORING with
real IPVS data is also saved under test-artifacts/e2e/docs/ (after checking
that the page shows no temporary path), and copied to docs/ when
PIRANHA_E2E_DOCS=1 (how docs/console-control-monitoring.png was made; the
other panels' images come from tests/docs/test_panel_screenshots.py).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.support.browser import launch_in_netns
from tests.support.client import page_name
from tests.support import docshots, sysconfig_ns
from tests.support.console import Console
from tests.support.emulation import scaled
from tests.support.ipvs_runner import require_ipvs
from tests.support.marks import has_mark_rule, mark_rules
from tests.support.processes import NsProcess, wait_until
from tests.support.topology import (CLIENT_IP, DIRECTOR_PUBLIC_IP, NAT_ROUTER_IP, REAL_SERVERS, VIP,
                                    SeedTopology, seed_topology)

pytestmark = [pytest.mark.ipvs, pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
BIN = Path(sys.executable).parent
USER, PASSWORD = "piranha", "gnomernd-lvs-2003"
CONSOLE = "127.0.0.1:3636"
RS1, RS2 = REAL_SERVERS["rs1"], REAL_SERVERS["rs2"]  # (address, page text)


class Scenario:
    """State shared by the steps: lab, instance dir, processes, log."""

    def __init__(self, lab: SeedTopology, workdir: Path) -> None:
        self.lab = lab
        self.instance = workdir / "instance"
        self.instance.mkdir()
        self.ha_dir = workdir / "sysconfig-ha"  # /etc/sysconfig/ha as piranha-gui and pulse see it
        self.lvs_cf = self.ha_dir / "lvs.cf"
        self.scratch = workdir
        self.env = dict(os.environ, PIRANHA_INSTANCE=str(self.instance))
        self.env.pop("PIRANHA_LVS_CF", None)
        self.env.pop("PIRANHA_DATABASE_URL", None)
        self.env.pop("PIRANHA_PULSE_RUNTIME", None)
        self.t0 = time.monotonic()
        shutil.rmtree(ARTIFACTS, ignore_errors=True)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.logfile = open(ARTIFACTS / "scenario.log", "w")
        self.gui: NsProcess | None = None
        self.pulse: NsProcess | None = None

    def log(self, text: str) -> None:
        """Timestamped line to stdout (shown by pytest) and test-artifacts/e2e/scenario.log."""
        line = f"[{time.monotonic() - self.t0:7.1f}s] {text}"
        print(line, flush=True)
        self.logfile.write(line + "\n")
        self.logfile.flush()

    def status(self) -> dict[str, Any]:
        """pulse's status document (empty dict until it exists)."""
        try:
            return json.loads((self.instance / "pulse-status.json").read_text())
        except (OSError, ValueError):
            return {}

    def dests(self) -> dict[str, dict[str, Any]]:
        """Destinations of the fwmark-80 service in pulse's status, by address."""
        for svc in self.status().get("table", []):
            if svc.get("fwmark") == 80:
                return {d["addr"]: d for d in svc.get("dests", [])}
        return {}

    def scheduler(self) -> str | None:
        """Scheduler of the fwmark-80 service in pulse's status."""
        for svc in self.status().get("table", []):
            if svc.get("fwmark") == 80:
                return svc.get("scheduler")
        return None

    def director(self, argv: list[str]) -> str:
        """Output of a command run in the director namespace (ipvsadm, iptables, ip)."""
        return self.lab.run("director", argv, timeout=30).stdout


@pytest.fixture
def scenario(tmp_path: Path) -> Iterator[Scenario]:
    """The seed lab with its two real servers; everything torn down afterwards."""
    require_ipvs()
    with seed_topology(tmp_path / "lab") as lab:
        sc = Scenario(lab, tmp_path)
        try:
            yield sc
        finally:
            for name, proc in (("pulse", sc.pulse), ("piranha-gui", sc.gui)):
                if proc is not None:
                    sc.log(f"{name} log tail:\n{proc.log_text(3000)}")
            sc.logfile.close()
            for log in (lab.workdir / "logs").glob("*.log"):
                shutil.copy(log, ARTIFACTS / log.name)


@pytest.fixture
def playwright_instance() -> Iterator[Any]:
    """One Playwright driver for the test (both browsers hang off it)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.mark.timeout(900)
def test_seed_article_scenario(scenario: Scenario, playwright_instance: Any) -> None:
    sc = scenario
    sc.log(f"lab up: client {CLIENT_IP}, director {DIRECTOR_PUBLIC_IP}/{sc.lab.director_private_ip}, "
           f"rs1 {RS1[0]}, rs2 {RS2[0]} (namespaces {sc.lab.prefix}*)")
    console = start_console_and_configure(sc, playwright_instance)       # article steps 1-4
    # the client's browser starts (and warms up) before pulse: its cold start
    # saturates the guest's one CPU for seconds, which could make a 6 s health
    # check time out; afterwards page loads are light
    client_page = client_browser_warm(sc, playwright_instance)
    pulse_pid = start_pulse(sc)                                           # steps 5-11
    client_refreshes_alternate(sc, client_page)                           # step 12
    control_shows_both_up_with_connections(sc, console)
    afterword_wrr_without_restart(sc, console, pulse_pid)                 # step 13, improved
    failed_server_is_taken_out(sc, console)
    assert sc.pulse.alive() and sc.gui.alive()  # type: ignore[union-attr]
    sc.log("scenario complete")


# -- steps ------------------------------------------------------------------
def start_console_and_configure(sc: Scenario, playwright: Any) -> Console:
    """piranha-passwd, piranha-gui, then the whole configuration in the director's browser."""
    lab = sc.lab
    done = lab.run("director", [str(BIN / "piranha-passwd"), "--stdin", USER], env=sc.env,
                   input=PASSWORD + "\n", timeout=120)
    sc.log(f"piranha-passwd: {done.stdout.strip()}")
    # one worker: every worker imports the app in a slow guest; its timeout stretches like every
    # other bound there (an argon2 login is CPU-bound)
    sc.gui = lab.start("director", "piranha-gui", sysconfig_ns.command(
        sc.ha_dir, [str(BIN / "piranha-gui"), "--bind", CONSOLE, "--workers", "1",
                    "--timeout", str(int(scaled(60)))]), env=sc.env)
    start = time.monotonic()
    browser = launch_in_netns(playwright, lab.ns("director"), lab.workdir)
    sc.log(f"chromium up in the director namespace ({time.monotonic() - start:.1f}s, "
           "while piranha-gui starts)")
    wait_console(sc)
    page = browser.new_page(viewport={"width": 1000, "height": 620})
    console = Console(page, f"http://{CONSOLE}", ARTIFACTS / "shots", log=sc.log,
                      forbidden=docshots.scratch_markers(sc.scratch))
    configure_seed(console)
    check_lvs_cf(sc)
    return console


def start_pulse(sc: Scenario) -> int:
    """``pulse -n --backend ipvs``; wait for both real servers; check what it set up."""
    sc.pulse = sc.lab.start("director", "pulse", sysconfig_ns.command(
        sc.ha_dir, [str(BIN / "pulse"), "-n", "--backend", "ipvs"]), env=sc.env)
    wait_until(lambda: set(sc.dests()) == {RS1[0], RS2[0]} or pulse_died(sc), timeout=90,
               interval=0.5, what="pulse to put both real servers in the IPVS table")
    pid = int(sc.status()["pid"])
    sc.log(f"pulse running, pid {pid}; status table: {sc.dests()}")
    check_director_state(sc)
    return pid


def client_refreshes_alternate(sc: Scenario, page: Any) -> None:
    """The client loads http://VIP/ and refreshes 4 times: the two pages alternate."""
    pages = []
    for i in range(5):
        start = time.monotonic()
        if i == 0:
            page.goto(f"http://{VIP}/")
        else:
            page.reload()
        pages.append(page_name(page.content()))
        page.screenshot(path=str(ARTIFACTS / "shots" / f"client-load-{i}.png"))
        sc.log(f"client browser {'load' if i == 0 else 'refresh'} {i}: {pages[-1]!r} "
               f"({time.monotonic() - start:.1f}s)")
    assert set(pages) == {RS1[1], RS2[1]} and all(a != b for a, b in zip(pages, pages[1:])), \
        f"pages do not alternate: {pages}; pulse log:\n{sc.pulse.log_text(1500)}"  # type: ignore[union-attr]


def control_shows_both_up_with_connections(sc: Scenario, console: Console) -> None:
    """CONTROL/MONITORING: pulse running, both UP, the FWM 80 table with connections."""
    control = wait_control(sc, console, lambda c: all(c["health"].get(a) == "UP" for a in (RS1[0], RS2[0])),
                           "both real servers UP")
    sc.log(f"CONTROL/MONITORING: daemon {control['daemon']!r}\n{control['table']}")
    assert "running" in control["daemon"] and re.search(r"FWM\s+80\s+rr", control["table"]), control
    # the console shows ActiveConn/InActConn (closed ones expire after a while);
    # the kernel's cumulative counters must cover the 5 page loads
    assert table_connections(control["table"]) >= 1, control["table"]
    stats = sc.director(["ipvsadm", "-Ln", "--stats"])
    sc.log(f"ipvsadm -Ln --stats:\n{stats}")
    assert dest_conns(stats) >= 5
    docshots.capture(console.page, ARTIFACTS / "docs", "console-control-monitoring.png", console.forbidden)
    console.open_virtual_servers()
    console.shot("virtual-servers")
    console.open_real_servers("www")
    console.shot("real-server")


def afterword_wrr_without_restart(sc: Scenario, console: Console, pulse_pid: int) -> None:
    """wrr 3:1 ACCEPTed while pulse runs: same pid, 6:2 split, a held connection survives."""
    with sc.lab.client_hold_connection() as held:
        before = held.request()
        sc.log(f"held connection {held.local} -> {VIP}:80 served by {before!r}")
        console.edit_virtual_server("www", {}, {"scheduler": "wrr"})
        console.set_real_weight("www", "real", 3)
        console.set_real_weight("www", "real1", 1)
        console.shot("real-server-wrr")
        wait_until(lambda: sc.scheduler() == "wrr" and {a: d["weight"] for a, d in sc.dests().items()}
                   == {RS1[0]: 3, RS2[0]: 1} or pulse_died(sc),
                   timeout=60, interval=0.5, what="pulse to apply wrr 3:1")
        pulse: Any = sc.pulse
        assert sc.status()["pid"] == pulse_pid and pulse.alive(), "pulse was restarted"
        assert (sc.instance / "pulse.pid").read_text().strip() == str(pulse_pid)
        sc.log(f"pulse reloaded in place (pid {pulse_pid}):\n{sc.director(['ipvsadm', '-Ln'])}")
        names = sc.lab.client_fetch_many(8)
        split = Counter(names)
        sc.log(f"8 requests with wrr 3:1: {names} -> {dict(split)}")
        assert split == {RS1[1]: 6, RS2[1]: 2}, split
        after = held.request()
        sc.log(f"held connection after the reload: still open, served by {after!r}")
        assert after == before


def failed_server_is_taken_out(sc: Scenario, console: Console) -> None:
    """Stop rs2's web server: the console shows it DOWN and requests go to rs1."""
    sc.lab.stop_real_server("rs2")
    sc.log("stopped rs2's web server")
    control = wait_control(sc, console, lambda c: c["health"] == {RS1[0]: "UP", RS2[0]: "DOWN"},
                           "rs1 UP, rs2 DOWN")
    sc.log(f"CONTROL/MONITORING after the failure: health {control['health']}\n{control['table']}")
    console.shot("control-rs2-down", full_page=True)
    names = sc.lab.client_fetch_many(4)
    sc.log(f"4 requests with rs2 down: {names}")
    assert names == [RS1[1]] * 4


def wait_console(sc: Scenario) -> None:
    """Wait until piranha-gui answers its login page inside the director namespace."""
    from tests.support.client import fetch

    def up() -> bool:
        if not sc.gui.alive():  # type: ignore[union-attr]
            raise AssertionError(f"piranha-gui exited:\n{sc.gui.log_text()}")  # type: ignore[union-attr]
        return "username" in fetch(sc.lab.ns("director"), f"http://{CONSOLE}/login", timeout=10)

    start = time.monotonic()
    wait_until(up, timeout=120, interval=0.5, what="piranha-gui to serve /login")
    sc.log(f"piranha-gui serving on {CONSOLE} ({time.monotonic() - start:.1f}s)")


def configure_seed(console: Console) -> None:
    """Article step 4: the whole configuration, panel by panel, ACCEPT on each."""
    console.login(USER, PASSWORD)
    console.global_settings(primary=DIRECTOR_PUBLIC_IP, nat_router=NAT_ROUTER_IP,
                            nat_nmask="255.255.255.0", nat_router_device="eth1:1")
    console.add_virtual_server(
        {"name": "www", "port": "80", "address": VIP, "fwmark": "80", "device": "eth0:1"},
        {"protocol": "tcp", "vip_nmask": "255.255.255.0", "scheduler": "rr"})
    console.add_real_server("www", "real", RS1[0])
    console.add_real_server("www", "real1", RS2[0])
    for name in ("real", "real1"):
        assert console.toggle_real_server("www", name) == "up"
    console.monitoring_scripts("www")
    assert console.toggle_virtual_server("www") == "up"


def client_browser_warm(sc: Scenario, playwright: Any) -> Any:
    """Launch chromium in the client namespace and warm its renderer and network stack."""
    start = time.monotonic()
    browser = launch_in_netns(playwright, sc.lab.ns("client"), sc.lab.workdir)
    page = browser.new_page(viewport={"width": 640, "height": 240})
    page.set_default_timeout(60_000)
    page.set_default_navigation_timeout(60_000)
    page.goto("data:text/html,<h1>samba</h1>")
    try:  # a closed port on the client itself: refused at once, but the network stack is up
        page.goto(f"http://{CLIENT_IP}:9/", timeout=20_000)
    except Exception:  # noqa: BLE001 - the error page is expected
        pass
    sc.log(f"chromium up and warm in the client namespace ({time.monotonic() - start:.1f}s)")
    return page


def check_lvs_cf(sc: Scenario) -> None:
    """The console wrote the article's lvs.cf (read back with the product's parser)."""
    from piranha_web import lvscf

    text = sc.lvs_cf.read_text()
    sc.log(f"lvs.cf written by the console:\n{text}")
    cfg = lvscf.load(text)
    assert cfg.network == "nat"
    (vs,) = cfg.virtuals
    assert (vs.name, vs.address, vs.device, vs.port, vs.fwmark, vs.scheduler, vs.active) == \
        ("www", VIP, "eth0:1", 80, 80, "rr", True)
    assert sorted((s.address, s.active, s.weight) for s in vs.servers) == \
        [(RS1[0], True, 1), (RS2[0], True, 1)]


def check_director_state(sc: Scenario) -> None:
    """Article steps 6/9/11: pulse brought up eth0:1, eth1:1, the MARK rule and the service."""
    addrs = sc.director(["ip", "-4", "-o", "addr", "show"])
    sc.log(f"director addresses:\n{addrs}")
    assert f"inet {VIP}/24" in addrs and "eth0:1" in addrs
    assert f"inet {NAT_ROUTER_IP}/24" in addrs and "eth1:1" in addrs
    marks = mark_rules(lambda argv: sc.director(list(argv)))
    sc.log(f"pulse's mark rules (iptables-save -t mangle, nft):\n{marks}")
    assert has_mark_rule(marks, VIP, 80, 0x50)
    table = sc.director(["ipvsadm", "-Ln"])
    sc.log(f"ipvsadm -Ln:\n{table}")
    assert re.search(r"FWM\s+80\s+rr", table) and f"{RS1[0]}:80" in table and f"{RS2[0]}:80" in table
    assert "Masq" in table


def wait_control(sc: Scenario, console: Console, ready: Any, what: str) -> dict[str, Any]:
    """Reload CONTROL/MONITORING until *ready(state)*; bounded (60 s)."""
    box: dict[str, Any] = {}

    def check() -> bool:
        box["state"] = console.control()
        return bool(ready(box["state"])) or bool(pulse_died(sc))

    wait_until(check, timeout=60, interval=1.0, what=f"CONTROL/MONITORING to show {what}")
    return box["state"]


def table_connections(table: str) -> int:
    """Sum of ActiveConn + InActConn over the destination lines of the shown table."""
    total = 0
    for line in table.splitlines():
        parts = line.split()
        if parts[:1] == ["->"] and len(parts) >= 6 and parts[-1].isdigit() and parts[-2].isdigit():
            total += int(parts[-1]) + int(parts[-2])
    return total


def dest_conns(stats: str) -> int:
    """Sum of the Conns column over the destination lines of ``ipvsadm -Ln --stats``."""
    total = 0
    for line in stats.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "->" and parts[2].isdigit():
            total += int(parts[2])
    return total


def pulse_died(sc: Scenario) -> bool:
    """Raise with pulse's log when it has exited (ends waits early)."""
    if sc.pulse is not None and not sc.pulse.alive():
        raise AssertionError(f"pulse exited ({sc.pulse.popen.returncode}):\n{sc.pulse.log_text()}")
    return False
