"""Login, logout, sessions, throttling and constant-time checks (issue 5, points 1-3)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from piranha_web.app import create_app
from piranha_web.extensions import db
from piranha_web.models import AuditEntry
from piranha_web.services import users
from tests.support.webauth import LVS_CF, PASSWORD, TOKEN_RE

pytestmark = pytest.mark.usefixtures("cheap_argon2")

SESSION_COOKIE = "session="


def make_app(tmp_path: Path, **extra: object) -> Flask:
    """A console on a tmp instance with user ``piranha`` (password PASSWORD)."""
    lvs = tmp_path / "lvs.cf"
    if not lvs.exists():
        lvs.write_text(LVS_CF)
    app = create_app({"INSTANCE_PATH": str(tmp_path / "instance"), "LVS_CF": str(lvs), "AUTO_IMPORT": False,
                      **extra})
    with app.app_context():
        if not users.get_user(db.session, "piranha"):
            users.store_password("piranha", PASSWORD)
    return app


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    """The CSRF token of the form on ``path``."""
    match = TOKEN_RE.search(client.get(path).get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def login(client: FlaskClient, username: str = "piranha", password: str = PASSWORD,  # noqa: ANN201
          **kw: str):
    """POST the login form the way a browser does."""
    return client.post("/login", data={"csrf_token": csrf_token(client), "username": username,
                                       "password": password}, **kw)


@pytest.fixture
def auth_app(tmp_path: Path) -> Flask:
    return make_app(tmp_path)


@pytest.fixture
def auth_client(auth_app: Flask) -> FlaskClient:
    return auth_app.test_client()


def audit_actions(app: Flask) -> list[tuple[str, str, str | None]]:
    with app.app_context():
        entries = db.session.query(AuditEntry).order_by(AuditEntry.id)
        return [(e.action, e.username, e.client_addr) for e in entries]


def test_login_page_has_the_fields_the_browser_test_uses(auth_client: FlaskClient) -> None:
    page = auth_client.get("/login")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="username"' in html and 'id="password"' in html
    assert '<label for="username">Username</label>' in html
    assert '<label for="password">Password</label>' in html
    assert 'value="Login"' in html and 'type="submit"' in html
    assert 'type="password"' in html
    assert "Welcome" in html
    assert "<script" not in html and "style=" not in html  # CSP: no inline script/style


def test_anonymous_page_redirects_to_login_then_back(auth_client: FlaskClient) -> None:
    first = auth_client.get("/audit/?user=x")
    assert first.status_code == 302
    assert first.headers["Location"].startswith("/login?next=")
    token = csrf_token(auth_client)
    done = auth_client.post(first.headers["Location"],
                            data={"csrf_token": token, "username": "piranha", "password": PASSWORD})
    assert done.status_code == 302
    assert done.headers["Location"] == "/audit/?user=x"
    assert auth_client.get("/audit/?user=x").status_code == 200


@pytest.mark.parametrize("target", ["//evil.example/x", "http://evil.example/", "https:evil",
                                    "/\\evil.example", "javascript:alert(1)"])
def test_login_never_redirects_off_site(auth_client: FlaskClient, target: str) -> None:
    token = csrf_token(auth_client)
    done = auth_client.post("/login", query_string={"next": target},
                            data={"csrf_token": token, "username": "piranha", "password": PASSWORD})
    assert done.status_code == 302
    assert done.headers["Location"] == "/"


def test_good_login_is_audited_with_client_address(auth_app: Flask, auth_client: FlaskClient) -> None:
    assert login(auth_client, environ_base={"REMOTE_ADDR": "127.0.0.9"}).status_code == 302
    assert auth_client.get("/", environ_base={"REMOTE_ADDR": "127.0.0.9"}).status_code == 200
    assert ("login.success", "piranha", "127.0.0.9") in audit_actions(auth_app)


def test_bad_password_and_unknown_user_look_the_same(auth_app: Flask, auth_client: FlaskClient) -> None:
    wrong = login(auth_client, password="wrong password")
    missing = login(auth_client, username="nobody", password="wrong password")
    assert wrong.status_code == missing.status_code == 401
    assert "Invalid username or password." in wrong.get_data(as_text=True)
    assert "Invalid username or password." in missing.get_data(as_text=True)
    actions = audit_actions(auth_app)
    assert ("login.failure", "piranha", "127.0.0.1") in actions
    assert ("login.failure", "nobody", "127.0.0.1") in actions
    assert auth_client.get("/").status_code == 302  # still anonymous


def test_login_does_one_argon2_verify_whether_or_not_the_user_exists(
        auth_client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = users._hasher

    class CountingHasher:
        def verify(self, hash_: str, password: str) -> bool:
            calls.append(hash_)
            return real.verify(hash_, password)

        def __getattr__(self, name: str) -> object:
            return getattr(real, name)

    monkeypatch.setattr(users, "_hasher", CountingHasher())
    login(auth_client, username="piranha", password="wrong password")
    login(auth_client, username="ghost", password="wrong password")
    assert len(calls) == 2
    assert calls[1] == users.dummy_hash()
    assert calls[1].startswith("$argon2id$")


def test_login_time_does_not_reveal_whether_the_user_exists(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a hash that costs real time, a missing user must cost the same (median of 5 each)."""
    from argon2 import PasswordHasher

    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=2, memory_cost=32768, parallelism=1))
    monkeypatch.setattr(users, "_dummy_hash", None)
    app = make_app(tmp_path)
    client = app.test_client()
    token = csrf_token(client)

    def timed(username: str, addr: str) -> float:
        start = time.perf_counter()
        form = {"csrf_token": token, "username": username, "password": "bad password"}
        r = client.post("/login", data=form, environ_base={"REMOTE_ADDR": addr})
        assert r.status_code == 401
        return time.perf_counter() - start

    timed("warm-up", "127.0.9.9")
    existing, missing = [], []
    for i in range(5):       # interleaved, so a change in the machine's load weighs on both alike
        existing.append(timed("piranha", f"127.0.1.{i}"))
        missing.append(timed(f"ghost{i}", f"127.0.2.{i}"))
    existing.sort()
    missing.sort()
    ratio = existing[2] / missing[2]
    assert 0.6 < ratio < 1.67, (existing, missing)


