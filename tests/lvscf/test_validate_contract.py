"""Values pulse cannot run are refused by validation, naming the key and its line.

Each case was accepted by validation once and then crashed pulse on reload.
"""

from __future__ import annotations

import pytest

from piranha_web.lvscf import LvsCfError, load, parse, warnings

HEAD = "serial_no = 1\nnetwork = direct\n"             # lines 1-2


def _virtual(*lines: str) -> str:
    """An active virtual server whose extra keys start on line 6."""
    body = "".join(f"\t{line}\n" for line in lines)
    return (HEAD + "virtual web {\n\tactive = 1\n\taddress = 192.0.2.10 eth0:1\n" + body
            + "\tserver a {\n\t\taddress = 192.0.2.20\n\t\tactive = 1\n\t}\n}\n")


def _first(text: str) -> tuple[int, str | None, str]:
    with pytest.raises(LvsCfError) as info:
        load(text)
    p = info.value.problems[0]
    return p.line, p.key, p.message


@pytest.mark.parametrize(("lines", "key", "fragment"), [
    (("use_regex = 1", 'expect = "HTTP/1.[01] (200"'), "expect", "invalid regular expression"),
    (("send_program = '/bin/echo \"unbalanced'",), "send_program", "cannot be split"),
    (("timeout = 1e-320",), "timeout", "out of range"),
    (("timeout = 1e-300",), "timeout", "out of range"),
    (("reentry = 1e300",), "reentry", "out of range"),
    (("reentry = 1e308",), "reentry", "out of range"),
    (("timeout = 604801",), "timeout", "out of range"),
    (("persistent = 4294967295",), "persistent", "out of range"),
    (("fwmark = 4294967296",), "fwmark", "out of range"),
    (("port = 65536",), "port", "out of range"),
])
def test_crashing_virtual_values_are_refused_at_their_line(
        lines: tuple[str, ...], key: str, fragment: str) -> None:
    line, got_key, message = _first(_virtual(*lines))
    assert (got_key, fragment in message) == (key, True), message
    assert line == 5 + len(lines) if key != "expect" else line == 7


def test_a_regex_that_compiles_is_accepted() -> None:
    load(_virtual("use_regex = 1", 'expect = "HTTP/1.[01] (200|301)"'))


def test_an_invalid_regex_without_use_regex_is_a_plain_prefix() -> None:
    load(_virtual("use_regex = 0", 'expect = "HTTP/1.[01] (200"'))


@pytest.mark.parametrize("key", ["active_cmd", "inactive_cmd"])
def test_role_commands_must_split(key: str) -> None:
    line, got_key, message = _first(HEAD + f"{key} = '/usr/bin/logger \"unbalanced'\n")
    assert (line, got_key) == (3, key) and "cannot be split" in message


@pytest.mark.parametrize(("text", "key"), [
    (HEAD + "tcp_timeout = 2147484\n", "tcp_timeout"),
    (HEAD + "heartbeat_port = 65535\n", "heartbeat_port"),
    (HEAD + "keepalive = 1e-320\n", "keepalive"),
    (HEAD + "deadtime = 1e300\n", "deadtime"),
    (HEAD + "serial_no = 9223372036854775808\n", "serial_no"),
])
def test_global_numbers_are_bounded(text: str, key: str) -> None:
    assert _first(text)[1] == key


@pytest.mark.parametrize("key", ["port", "weight", "timeout", "serial_no"])
def test_integers_of_thousands_of_digits_are_a_line_numbered_error(key: str) -> None:
    digits = "9" * 5000
    if key == "serial_no":
        text = f"serial_no = {digits}\n"
        where = 1
    elif key == "weight":
        text = _virtual().replace("\t\tactive = 1\n\t}", f"\t\tactive = 1\n\t\tweight = {digits}\n\t}}")
        where = 9
    else:
        text = _virtual(f"{key} = {digits}")
        where = 6
    with pytest.raises(LvsCfError) as info:
        parse(text)
    p = info.value.problems[0]
    assert (p.line, p.key) == (where, key)
    assert "out of range" in p.message


def test_backup_placeholder_means_no_backup() -> None:
    cfg = load(HEAD + "primary = 192.0.2.1\nbackup_active = 0\nbackup = 0.0.0.0\n")
    assert cfg.backup == "0.0.0.0"


def test_backup_placeholder_cannot_be_an_active_backup() -> None:
    assert _first(HEAD + "backup_active = 1\nbackup = 0.0.0.0\n")[1] == "backup_active"


def test_short_deadtime_only_warns_without_a_backup() -> None:
    cfg = load(HEAD + "keepalive = 6\ndeadtime = 5\n")
    (warning,) = warnings(cfg)
    assert (warning.line, warning.key) == (4, "deadtime")
    assert _first(HEAD + "backup_active = 1\nbackup = 192.0.2.2\nkeepalive = 6\ndeadtime = 5\n")[:2] == \
        (6, "deadtime")


def test_utf8_bom_is_ignored() -> None:
    cfg = load("\ufeff" + HEAD)
    assert cfg.serial_no == 1


def test_every_syntax_error_is_reported() -> None:
    text = ("serial_no = x\nnetwork = direct\nbogus = 1\nvirtual v {\n\tport = 8o\n\tactive = 1\n"
            "\taddress = 192.0.2.1\n\tserver a b {\n\t\tweight = w\n\t}\n}\n}\n")
    with pytest.raises(LvsCfError) as info:
        parse(text)
    assert [(p.line, p.key) for p in info.value.problems] == [
        (1, "serial_no"), (3, "bogus"), (5, "port"), (8, "server"), (9, "weight"), (12, "}")]
