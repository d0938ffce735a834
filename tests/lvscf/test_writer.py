"""The writer produces Piranha's GUI layout and only what changes meaning."""

from __future__ import annotations

from pathlib import Path

import pytest

from piranha_web.lvscf import (
    FailoverService,
    LvsCfError,
    LvsConfig,
    RealServer,
    VirtualServer,
    dumps,
    parse,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "lvscf"


def test_seed_file_is_reproduced_exactly_up_to_indentation() -> None:
    seed = (DATA / "seed.cf").read_text()
    expected = "\n".join(line.strip(" ") if not line.startswith(" ") else
                         "\t" * ((len(line) - len(line.lstrip(" "))) // 4) + line.strip(" ")
                         for line in seed.splitlines()) + "\n"
    assert dumps(parse(seed)) == expected


def test_defaults_write_only_the_keys_the_gui_always_writes() -> None:
    assert dumps(LvsConfig()) == (
        "serial_no = 0\nservice = lvs\nbackup_active = 0\nheartbeat = 0\n"
        "heartbeat_port = 539\nkeepalive = 2\ndeadtime = 5\nnetwork = nat\n"
        "debug_level = NONE\n")


def test_block_layout_and_order() -> None:
    cfg = LvsConfig(
        virtuals=[VirtualServer(name="web", servers=[RealServer(name="a"),
                                                     RealServer(name="b", port=8080)])],
        failovers=[FailoverService(name="ftp", start_cmd="/x start")])
    text = dumps(cfg)
    assert text.index("failover ftp {") < text.index("virtual web {")
    assert (
        "virtual web {\n\tactive = 0\n\tport = 80\n\tuse_regex = 0\n\tscheduler = wlc\n"
        "\tprotocol = tcp\n\ttimeout = 10\n\treentry = 180\n\tquiesce_server = 0\n"
        "\tserver a {\n\t\taddress = 0.0.0.0\n\t\tactive = 0\n\t\tweight = 1\n\t}\n"
        "\tserver b {\n\t\taddress = 0.0.0.0\n\t\tactive = 0\n\t\tport = 8080\n"
        "\t\tweight = 1\n\t}\n}\n") in text
    assert ('failover ftp {\n\tactive = 0\n\tport = 80\n\ttimeout = 10\n\treentry = 180\n'
            '\tstart_cmd = "/x start"\n}\n') in text


@pytest.mark.parametrize(("field", "value", "line"), [
    ("send", "GET / HTTP/1.0\\r\\n\\r\\n", 'send = "GET / HTTP/1.0\\r\\n\\r\\n"'),
    ("send", 'say "hi"', "send = 'say \"hi\"'"),
    ("expect", "HTTP", 'expect = "HTTP"'),
    ("expect", "", 'expect = ""'),
    ("expect", "a'b\"c", "expect = a'b\"c"),
    ("send_program", "/bin/check %h", 'send_program = "/bin/check %h"'),
    ("client_monitor", "/usr/sbin/nanny", "client_monitor = /usr/sbin/nanny"),
    ("client_monitor", "/opt/my nanny", 'client_monitor = "/opt/my nanny"'),
    ("load_monitor", "'odd", "load_monitor = \"'odd\""),
    ("timeout", 6.0, "timeout = 6"),
    ("timeout", 2.5, "timeout = 2.5"),
    ("reentry", 0.001, "reentry = 0.001"),
    ("fwmark", 80, "fwmark = 80"),
    ("persistent", 300, "persistent = 300"),
    ("pmask", "255.255.255.0", "pmask = 255.255.255.0"),
    ("quiesce_server", True, "quiesce_server = 1"),
])
def test_value_rendering(field: str, value: object, line: str) -> None:
    vs = VirtualServer(name="v")
    setattr(vs, field, value)
    cfg = LvsConfig(virtuals=[vs])
    text = dumps(cfg)
    assert "\t" + line + "\n" in text
    assert parse(text) == cfg


@pytest.mark.parametrize(("field", "value", "line"), [
    ("nat_router", "192.168.1.10", "nat_router = 192.168.1.10"),
    ("keepalive", 6, "keepalive = 6"),
    ("hard_shutdown", False, "hard_shutdown = 0"),
    ("syncd_id", 0, "syncd_id = 0"),
    ("active_cmd", "/bin/notify active", 'active_cmd = "/bin/notify active"'),
    ("tcp_timeout", 900, "tcp_timeout = 900"),
    ("sync", True, "sync = 1"),
])
def test_global_rendering(field: str, value: object, line: str) -> None:
    cfg = LvsConfig()
    setattr(cfg, field, value)
    text = dumps(cfg)
    assert line in text.splitlines()
    assert parse(text) == cfg


@pytest.mark.parametrize(("field", "default"), [
    ("hard_shutdown", True), ("monitor_links", 0), ("syncdaemon", False), ("tcp_timeout", 0),
    ("sync", False), ("ipvsadm", None), ("syncd_id", None),
])
def test_defaults_are_not_written(field: str, default: object) -> None:
    assert field not in dumps(LvsConfig())


@pytest.mark.parametrize("value", ["a\nb", "a\rb", "both ' and \" with blanks"])
def test_unwritable_values_raise(value: str) -> None:
    with pytest.raises(LvsCfError) as info:
        dumps(LvsConfig(virtuals=[VirtualServer(name="v", send=value)]))
    assert info.value.problems[0].key == "send"


def test_names_are_quoted_when_needed() -> None:
    cfg = LvsConfig(virtuals=[VirtualServer(name="my web")])
    assert 'virtual "my web" {' in dumps(cfg)
    assert parse(dumps(cfg)) == cfg


def test_server_port_inheritance_survives_round_trip() -> None:
    cfg = parse("virtual v {\nserver a {\n}\nport = 81\n}\n")
    assert cfg.virtuals[0].servers[0].port == 80
    again = parse(dumps(cfg))
    assert again == cfg
    assert again.virtuals[0].server_port(again.virtuals[0].servers[0]) == 80
