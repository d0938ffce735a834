"""Nothing is lost on a crash: SIGKILL a real gunicorn in the middle of publishes, 50 times.

After every kill (server down): lvs.cf parses and is byte-for-byte the text
of some stored revision, SQLite's integrity check passes, the audit chain
verifies, and every revision number a client was told about (the flash
"revision N" carried by the POST response's session cookie) exists.

Runs ``python -m gunicorn piranha_web.wsgi:app`` (what piranha-gui execs) with one
worker on a tmp instance; the HTTP client is plain http.client with a
hand-kept cookie, so the test needs nothing beyond the standard library.
"""

from __future__ import annotations

import http.client
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from piranha_web import lvscf
from tests.support.httpform import Browser
from tests.support.ports import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "tests" / "data" / "lvscf" / "seed.cf"
PASSWORD = "kill-test-password"
KILLS = int(os.environ.get("PIRANHA_KILL_TEST_KILLS", "50"))
STARTUP_TIMEOUT = 30.0
REVISION_RE = re.compile(r"revision (\d+)")


def session_flashes(cookie: str | None, secret_key: str) -> list[str]:
    """The flash messages inside a signed Flask session cookie (what the next page would show)."""
    from flask import Flask
    from flask.sessions import SecureCookieSessionInterface

    if not cookie:
        return []
    app = Flask("decoder")
    app.secret_key = secret_key
    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    try:
        data = serializer.loads(cookie.split("=", 1)[1])
    except Exception:  # noqa: BLE001 - a cookie without flashes
        return []
    return [str(message) for _, message in data.get("_flashes", [])]


class Server:
    """One gunicorn master + worker in their own process group (so SIGKILL takes both)."""

    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.env, self.port, self.log = env, port, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{self.port}",
                "--workers", "1", "--timeout", "30", "--no-control-socket", "--error-logfile", "-",
                "piranha_web.wsgi:app"]
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(argv, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"gunicorn exited: {self.log.read_text()[-2000:]}"
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
                status, _, _ = Browser(self.port, "kill-test").request("GET", "/login", timeout=5)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("gunicorn did not come up")

    def kill(self) -> None:
        """SIGKILL master and workers at once, then reap."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)
        # Workers are in the same process group; wait until none is left holding the DB.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.02)
        self.proc = None


def check_state(instance: Path, lvs_cf: Path, told: set[int]) -> int:
    """The crash invariants; returns the number of stored revisions."""
    text = lvs_cf.read_text()
    lvscf.load(text)  # parses and validates
    conn = sqlite3.connect(instance / "piranha.db")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        revisions = {rid: body for rid, body in conn.execute("SELECT id, text FROM revision")}
    finally:
        conn.close()
    assert text in revisions.values(), "lvs.cf is not the text of any stored revision"
    missing = told - set(revisions)
    assert not missing, f"revisions the client was told about are gone: {sorted(missing)}"
    return len(revisions)


def check_audit_chain(instance: Path) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from piranha_web.services import audit

    engine = create_engine(f"sqlite:///{instance / 'piranha.db'}")
    try:
        with Session(engine) as session:
            result = audit.verify(session, instance)
    finally:
        engine.dispose()
    assert result.ok, f"audit chain broken at entry {result.broken_id}: {result.reason}"


class Publisher(threading.Thread):
    """Publishes edits (port of virtual server 1) back to back until the server dies."""

    def __init__(self, browser: Browser, secret: str, counter: list[int], told: set[int]) -> None:
        super().__init__(daemon=True)
        self.browser, self.secret, self.counter, self.told = browser, secret, counter, told
        self.completed = 0
        self.interrupted = False
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while True:
                fields = self.browser.form("/virtual/1/")
                self.counter[0] += 1
                fields["port"] = str(1000 + self.counter[0] % 60000)
                fields.setdefault("action", "accept")
                status, headers, _ = self.browser.request("POST", "/virtual/1/", fields)
                if status not in (302, 303):
                    raise AssertionError(f"publish answered {status}")
                for message in session_flashes(self.browser.cookie, self.secret):
                    self.told.update(int(n) for n in REVISION_RE.findall(message))
                # the next page shows (and clears) the flash
                self.browser.request("GET", headers.get("location", "/virtual/1/"))
                self.completed += 1
        except (OSError, http.client.HTTPException):
            self.interrupted = True  # the kill landed while a request was in flight
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            self.error = exc


def test_sigkill_during_publishes_loses_nothing(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    lvs_cf = tmp_path / "lvs.cf"
    shutil.copyfile(SEED, lvs_cf)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIRANHA_")}
    env.update(PIRANHA_INSTANCE=str(instance), PIRANHA_LVS_CF=str(lvs_cf), HOME=str(tmp_path),
               PYTHONPATH=str(ROOT))
    passwd = subprocess.run([sys.executable, "-m", "piranha_web.cli.passwd", "--stdin"],
                            input=PASSWORD + "\n", env=env, text=True, capture_output=True,
                            timeout=60, cwd=ROOT)
    assert passwd.returncode == 0, passwd.stderr
    secret = (instance / "secret_key").read_text().strip()
    port = free_port()
    server = Server(env, port, tmp_path / "gunicorn.log")
    browser = Browser(port, "kill-test")
    rng = random.Random(int(os.environ.get("PIRANHA_KILL_TEST_SEED", "5")))
    told: set[int] = set()
    counter = [0]
    interrupted = completed = 0
    started = time.monotonic()
    try:
        server.start()
        browser.login("piranha", PASSWORD)
        for _ in range(KILLS):
            publisher = Publisher(browser, secret, counter, told)
            publisher.start()
            time.sleep(rng.uniform(0.02, 0.6))
            server.kill()
            publisher.join(timeout=15)
            assert not publisher.is_alive(), "the client hung after the kill"
            assert publisher.error is None, f"publishing failed: {publisher.error!r}"
            interrupted += int(publisher.interrupted)
            completed += publisher.completed
            check_state(instance, lvs_cf, told)
            check_audit_chain(instance)
            server.start()  # the session cookie survives: the secret key lives in the instance
        assert browser.request("GET", "/virtual/1/")[0] == 200, "session lost across restarts"
    finally:
        server.kill()
    revisions = check_state(instance, lvs_cf, told)
    elapsed = time.monotonic() - started
    print(f"\n{KILLS} kills in {elapsed:.0f}s: {completed} publishes completed, {interrupted} interrupted "
          f"mid-request, {len(told)} revisions reported to the client, {revisions} stored")
    assert completed > 0 and told
