"""What the login, deny-by-default and audit-panel tests share: one password, one lvs.cf.

test_auth and test_security build their own consoles (not the conftest
``app``) because they test the login path itself; this keeps their common
ground in one place so they cannot drift apart.  Hashing is cheapened by
the ``cheap_argon2`` fixture of tests/conftest.py.
"""
from __future__ import annotations

import re

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
