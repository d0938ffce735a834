"""Fixtures for the console tests: a tmp instance, an app with CSRF on, a logged-in browser-like client.

``console`` is a test client that behaves like a user with a browser: it
logs in through the login form, reads the CSRF token from the pages and can
submit a panel's form with some fields changed (``submit``), keeping every
other field as the page showed it.
"""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Iterator

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient

from piranha_web.app import create_app
from piranha_web.extensions import db
from piranha_web.services import users

PASSWORD = "correct horse battery"
TOKEN_RE = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
FLASH_RE = re.compile(r'<p class="flash flash-(\w+)" role="status">([^<]*)</p>')


class _FormScraper(HTMLParser):
    """Collects the fields of every <form> on a page: what a browser would submit."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self._form: dict[str, Any] | None = None
        self._select: str | None = None
        self._select_first: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            self._form = {"action": a.get("action", ""), "method": a.get("method", "get"), "fields": {}}
            self.forms.append(self._form)
        if self._form is None:
            return
        fields = self._form["fields"]
        if tag == "input" and a.get("name"):
            kind = a.get("type", "text")
            if kind in ("radio", "checkbox"):
                if "checked" in a:
                    fields[a["name"]] = a.get("value", "on")
            elif kind not in ("submit", "button"):
                fields[a["name"]] = a.get("value", "")
        elif tag == "select":
            self._select, self._select_first = a.get("name"), None
        elif tag == "option" and self._select:
            if self._select_first is None:
                self._select_first = a.get("value", "")
                fields.setdefault(self._select, self._select_first)
            if "selected" in a:
                fields[self._select] = a.get("value", "")
        elif tag == "textarea":
            self._textarea = a.get("name")
            fields[self._textarea or ""] = ""

    def handle_data(self, data: str) -> None:
        if self._form is not None and self._textarea:
            self._form["fields"][self._textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def page_forms(html: str) -> list[dict[str, Any]]:
    """Every form of a page: {"action", "method", "fields"}."""
    scraper = _FormScraper()
    scraper.feed(html)
    return scraper.forms


class Console:
    """A logged-in user's browser, for the Flask test client."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self._token: str | None = None

    def login(self, username: str = "piranha", password: str = PASSWORD) -> Any:
        """Log in through the login form (CSRF token included)."""
        page = self.client.get("/login")
        token = TOKEN_RE.search(page.get_data(as_text=True))
        data = {"username": username, "password": password}
        if token:
            data["csrf_token"] = token.group(1)
        response = self.client.post("/login", data=data)
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        self._token = None
        return response

    def token(self) -> str:
        """The session's CSRF token, read from a page like a browser would."""
        if self._token is None:
            html = self.client.get("/settings/").get_data(as_text=True)
            match = TOKEN_RE.search(html)
            assert match, "no csrf token on the page"
            self._token = match.group(1)
        return self._token

    def get(self, path: str, **kw: Any) -> Any:
        return self.client.get(path, **kw)

    def post(self, path: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
        """POST with the CSRF token added."""
        payload = {"csrf_token": self.token(), **(data or {})}
        return self.client.post(path, data=payload, **kw)

    def form(self, path: str, action: str | None = None) -> dict[str, Any]:
        """The fields of the form on ``path`` posting to ``action`` (default: the panel form)."""
        return self.form_in(self.client.get(path).get_data(as_text=True), action, path)

    def form_in(self, html: str, action: str | None = None, path: str = "the page") -> dict[str, Any]:
        """The fields of a form in ``html`` (default: the panel form, the one with a version)."""
        forms = [f for f in page_forms(html) if f["method"].lower() == "post"]
        if action is not None:
            forms = [f for f in forms if f["action"] == action]
        else:
            forms = [f for f in forms if "version" in f["fields"]] or forms
        assert forms, f"no form on {path}"
        return dict(forms[0]["fields"])

    def submit(self, path: str, changes: dict[str, Any] | None = None, action: str | None = None,
               drop: tuple[str, ...] = (), **kw: Any) -> Any:
        """Load ``path``, change some fields, press ACCEPT (POST to the form's action)."""
        fields = self.form(path, action)
        fields.update(changes or {})
        for name in drop:
            fields.pop(name, None)
        fields.setdefault("action", "accept")
        return self.client.post(action or path, data=fields, **kw)

    def flashes(self, response: Any = None) -> list[tuple[str, str]]:
        """Flashed (category, message) pairs on the response (or on the next page shown)."""
        if response is None or response.status_code in (301, 302, 303):
            response = self.client.get(response.headers["Location"] if response is not None else "/")
        from html import unescape

        return [(c, unescape(m)) for c, m in FLASH_RE.findall(response.get_data(as_text=True))]


_TEMPLATE_DB: list[Path] = []  # a migrated empty database, copied into each test's instance


def make_app(tmp_path: Path, lvs_text: str | None = None, **config: Any) -> Flask:
    """A console on a tmp instance with a tmp lvs.cf (written first when ``lvs_text`` is given).

    The database starts as a copy of a once-migrated template (create_app
    still runs the upgrade, which then has nothing to do): a full Alembic
    run per test would dominate the suite's time.
    """
    instance = tmp_path / "instance"
    instance.mkdir(exist_ok=True)
    if _TEMPLATE_DB and "DATABASE_URL" not in config:
        shutil.copyfile(_TEMPLATE_DB[0], instance / "piranha.db")
    etc = tmp_path / "etc"
    etc.mkdir(exist_ok=True)
    lvs = etc / "lvs.cf"
    if lvs_text is not None:
        lvs.write_text(lvs_text)
    settings: dict[str, Any] = {
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "LVS_CF": str(lvs),
        "SECRET_KEY": "test-secret-key",
        "PULSE_WAIT_SECONDS": 0.3,
        "LOGIN_FAILURE_LIMIT": 1000,
    }
    settings.update(config)
    return create_app(settings)


def add_user(app: Flask, username: str = "piranha", password: str = PASSWORD,
             role: str | None = None) -> None:
    """Create a console user the way piranha-passwd does."""
    with app.app_context():
        users.store_password(username, password, role=role)


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty database at the newest schema (built once per test session)."""
    if not _TEMPLATE_DB:
        base = tmp_path_factory.mktemp("template")
        create_app({"INSTANCE_PATH": str(base), "SECRET_KEY": "t", "LVS_CF": str(base / "none.cf")})
        _TEMPLATE_DB.append(base / "piranha.db")
    return _TEMPLATE_DB[0]


@pytest.fixture
def cli_instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Environment for a console on a tmp instance, as the CLIs' create_app reads it (returns tmp_path)."""
    monkeypatch.setenv("PIRANHA_INSTANCE", str(tmp_path / "instance"))
    monkeypatch.setenv("PIRANHA_LVS_CF", str(tmp_path / "lvs.cf"))
    monkeypatch.setenv("PIRANHA_SECRET_KEY", "test-secret")
    monkeypatch.delenv("PIRANHA_DATABASE_URL", raising=False)
    return tmp_path


@pytest.fixture
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests hash dozens of passwords: same argon2id code path, test-sized cost.

    Costlier than ``fast_hashing``: the login tests compare the timing of real
    and dummy hashes.  Modules opt in with ``pytest.mark.usefixtures``.
    """
    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1))
    monkeypatch.setattr(users, "_dummy_hash", None)


@pytest.fixture
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap argon2 parameters: the console tests log in often, hashing cost is not what they test."""
    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    monkeypatch.setattr(users, "_dummy_hash", None)


@pytest.fixture
def app(tmp_path: Path, migrated_template: Path, fast_hashing: None) -> Iterator[Flask]:
    """A console with CSRF on, an empty database and no lvs.cf yet."""
    application = make_app(tmp_path)
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture
def app_factory(tmp_path: Path, migrated_template: Path, fast_hashing: None) -> Any:
    """``app_factory(lvs_text=None, **config)``: another app on this test's tmp dir (restarts)."""
    return lambda lvs_text=None, **config: make_app(tmp_path, lvs_text, **config)


@pytest.fixture
def login_as() -> Any:
    """``login_as(app, username="piranha", role=None)``: create the user, return a logged-in Console."""
    def _login(app: Flask, username: str = "piranha", role: str | None = None) -> Console:
        add_user(app, username, role=role)
        c = Console(app.test_client())
        c.login(username)
        return c
    return _login


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """An anonymous client."""
    return app.test_client()


@pytest.fixture
def console(app: Flask) -> Console:
    """A client logged in as ``piranha`` (an admin)."""
    add_user(app)
    c = Console(app.test_client())
    c.login()
    return c


@pytest.fixture
def lvs_cf(app: Flask) -> Path:
    """Path of the app's lvs.cf."""
    return Path(app.config["LVS_CF"])
