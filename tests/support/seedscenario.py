"""The seed article's scenario through the product's entry points, in either family: the shared steps.

The seed lab (tests/support/topology.py) in one family; in its director
namespace ``piranha-passwd``, ``piranha-gui`` and ``pulse -n --backend ipvs``
with the product's default lvs.cf path (each in a private mount namespace
where /etc/sysconfig/ha is the scenario's directory,
tests/support/sysconfig_ns.py); a chromium in the director namespace for the
console and one in the client's for the article's refreshes.  The e2e tests
(tests/e2e/test_seed_article*.py) add the family's own configuration and
checks; everything they share is here so each runs the same harness.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from . import docshots, sysconfig_ns
from .browser import launch_in_netns
from .client import fetch, page_name
from .console import Console
from .emulation import scaled
from .ipvs_runner import require_ipvs
from .processes import NsProcess, wait_until
from .seedpulse import read_status
from .topology import PAGES, AddressPlan, SeedTopology, seed_topology, url_host

BIN = Path(sys.executable).parent
USER, PASSWORD = "piranha", "gnomernd-lvs-2003"
CONSOLE = "127.0.0.1:3636"
CONTROL_TIMEOUT = 60


class Scenario:
    """State shared by the steps: lab, instance dir, processes, log, artifacts directory."""

    def __init__(self, lab: SeedTopology, workdir: Path, artifacts: Path) -> None:
        self.lab = lab
        self.plan: AddressPlan = lab.plans[0]
        self.artifacts = artifacts
        self.instance = workdir / "instance"
        self.instance.mkdir()
        self.ha_dir = workdir / "sysconfig-ha"  # /etc/sysconfig/ha as piranha-gui and pulse see it
        self.lvs_cf = self.ha_dir / "lvs.cf"
        self.scratch = workdir
        self.env = dict(os.environ, PIRANHA_INSTANCE=str(self.instance))
        for name in ("PIRANHA_LVS_CF", "PIRANHA_DATABASE_URL", "PIRANHA_PULSE_RUNTIME"):
            self.env.pop(name, None)
        self.t0 = time.monotonic()
        shutil.rmtree(artifacts, ignore_errors=True)
        artifacts.mkdir(parents=True, exist_ok=True)
        self.logfile = open(artifacts / "scenario.log", "w")
        self.gui: NsProcess | None = None
        self.pulse: NsProcess | None = None

    def log(self, text: str) -> None:
        """Timestamped line to stdout (shown by pytest) and the artifacts' scenario.log."""
        line = f"[{time.monotonic() - self.t0:7.1f}s] {text}"
        print(line, flush=True)
        self.logfile.write(line + "\n")
        self.logfile.flush()

    def status(self) -> dict[str, Any]:
        """pulse's status document (empty dict until it exists)."""
        return read_status(self.instance)

    def service(self, name: str) -> dict[str, Any]:
        """The service called *name* (``FWM 80``, ``TCP [2001:db8:10::10]:80``) in pulse's status, or {}."""
        for svc in self.status().get("table", []):
            if svc.get("service") == name:
                return dict(svc)
        return {}

    def dests(self, service: str) -> dict[str, dict[str, Any]]:
        """Destinations of *service* in pulse's status, by address."""
        return {d["addr"]: d for d in self.service(service).get("dests", [])}

    def director(self, argv: list[str]) -> str:
        """Output of a command run in the director namespace (ipvsadm, iptables, ip)."""
        return self.lab.run("director", argv, timeout=30).stdout

    def pulse_died(self) -> bool:
        """Raise with pulse's log when it has exited (ends waits early)."""
        if self.pulse is not None and not self.pulse.alive():
            raise AssertionError(f"pulse exited ({self.pulse.popen.returncode}):\n{self.pulse.log_text()}")
        return False

    def wait_dests(self, service: str, addrs: set[str], what: str) -> None:
        """Wait until pulse's status shows *service* with the destinations *addrs*."""
        wait_until(lambda: set(self.dests(service)) == addrs or self.pulse_died(), timeout=90,
                   interval=0.5, what=what)


@contextlib.contextmanager
def seed_scenario(workdir: Path, artifacts: Path, plans: Sequence[AddressPlan]) -> Iterator[Scenario]:
    """The seed lab in *plans*' family with both real servers serving; logs kept in *artifacts*."""
    require_ipvs()
    with seed_topology(workdir / "lab", plans=plans) as lab:
        sc = Scenario(lab, workdir, artifacts)
        try:
            yield sc
        finally:
            for name, proc in (("pulse", sc.pulse), ("piranha-gui", sc.gui)):
                if proc is not None:
                    sc.log(f"{name} log tail:\n{proc.log_text(3000)}")
            sc.logfile.close()
            for log in (lab.workdir / "logs").glob("*.log"):
                shutil.copy(log, artifacts / log.name)


