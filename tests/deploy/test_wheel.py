"""The wheel is the whole product: installed into a fresh venv outside the checkout, it serves.

From a directory that is neither the checkout nor beside it: set a password
with ``piranha-passwd --stdin``, start ``piranha-gui`` (real gunicorn) on a
free loopback port, fetch the login page and its stylesheet, log in, add a
virtual server and ACCEPT: lvs.cf is written.  Templates, static files,
migrations and the systemd units all come out of the installed package.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from piranha_web import lvscf
from tests.support.httpform import Browser
from tests.support.ports import free_port

pytestmark = pytest.mark.slow
PASSWORD = "wheel-test-password"
CHECKOUT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def venv(wheel_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv (no access to the checkout) with the wheel and its dependencies."""
    target = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(target)], check=True, timeout=120)
    result = subprocess.run([str(target / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel_file)],
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr
    return target


@pytest.fixture
def site(tmp_path: Path) -> dict[str, Path]:
    """A working directory and instance far from the checkout."""
    work = tmp_path / "elsewhere"
    work.mkdir()
    return {"work": work, "instance": tmp_path / "instance", "lvs_cf": tmp_path / "ha" / "lvs.cf"}


def clean_env(site: dict[str, Path]) -> dict[str, str]:
    """The caller's environment minus anything that could point Python at the checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIRANHA_", "VIRTUAL_ENV"))}
    env.update(PIRANHA_INSTANCE=str(site["instance"]), PIRANHA_LVS_CF=str(site["lvs_cf"]))
    return env


def run(venv: Path, site: dict[str, Path], *argv: str, stdin: str | None = None) -> str:
    result = subprocess.run([str(venv / "bin" / argv[0]), *argv[1:]], cwd=site["work"], env=clean_env(site),
                            input=stdin, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"{argv}: {result.stdout}{result.stderr}"
    return result.stdout


def test_data_comes_from_the_installed_package(venv: Path, site: dict[str, Path]) -> None:
    out = run(venv, site, "python", "-c", "from piranha_web.resources import DATA_DIRS, data_dir\n"
              "for name in DATA_DIRS: print(data_dir(name))")
    for line in out.splitlines():
        path = Path(line)
        assert path.is_dir() and "site-packages" in path.parts, line
        assert CHECKOUT not in path.parents


def test_db_upgrade_and_install_units(venv: Path, site: dict[str, Path]) -> None:
    assert "database up to date" in run(venv, site, "piranha-config", "db", "upgrade")
    units = site["work"] / "units"
    run(venv, site, "piranha-config", "install-units", "--unit-dir", str(units), "--no-reload")
    assert f"ExecStart={venv / 'bin' / 'pulse'} " in (units / "pulse.service").read_text()
    assert f"ExecStart={venv / 'bin' / 'piranha-gui'}\n" in (units / "piranha-gui.service").read_text()


def test_console_from_the_wheel_serves_logs_in_and_publishes(venv: Path, site: dict[str, Path]) -> None:
    run(venv, site, "piranha-passwd", "--stdin", stdin=PASSWORD + "\n")
    port = free_port()
    log = site["work"] / "gui.log"
    with open(log, "wb") as out:
        argv = [str(venv / "bin" / "piranha-gui"), "--bind", f"127.0.0.1:{port}", "--workers", "1"]
        gui = subprocess.Popen(argv, cwd=site["work"], env=clean_env(site), stdin=subprocess.DEVNULL,
                               stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        browser = Browser(port, "wheel-test")
        login_page = wait_for_login_page(browser, gui, log)
        css = re.search(r'<link[^>]+href="([^"]+\.css)"', login_page)
        assert css, "the login page links no stylesheet"
        status, headers, body = browser.request("GET", css.group(1))
        assert status == 200 and headers["content-type"].startswith("text/css") and len(body) > 100
        browser.login("piranha", PASSWORD)
        status, _, _ = browser.submit("/settings/", {"primary": "192.0.2.1", "network": "direct"})
        assert status in (302, 303), f"global settings refused ({status})"
        status, _, _ = browser.submit("/virtual/new", {"name": "www", "address": "192.0.2.10"})
        assert status in (302, 303), f"the virtual server was refused ({status})"
        cfg = lvscf.load(site["lvs_cf"].read_text())
        assert cfg.virtual("www") is not None and cfg.primary == "192.0.2.1"
    finally:
        os.killpg(gui.pid, signal.SIGTERM)
        gui.wait(timeout=30)


def wait_for_login_page(browser: Browser, gui: subprocess.Popen[bytes], log: Path) -> str:
    """The login page's HTML once gunicorn answers (bounded wait)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert gui.poll() is None, f"piranha-gui exited: {log.read_text()[-2000:]}"
        try:
            status, _, body = browser.request("GET", "/login", timeout=5)
            if status == 200:
                return body
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"piranha-gui did not answer: {log.read_text()[-2000:]}")
