"""A console client made of http.client and one session cookie: a login and form posts.

What a browser does with a form, minus the browser: GET the page, take the
fields of the form (hidden CSRF token included) with their current values,
change some, POST them back.  Used where a real gunicorn (or an installed
``piranha-gui``) serves the console and Playwright would be overkill.
"""

from __future__ import annotations

import http.client
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode


class FormFields(HTMLParser):
    """The fields of the first POST form whose action is ``action`` (what a browser submits)."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action, self.fields, self._in, self._done, self._select = action, {}, False, False, None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if (tag == "form" and not self._done and a.get("method", "").lower() == "post"
                and a.get("action") == self.action):
            self._in = True
        if not self._in:
            return
        if tag == "input" and a.get("name") and a.get("type", "text") not in ("submit", "button"):
            if a.get("type") in ("radio", "checkbox"):
                if "checked" in a:
                    self.fields[a["name"]] = a.get("value", "on")
            else:
                self.fields[a["name"]] = a.get("value", "")
        elif tag == "select":
            self._select = a.get("name")
        elif tag == "option" and self._select:
            self.fields.setdefault(self._select, a.get("value", ""))
            if "selected" in a:
                self.fields[self._select] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._in:
            self._in, self._done = False, True
        elif tag == "select":
            self._select = None


class Browser:
    """http.client + one session cookie: enough for a login and form posts."""

    def __init__(self, port: int, user_agent: str = "piranha-tests") -> None:
        self.user_agent = user_agent
        self.port = port
        self.cookie: str | None = None

    def request(self, method: str, path: str, form: dict[str, Any] | None = None,
                timeout: float = 10.0) -> tuple[int, dict[str, str], str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            headers = {"User-Agent": self.user_agent}
            body = None
            if self.cookie:
                headers["Cookie"] = self.cookie
            if form is not None:
                body = urlencode(form)
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            text = resp.read().decode("utf-8", "replace")
            for name, value in resp.getheaders():
                if name.lower() == "set-cookie" and value.startswith("session="):
                    self.cookie = value.split(";", 1)[0]
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, text
        finally:
            conn.close()

    def form(self, path: str, action: str | None = None) -> dict[str, str]:
        status, _, html = self.request("GET", path)
        assert status == 200, f"GET {path} -> {status}"
        parser = FormFields(action or path)
        parser.feed(html)
        assert "csrf_token" in parser.fields, f"no form with a CSRF token on {path}"
        return parser.fields

    def submit(self, path: str, changes: dict[str, str],
               action: str | None = None) -> tuple[int, dict[str, str], str]:
        """POST the form on ``path`` with ``changes`` applied (ACCEPT unless ``changes`` says otherwise)."""
        fields = {**self.form(path, action), **changes}
        fields.setdefault("action", "accept")
        return self.request("POST", action or path, fields)

    def login(self, username: str, password: str) -> None:
        """Log in through the login form; fails the test when the console refuses."""
        status, headers, _ = self.submit("/login", {"username": username, "password": password})
        assert status in (302, 303) and "/login" not in headers.get("location", ""), \
            f"login refused ({status})"
