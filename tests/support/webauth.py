"""What the login and deny-by-default tests share: one user, one lvs.cf, cheap hashing.

test_auth and test_security build their own consoles (not the conftest
``app``) because they test the login path itself; this keeps their common
ground in one place so the two cannot drift apart.
"""
from __future__ import annotations

import re

import pytest

from piranha_web.services import users

PASSWORD = "correct horse"
TOKEN_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
LVS_CF = """serial_no = 1
primary = 192.0.2.1
service = lvs
network = direct

virtual web {
     active = 1
     address = 192.0.2.10 eth0:1
     port = 80
     protocol = tcp
     scheduler = wlc
     server web1 {
         address = 198.51.100.1
         active = 1
         weight = 1
     }
}
"""


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests hash dozens of passwords: same argon2id code path, test-sized cost.

    Autouse in every module that imports it.
    """
    from argon2 import PasswordHasher

    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1))
    monkeypatch.setattr(users, "_dummy_hash", None)
