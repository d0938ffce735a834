"""The parser reads what Piranha's lvsconfig.c reads, and says where it stops."""

from __future__ import annotations

from typing import Any

import pytest

from piranha_web.lvscf import LvsCfError, parse
from piranha_web.lvscf.tokens import c_int


def _get(cfg: Any, path: str) -> Any:
    obj = cfg
    for part in path.split("."):
        obj = obj[int(part)] if part.isdigit() else getattr(obj, part)
    return obj


def _virtual(body: str) -> str:
    return "virtual v {\n" + body + "\n}\n"


@pytest.mark.parametrize(("text", "path", "expected"), [
    # lexical rules
    ("serial_no = 5", "serial_no", 5),
    ("serial_no = 5\n", "serial_no", 5),
    ("serial_no = 5\r\nprimary = 192.0.2.1\r\n", "primary", "192.0.2.1"),
    ("serial_no = 5\rjunk after the carriage return\n", "serial_no", 5),
    ("\t  serial_no\t=\t  7   \t", "serial_no", 7),
    ("# comment\n   # indented comment\nserial_no = 1", "serial_no", 1),
    ("serial_no = 1\nserial_no = 2", "serial_no", 2),
    ("primary = '192.0.2.1'", "primary", "192.0.2.1"),
    ('"primary" = 192.0.2.1', "primary", "192.0.2.1"),
    ("rsh_command = \"ssh -q\"", "rsh_command", "ssh -q"),
    ("active_cmd = 'a \"quoted\" b'", "active_cmd", 'a "quoted" b'),
    ("active_cmd = x\"y", "active_cmd", 'x"y'),
    ("debug_level = ''", "debug_level", ""),
    # integers are C strtol(base 0)
    ("serial_no = 0x1F", "serial_no", 31),
    ("serial_no = 0X1f", "serial_no", 31),
    ("serial_no = 010", "serial_no", 8),
    ("serial_no = 0", "serial_no", 0),
    ("serial_no = -3", "serial_no", -3),
    ("serial_no = +3", "serial_no", 3),
    ("backup_active = 1", "backup_active", True),
    ("backup_active = 0x0", "backup_active", False),
    ("hard_shutdown = 0", "hard_shutdown", False),
    # ports may be service names
    ("heartbeat_port = 540", "heartbeat_port", 540),
    ("heartbeat_port = http", "heartbeat_port", 80),
    (_virtual("port = https"), "virtuals.0.port", 443),
    # fractional seconds (our extension) and integral ones stay ints
    ("keepalive = 1.5", "keepalive", 1.5),
    ("deadtime = 6", "deadtime", 6),
    ("deadtime = 6.0", "deadtime", 6),
    (_virtual("timeout = 0.25"), "virtuals.0.timeout", 0.25),
    (_virtual("reentry = 15"), "virtuals.0.reentry", 15),
    # two-token values, and the one-token extension
    ("nat_router = 192.168.1.10 eth1:1", "nat_router", "192.168.1.10"),
    ("nat_router = 192.168.1.10 eth1:1", "nat_router_device", "eth1:1"),
    ("nat_router = 192.168.1.10", "nat_router_device", None),
    (_virtual("address = 192.0.2.10 eth0:1"), "virtuals.0.device", "eth0:1"),
    (_virtual("address = 192.0.2.10"), "virtuals.0.address", "192.0.2.10"),
    (_virtual("address = 192.0.2.10"), "virtuals.0.device", None),
    # values kept raw: escapes are nanny's business
    (_virtual('send = "GET / HTTP/1.0\\r\\n\\r\\n"'), "virtuals.0.send", "GET / HTTP/1.0\\r\\n\\r\\n"),
    (_virtual("expect = HTTP"), "virtuals.0.expect", "HTTP"),
    # fwmark 0 means none
    (_virtual("fwmark = 0"), "virtuals.0.fwmark", None),
    (_virtual("fwmark = 0x50"), "virtuals.0.fwmark", 80),
    # defaults are Piranha's parser defaults
    ("serial_no = 1", "keepalive", 2),
    ("serial_no = 1", "deadtime", 5),
    ("serial_no = 1", "heartbeat_port", 539),
    ("serial_no = 1", "network", "nat"),
    ("serial_no = 1", "hard_shutdown", True),
    (_virtual(""), "virtuals.0.scheduler", "wlc"),
    (_virtual(""), "virtuals.0.timeout", 10),
    (_virtual(""), "virtuals.0.reentry", 180),
    (_virtual(""), "virtuals.0.port", 80),
    (_virtual("server a {\n}"), "virtuals.0.servers.0.weight", 1),
    (_virtual("server a {\n}"), "virtuals.0.servers.0.port", None),
    # names may be quoted
    ('virtual "my web" {\n}', "virtuals.0.name", "my web"),
    # legacy keys are accepted (and dropped)
    ("master = 192.0.2.1\ndirs = [ /a /b ]\nserial_no = 2", "serial_no", 2),
    (_virtual("dirs = [ ]\nmaster = 192.0.2.1\nstart_cmd = /bin/true"), "virtuals.0.name", "v"),
    # failover blocks share the virtual keyword set; LVS-only keys are dropped
    ("failover f {\nscheduler = rr\nstart_cmd = \"/x start\"\nserver s {\n}\n}",
     "failovers.0.start_cmd", "/x start"),
    ("failover f {\nport = ftp\n}", "failovers.0.port", 21),
    # non-ASCII and odd whitespace elsewhere in the file do not change tokenizing
    ("# café\nserial_no = 4\n", "serial_no", 4),
    ("debug_level = \x0bx\nserial_no = 4", "debug_level", "\x0bx"),
    ("debug_level = é\u2003x", "debug_level", "é\u2003x"),
    # no final newline
    ("virtual v {\n}", "virtuals.0.name", "v"),
])
def test_parses(text: str, path: str, expected: Any) -> None:
    value = _get(parse(text), path)
    assert value == expected
    assert type(value) is type(expected)