def test_sixth_failure_from_one_address_gets_429_with_retry_after(auth_client: FlaskClient) -> None:
    for i in range(5):
        assert login(auth_client, username=f"user{i}", password="wrong password").status_code == 401
    blocked = login(auth_client, username="piranha", password=PASSWORD)  # even the right password
    assert blocked.status_code == 429
    assert 1 <= int(blocked.headers["Retry-After"]) <= 60
    assert auth_client.get("/").status_code == 302  # not logged in


def test_failures_for_a_user_from_one_address_do_not_lock_out_another_address(tmp_path: Path) -> None:
    """Five wrong passwords for ``piranha`` from A: A is refused, the right password from B still works."""
    app = make_app(tmp_path, LOGIN_FAILURE_DELAY=0.01, LOGIN_FAILURE_DELAY_MAX=0.05)
    attacker, admin = app.test_client(), app.test_client()
    for _ in range(5):
        assert login(attacker, password="wrong password",
                     environ_base={"REMOTE_ADDR": "127.0.3.1"}).status_code == 401
    assert login(attacker, environ_base={"REMOTE_ADDR": "127.0.3.1"}).status_code == 429  # per address
    assert login(admin, environ_base={"REMOTE_ADDR": "127.0.3.2"}).status_code == 302
    assert admin.get("/", environ_base={"REMOTE_ADDR": "127.0.3.2"}).status_code == 200


def test_failures_for_a_user_from_many_addresses_delay_but_never_refuse(tmp_path: Path) -> None:
    app = make_app(tmp_path, LOGIN_FAILURE_DELAY=0.2, LOGIN_FAILURE_DELAY_MAX=0.4)
    client = app.test_client()
    for i in range(5):
        r = login(client, password="wrong password", environ_base={"REMOTE_ADDR": f"127.0.3.{i}"})
        assert r.status_code == 401
    started = time.monotonic()
    r = login(client, password="wrong password", environ_base={"REMOTE_ADDR": "127.0.3.99"})
    assert r.status_code == 401 and time.monotonic() - started >= 0.2  # slowed, not refused
    started = time.monotonic()
    assert login(client, environ_base={"REMOTE_ADDR": "127.0.3.98"}).status_code == 302
    assert time.monotonic() - started < 0.2  # the right password is not delayed


def test_failure_delay_doubles_and_is_capped(tmp_path: Path) -> None:
    from piranha_web.auth.throttle import LoginThrottle, user_key

    throttle = LoginThrottle(tmp_path / "t.sqlite", limit=5, window=60, delay_base=0.5, delay_max=4)
    key = user_key("piranha")
    delays = []
    for _ in range(10):
        throttle.failed([key])
        delays.append(throttle.failure_delay(key))
    assert delays == [0, 0, 0, 0, 0, 0.5, 1, 2, 4, 4]
    assert throttle.failure_delay(user_key("other")) == 0


def test_throttle_is_shared_between_workers(tmp_path: Path) -> None:
    """Two app objects on one instance = two gunicorn workers: the limit holds across them."""
    worker_a, worker_b = make_app(tmp_path), make_app(tmp_path)
    client_a, client_b = worker_a.test_client(), worker_b.test_client()
    for i in range(5):
        client = client_a if i % 2 else client_b
        assert login(client, password="wrong password").status_code == 401
    assert login(client_a, password="wrong password").status_code == 429
    assert login(client_b, password="wrong password").status_code == 429


