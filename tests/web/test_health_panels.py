"""Health-check keys on the VIRTUAL SERVER, MONITORING SCRIPTS and REAL SERVER panels."""

from __future__ import annotations

from piranha_web import lvscf
from tests.web.test_virtual_panel import add_real, add_virtual, nat  # noqa: F401 - fixture


def test_health_keys_on_the_three_panels(nat, lvs_cf) -> None:  # noqa: F811
    vid = add_virtual(nat)
    edit = nat.get(f"/virtual/{vid}/").get_data(as_text=True)
    for label in ("Fall (failures)", "Rise (successes)", "Check interval (seconds)", "Slow start (seconds)"):
        assert f">{label}</label>" in edit
    assert "consecutive failures before a server is removed" in edit
    path = f"/virtual/{vid}/monitoring"
    html = nat.get(path).get_data(as_text=True)
    for label in ("Check type", "HTTP path", "HTTP status codes", "Body MD5 digest", "Agent port"):
        assert f">{label}</label>" in html
    response = nat.submit(path, {"check": "https", "check_path": "/health", "check_status": "200-299,301",
                                 "check_host": "www.example.test", "check_verify": "1"})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    nat.submit(f"/virtual/{vid}/", {"fall": "3", "rise": "2", "check_interval": "2.5", "slowstart": "30"})
    add_real(nat, vid, "a", "192.0.2.1", weight="10", check_port="8443", check_verify="0")
    vs = lvscf.load(lvs_cf.read_text()).virtual("www")
    assert (vs.check, vs.check_path, vs.check_status, vs.check_host, vs.check_verify) == \
        ("https", "/health", "200-299,301", "www.example.test", True)
    assert (vs.fall, vs.rise, vs.check_interval, vs.slowstart) == (3, 2, 2.5, 30)
    rs = vs.servers[0]
    assert (rs.check_port, rs.check_verify, rs.fall, rs.check) == (8443, False, None, None)
    bad = nat.submit(f"/virtual/{vid}/", {"check_timeout": "9"})
    text = bad.get_data(as_text=True)
    assert bad.status_code == 422 and 'id="check_timeout-error"' in text and "must not be longer" in text
    bad = nat.submit(path, {"check_status": "2xx"})
    assert bad.status_code == 422 and 'id="check_status-error"' in bad.get_data(as_text=True)