def test_real_port_is_pinned_when_the_virtual_port_changes_later() -> None:
    cfg = parse(_virtual("port = 80\nserver a {\n}\nserver b {\nport = 9\n}\n"
                         "port = 81\nserver c {\n}\nport = 82"))
    vs = cfg.virtuals[0]
    assert vs.port == 82
    assert [s.port for s in vs.servers] == [80, 9, 81]
    assert [vs.server_port(s) for s in vs.servers] == [80, 9, 81]


def test_lines_are_recorded_per_key() -> None:
    cfg = parse("# c\nserial_no = 1\n\nvirtual v {\n  active = 1\n  server a {\n"
                "    weight = 3\n  }\n}\nserial_no = 2\n")
    assert cfg.key_line("serial_no") == 10
    vs = cfg.virtuals[0]
    assert vs.line == 4 and vs.key_line("active") == 5 and vs.key_line("port") == 4
    assert vs.servers[0].line == 6 and vs.servers[0].key_line("weight") == 7


def test_lines_do_not_affect_equality() -> None:
    assert parse("serial_no = 1\n") == parse("\n\n# moved\nserial_no = 1\n")


@pytest.mark.parametrize(("text", "line", "fragment", "key"), [
    ("", 0, "Empty configuration", None),
    ("  \n\t\r\n", 0, "Empty configuration", None),
    ("port = 80", 1, "unknown command at top level", "port"),
    ("serial_no=1", 1, "unknown command", "serial_no=1"),
    ("serial_no 1", 1, "equal (=) expected after command", "serial_no"),
    ("serial_no", 1, "equal (=) expected after command", "serial_no"),
    ("serial_no =", 1, "missing arguments", "serial_no"),
    ("serial_no = 1 2", 1, "unexpected arguments", "serial_no"),
    ("serial_no = 1 # one", 1, "unexpected arguments", "serial_no"),
    ("serial_no = abc", 1, "integer expected", "serial_no"),
    ("serial_no = 08", 1, "integer expected", "serial_no"),
    ("serial_no = 0x", 1, "integer expected", "serial_no"),
    ("serial_no = 1_000", 1, "integer expected", "serial_no"),
    ("serial_no = ''", 1, "integer expected", "serial_no"),
    ("serial_no = 1.5", 1, "integer expected", "serial_no"),
    ("keepalive = 1.5.2", 1, "integer expected", "keepalive"),
    ("keepalive = inf", 1, "integer expected", "keepalive"),
    # only blank and tab separate tokens (other whitespace is part of a token)
    ("serial_no = 1\x0b", 1, "integer expected", "serial_no"),
    ("serial_no = 1\x0c", 1, "integer expected", "serial_no"),
    ("serial_no = \xa01", 1, "integer expected", "serial_no"),
    ("serial_no = 1\u2003", 1, "integer expected", "serial_no"),
    ("# fine\nserial_no\x1f= 1", 2, "unknown command", "serial_no\x1f="),
    ("backup_active = 2", 1, "boolean expected", "backup_active"),
    ("backup_active = yes", 1, "integer expected", "backup_active"),
    ("heartbeat_port = no-such-service-xyz", 1, "integer expected", "heartbeat_port"),
    ('primary = "192.0.2.1', 1, "quotation mismatch", None),
    ('primary = "192.0.2.1"x', 1, "quotation mismatch", None),
    ("nat_router = 1.2.3.4 eth1 x", 1, "unexpected arguments", "nat_router"),
    ("dirs = a b", 1, "list expected", "dirs"),
    ("\n\nvirtual v {\n  active = 1\n", 3, "unexpected end of file", "virtual"),
    ("virtual v {\nserver s {\n}\n", 1, "unexpected end of file", "virtual"),
    ("virtual v {\nserver s {\n", 2, "unexpected end of file", "server"),
    ("virtual v\n", 1, "missing arguments", "virtual"),
    ("virtual v { x\n}", 1, "unexpected arguments", "virtual"),
    ("virtual v x\n}", 1, "'{' expected", "virtual"),
    ("virtual v{\n}", 1, "missing arguments", "virtual"),
    ("virtual v {\nvirtual w {\n}\n}", 2, "cannot be nested", "virtual"),
    ("virtual v {\nfailover w {\n}\n}", 2, "cannot be nested", "failover"),
    ("server s {\n}", 1, "server blocks belong inside", "server"),
    ("}", 1, "no block is open", "}"),
    ("virtual v {\n} }", 2, "unknown command", "}"),
    ("virtual v {\nheartbeat = 1\n}", 2, "unknown command in a virtual block", "heartbeat"),
    ("virtual v {\ndeadtime = 18\n}", 2, "unknown command", "deadtime"),
    ("virtual v {\nexpect_program = x\n}", 2, "unknown command", "expect_program"),
    ("virtual v {\nserver s {\nscheduler = rr\n}\n}", 3, "unknown command in a server block",
     "scheduler"),
    ("virtual v {\nserver s {\nport = http\n}\n}", 3, "integer expected", "port"),
    ("virtual v {\nserver s {\naddress = 1.2.3.4 eth0\n}\n}", 3, "unexpected arguments",
     "address"),
    ("virtual v {\nport = 80 81\n}", 2, "unexpected arguments", "port"),
    ("failover f {\nfwmark = x\n}", 2, "integer expected", "fwmark"),
])
def test_rejects(text: str, line: int, fragment: str, key: str | None) -> None:
    with pytest.raises(LvsCfError) as info:
        parse(text)
    err = info.value
    assert (err.line, err.problems[0].key) == (line, key)
    assert fragment in err.message


@pytest.mark.parametrize(("token", "value"), [
    ("0", 0), ("7", 7), ("010", 8), ("0x10", 16), ("-0x10", -16), ("00", 0), (" 12", 12),
    ("4294967296", 2 ** 32),
])
def test_c_int_matches_strtol(token: str, value: int) -> None:
    assert c_int(token) == value


@pytest.mark.parametrize("token", ["", "-", "0x", "09", "1e3", "١٢", "12 ", "0b1", "+-1"])
def test_c_int_rejects(token: str) -> None:
    with pytest.raises(Exception):
        c_int(token)
