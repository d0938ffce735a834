"""Health-check keys: parsed, written in a stable order, validated, resolved per real server."""

from __future__ import annotations

import re

import pytest

from piranha_web.lvscf import LvsCfError, dumps, parse, validate
from piranha_web.lvscf.health import check_settings, parse_status

BASE = """serial_no = 1
network = direct
virtual web {
\tactive = 1
\taddress = 192.0.2.10 eth0:1
\tport = 80
\ttimeout = 6
\treentry = 15
%s
\tserver a {
\t\taddress = 198.51.100.1
\t\tactive = 1
\t\tweight = 8
%s
\t}
}
"""


def cfg_of(virtual: str = "", server: str = ""):  # type: ignore[no-untyped-def]
    return parse(BASE % (virtual, server))


def errors(virtual: str = "", server: str = "") -> str:
    with pytest.raises(LvsCfError) as info:
        validate(cfg_of(virtual, server))
    return str(info.value)


def test_file_without_the_keys_means_what_it_meant() -> None:
    vs = cfg_of().virtuals[0]
    cs = check_settings(vs, vs.servers[0])
    assert (cs.kind, cs.interval, cs.timeout, cs.rise, cs.fall, cs.slowstart) == ("tcp", 6, 6, 3, 1, 0)
    assert "check" not in dumps(cfg_of()).replace("client_monitor", "")


def test_keys_round_trip_in_table_order() -> None:
    text_v = "\tslowstart = 10\n\tcheck = https\n\tfall = 3\n\tcheck_status = 200-299,301\n" \
             "\tcheck_path = /health\n\tcheck_verify = 1\n\tcheck_interval = 2.5"
    cfg = cfg_of(text_v, "\t\tagent_port = 9999\n\t\trise = 4")
    validate(cfg)
    out = dumps(cfg)
    assert parse(out) == cfg
    order = [line.split("=")[0].strip() for line in out.splitlines() if "=" in line]
    assert order.index("fall") < order.index("check_interval") < order.index("check") \
        < order.index("check_path") < order.index("check_status") < order.index("slowstart")
    assert "\t\tagent_port = 9999" in out and "\t\trise = 4" in out


def test_interval_timeout_and_rise_rules() -> None:
    vs = cfg_of("\tcheck_interval = 2").virtuals[0]
    cs = check_settings(vs)
    assert (cs.interval, cs.timeout, cs.rise) == (2, 2, 8)          # reentry 15 s / 2 s
    vs = cfg_of("\tcheck_timeout = 1\n\trise = 2").virtuals[0]
    cs = check_settings(vs)
    assert (cs.interval, cs.timeout, cs.rise) == (6, 1, 2)          # rise wins over reentry


def test_server_overrides_its_virtual() -> None:
    vs = cfg_of("\tcheck = http\n\tfall = 2", "\t\tfall = 5\n\t\tcheck_port = 8080").virtuals[0]
    cs = check_settings(vs, vs.servers[0])
    assert (cs.kind, cs.fall, cs.port) == ("http", 5, 8080)
    assert check_settings(vs).fall == 2


def test_derived_check_follows_piranha() -> None:
    assert check_settings(cfg_of('\tsend = "x"').virtuals[0]).kind == "send-expect"
    assert check_settings(cfg_of('\tsend_program = "/bin/true"').virtuals[0]).kind == "program"


def test_status_ranges() -> None:
    assert parse_status("200-299,301") == ((200, 299), (301, 301))
    assert parse_status(None) == ((200, 299),)
    for bad in ("2xx", "300-200", "99", "200-"):
        with pytest.raises(ValueError):
            parse_status(bad)


@pytest.mark.parametrize("virtual, server, key, message", [
    ("\tcheck_interval = 1\n\tcheck_timeout = 2", "", "check_timeout", "must not be longer"),
    ("\tcheck_timeout = 7", "", "check_timeout", "must not be longer"),
    ("\tcheck = agent", "", "check", "needs agent_port"),
    ("\tcheck = dns", "", "check", "needs check_query"),
    ("\tcheck = program", "", "check", "needs send_program"),
    ("\tcheck_dynamic = 1", "", "check_dynamic", "needs check = program"),
    ("\tcheck = smtp", "", "check", "invalid argument"),
    ("\tcheck_status = 2xx", "", "check_status", "invalid status"),
    ("\tcheck_digest = abc", "", "check_digest", "32 hexadecimal"),
    ("\tcheck_body = \"(\"", "", "check_body", "invalid regular expression"),
    ("\tcheck_qtype = BOGUS", "", "check_qtype", "invalid argument"),
    ("\tcheck_ca_file = ca.pem", "", "check_ca_file", "absolute path"),
    ("", "\t\tfall = 0", "fall", "out of range"),
    ("", "\t\tcheck_interval = 1\n\t\tcheck_timeout = 3", "check_timeout", "must not be longer"),
])
def test_bad_values_name_key_and_line(virtual: str, server: str, key: str, message: str) -> None:
    text = errors(virtual, server)
    found = re.search(rf"line (\d+): {key}: ", text)
    assert found and message in text, text
    lines = (BASE % (virtual, server)).splitlines()
    assert lines[int(found.group(1)) - 1].strip().startswith(key), text
