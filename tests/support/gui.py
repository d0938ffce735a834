"""A real console for host browser tests: piranha-gui on loopback with its default lvs.cf path, and chromium.

The console runs with the product's defaults (``/etc/sysconfig/ha/lvs.cf``)
inside a private mount namespace where that directory is the test's
(tests/support/sysconfig_ns.py), so what the browser sees is what a director
shows; the test reads the written file from the directory it gets back.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from . import sysconfig_ns
from .ports import free_port

BIN = Path(sys.executable).parent
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def wait_http(url: str, seconds: float = 60) -> None:
    """Return once ``url`` answers (any status); TimeoutError after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {seconds}s")


@contextmanager
def default_path_console(workdir: Path, password: str, user: str | None = None) -> Iterator[tuple[str, Path]]:
    """piranha-passwd, then piranha-gui on a free 127.0.0.1 port; yields (URL, directory of lvs.cf)."""
    ha_dir = workdir / "sysconfig-ha"
    env = dict(os.environ, PIRANHA_INSTANCE=str(workdir / "instance"))
    for name in ("PIRANHA_LVS_CF", "PIRANHA_DATABASE_URL", "PIRANHA_SECRET_KEY", "PIRANHA_PULSE_RUNTIME"):
        env.pop(name, None)
    subprocess.run([str(BIN / "piranha-passwd"), "--stdin", *([user] if user else [])], input=password + "\n",
                   env=env, check=True, capture_output=True, text=True, timeout=120)
    port = free_port()
    argv = sysconfig_ns.command(ha_dir, [str(BIN / "piranha-gui"), "--bind", f"127.0.0.1:{port}"])
    with open(workdir / "gui.log", "w") as log:
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_http(f"http://127.0.0.1:{port}/login")
            yield f"http://127.0.0.1:{port}", ha_dir
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:  # pragma: no cover
                proc.kill()
                proc.wait(10)


@contextmanager
def chromium_page(viewport: dict[str, int]) -> Iterator[Any]:
    """A fresh page of Debian's /usr/bin/chromium (Playwright), closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True,
                                     timeout=120_000)
        try:
            tab = browser.new_context(viewport=viewport).new_page()
            tab.set_default_timeout(30_000)
            yield tab
        finally:
            browser.close()