def start_console(sc: Scenario, playwright: Any) -> Console:
    """piranha-passwd, piranha-gui and a logged-in console page in the director namespace."""
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
    console = Console(page, f"http://{CONSOLE}", sc.artifacts / "shots", log=sc.log,
                      forbidden=docshots.scratch_markers(sc.scratch))
    console.login(USER, PASSWORD)
    return console


def wait_console(sc: Scenario) -> None:
    """Wait until piranha-gui answers its login page inside the director namespace."""
    def up() -> bool:
        if not sc.gui.alive():  # type: ignore[union-attr]
            raise AssertionError(f"piranha-gui exited:\n{sc.gui.log_text()}")  # type: ignore[union-attr]
        return "username" in fetch(sc.lab.ns("director"), f"http://{CONSOLE}/login", timeout=10)

    start = time.monotonic()
    wait_until(up, timeout=120, interval=0.5, what="piranha-gui to serve /login")
    sc.log(f"piranha-gui serving on {CONSOLE} ({time.monotonic() - start:.1f}s)")


def client_browser_warm(sc: Scenario, playwright: Any) -> Any:
    """Launch chromium in the client namespace and warm its renderer and network stack.

    Started before pulse: its cold start saturates the guest's CPU for
    seconds, which could make a health check time out; later page loads are
    light.
    """
    start = time.monotonic()
    browser = launch_in_netns(playwright, sc.lab.ns("client"), sc.lab.workdir)
    page = browser.new_page(viewport={"width": 640, "height": 240})
    page.set_default_timeout(60_000)
    page.set_default_navigation_timeout(60_000)
    page.goto("data:text/html,<h1>samba</h1>")
    try:  # a closed port on the client itself: refused at once, but the network stack is up
        page.goto(f"http://{url_host(sc.plan.client)}:9/", timeout=20_000)
    except Exception:  # noqa: BLE001 - the error page is expected
        pass
    sc.log(f"chromium up and warm in the client namespace ({time.monotonic() - start:.1f}s)")
    return page


def start_pulse(sc: Scenario, service: str, addrs: set[str]) -> int:
    """``pulse -n --backend ipvs``; wait until *service* has the real servers *addrs*; returns pulse's pid."""
    sc.pulse = sc.lab.start("director", "pulse", sysconfig_ns.command(
        sc.ha_dir, [str(BIN / "pulse"), "-n", "--backend", "ipvs"]), env=sc.env)
    sc.wait_dests(service, addrs, "pulse to put both real servers in the IPVS table")
    pid = int(sc.status()["pid"])
    sc.log(f"pulse running, pid {pid}; status table: {sc.dests(service)}")
    return pid


def client_refreshes_alternate(sc: Scenario, page: Any, loads: int, *, vip: str | None = None,
                               reload_only: bool = False, tag: str = "client") -> list[str]:
    """The client loads http://VIP/ (or, *reload_only*, refreshes what it shows) *loads* times:
    the two real servers' pages alternate.  *vip*: the first plan's unless given."""
    pages: list[str] = []
    for i in range(loads):
        start = time.monotonic()
        first = i == 0 and not reload_only
        if first:
            page.goto(f"http://{url_host(vip or sc.plan.vip)}/")
        else:
            page.reload()
        pages.append(page_name(page.content()))
        page.screenshot(path=str(sc.artifacts / "shots" / f"{tag}-load-{i}.png"))
        sc.log(f"client browser {'load' if first else 'refresh'} {i}: {pages[-1]!r} "
               f"({time.monotonic() - start:.1f}s)")
    assert set(pages) == set(PAGES.values()) and all(a != b for a, b in zip(pages, pages[1:])), \
        f"pages do not alternate: {pages}; pulse log:\n{sc.pulse.log_text(1500)}"  # type: ignore[union-attr]
    return pages


def wait_control(sc: Scenario, console: Console, ready: Callable[[dict[str, Any]], Any],
                 what: str) -> dict[str, Any]:
    """Reload CONTROL/MONITORING until *ready(state)*; bounded."""
    box: dict[str, Any] = {}

    def check() -> bool:
        box["state"] = console.control()
        return bool(ready(box["state"])) or sc.pulse_died()

    wait_until(check, timeout=CONTROL_TIMEOUT, interval=1.0, what=f"CONTROL/MONITORING to show {what}")
    return box["state"]
