"""TOKENS page: create shows the secret once, the token works, revoke stops it; users see their own."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask

from ..conftest import PASSWORD, add_user  # noqa: TID252


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)  # type: ignore


def test_create_use_revoke(console: Any, app: Flask) -> None:
    page = console.client.get("/tokens/").get_data(as_text=True)
    assert "API TOKENS" in page and 'id="tab-tokens"' in page
    r = console.client.post("/tokens/", data={"name": "ci", "csrf_token": _csrf(page)})
    body = r.get_data(as_text=True)
    assert r.status_code == 200
    secret = re.search(r'id="token-secret">(pwt_[^<]+)<', body).group(1)  # type: ignore[union-attr]
    api = app.test_client()
    auth = {"Authorization": f"Bearer {secret}"}
    assert api.get("/api/v1/settings", headers=auth).status_code == 200
    again = console.client.get("/tokens/").get_data(as_text=True)
    assert secret not in again and "ci" in again
    token_id = re.search(r'id="revoke-(\d+)"', again).group(1)  # type: ignore[union-attr]
    r = console.client.post(f"/tokens/{token_id}/revoke", data={"csrf_token": _csrf(again)})
    assert r.status_code == 302
    assert api.get("/api/v1/settings", headers=auth).status_code == 401


def test_create_needs_csrf_and_a_name(console: Any) -> None:
    assert console.client.post("/tokens/", data={"name": "x"}).status_code == 400
    page = console.client.get("/tokens/").get_data(as_text=True)
    assert console.client.post("/tokens/", data={"name": " ", "csrf_token": _csrf(page)}).status_code == 422


def test_admins_see_everyones_tokens(app: Flask, console: Any) -> None:
    from piranha_web.services import tokens

    add_user(app, "carol", role="admin")
    with app.app_context():
        row, _ = tokens.create("piranha", "mine", "test")
    carol = app.test_client()
    page = carol.get("/login").get_data(as_text=True)
    r = carol.post("/login", data={"username": "carol", "password": PASSWORD, "csrf_token": _csrf(page)})
    assert r.status_code in (302, 303)
    assert f'id="token-{row.id}"' in carol.get("/tokens/").get_data(as_text=True)