def test_throttle_window_expires(tmp_path: Path) -> None:
    from piranha_web.auth.throttle import LoginThrottle

    now = [1000.0]
    throttle = LoginThrottle(tmp_path / "t.sqlite", limit=5, window=60, clock=lambda: now[0])
    keys = ["addr:127.0.0.1", "user:piranha"]
    for i in range(5):
        assert throttle.retry_after(keys) == 0
        throttle.failed(keys)
        now[0] += 1
    assert throttle.retry_after(keys) == 55  # first failure (t=1000) leaves the window at 1060; now 1005
    assert throttle.retry_after(["addr:127.0.0.2"]) == 0
    now[0] = 1060.5
    assert throttle.retry_after(keys) == 0
    assert (tmp_path / "t.sqlite").stat().st_mode & 0o777 == 0o600


def test_password_change_ends_existing_sessions(auth_app: Flask, auth_client: FlaskClient) -> None:
    assert login(auth_client).status_code == 302
    assert auth_client.get("/").status_code == 200
    with auth_app.app_context():
        users.store_password("piranha", "another password")
    assert auth_client.get("/").status_code == 302
    assert login(auth_client, password="another password").status_code == 302
    assert auth_client.get("/").status_code == 200


def test_logout_is_post_with_csrf_only(auth_app: Flask, auth_client: FlaskClient) -> None:
    assert login(auth_client).status_code == 302
    assert auth_client.get("/logout").status_code == 405
    assert auth_client.post("/logout").status_code == 400  # no CSRF token
    assert auth_client.get("/").status_code == 200  # still logged in
    token = TOKEN_RE.search(auth_client.get("/").get_data(as_text=True))  # the logout form in the header
    assert token, "no logout form with a CSRF token on the home page"
    out = auth_client.post("/logout", data={"csrf_token": token.group(1)})
    assert out.status_code == 302 and out.headers["Location"] == "/login"
    assert auth_client.get("/").status_code == 302
    assert "logout" in [a for a, _, _ in audit_actions(auth_app)]


def test_session_cookie_flags(auth_client: FlaskClient) -> None:
    response = login(auth_client)
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith(SESSION_COOKIE))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain HTTP on localhost: a Secure cookie would never come back


def test_session_cookie_is_secure_over_https(auth_app: Flask) -> None:
    client = auth_app.test_client()
    # Over HTTPS Flask-WTF also insists on a same-origin Referer
    # (browsers send it: Referrer-Policy same-origin).
    assert login(client, base_url="https://localhost").status_code == 400
    response = login(client, base_url="https://localhost", headers={"Referer": "https://localhost/login"})
    assert response.status_code == 302
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith(SESSION_COOKIE))
    assert "Secure" in cookie and "HttpOnly" in cookie
    assert response.headers.get("Strict-Transport-Security")


def test_forwarded_proto_only_trusted_behind_proxy(tmp_path: Path) -> None:
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7",
                 "Referer": "https://localhost/login"}
    direct = make_app(tmp_path)
    r = login(direct.test_client(), headers=forwarded)
    assert r.status_code == 302
    cookie = next(c for c in r.headers.getlist("Set-Cookie") if c.startswith(SESSION_COOKIE))
    assert "Secure" not in cookie
    proxied = make_app(tmp_path, BEHIND_PROXY=True)
    r = login(proxied.test_client(), headers=forwarded)
    assert r.status_code == 302
    cookie = next(c for c in r.headers.getlist("Set-Cookie") if c.startswith(SESSION_COOKIE))
    assert "Secure" in cookie
    with proxied.app_context():
        last = db.session.query(AuditEntry).order_by(AuditEntry.id.desc()).first()
        assert (last.action, last.client_addr) == ("login.success", "203.0.113.7")


def test_sessions_expire(tmp_path: Path) -> None:
    import time as _time

    app = make_app(tmp_path, SESSION_HOURS=1 / 3600)  # one second
    client = app.test_client()
    assert login(client).status_code == 302
    assert client.get("/").status_code == 200
    _time.sleep(2.2)
    assert client.get("/").status_code == 302


def test_logout_also_ends_copies_of_the_cookie(auth_app: Flask, auth_client: FlaskClient) -> None:
    assert login(auth_client).status_code == 302
    stolen = auth_client.get_cookie("session").value
    other = auth_app.test_client()
    other.set_cookie("session", stolen)
    assert other.get("/").status_code == 200  # a copy works while the session lives
    token = TOKEN_RE.search(auth_client.get("/").get_data(as_text=True)).group(1)
    assert auth_client.post("/logout", data={"csrf_token": token}).status_code == 302
    replay = auth_app.test_client()
    replay.set_cookie("session", stolen)
    assert replay.get("/").status_code == 302
    assert replay.post("/logout", data={"csrf_token": token}).status_code in (400, 401)
    # Logging in again (new session id) works.
    assert login(replay).status_code == 302 and replay.get("/").status_code == 200
