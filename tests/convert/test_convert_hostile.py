"""Converters given hostile values: every string quoted, overlong numbers refused with a line."""

from __future__ import annotations

import pytest

from piranha_web.convert.jsonfmt import from_json
from piranha_web.convert.keepalived import from_keepalived, to_keepalived
from piranha_web.lvscf import LvsCfError, LvsConfig, RealServer, VirtualServer, dumps, load, validate


def _config(send: str, send_program: str | None = None) -> LvsConfig:
    vs = VirtualServer("web", active=True, address="192.0.2.10", device="eth0:1", send=send,
                       expect="HTTP", send_program=send_program,
                       servers=[RealServer("r1", "192.0.2.20", active=True)])
    cfg = LvsConfig(network="direct", virtuals=[vs])
    validate(cfg)
    return load(dumps(cfg))


@pytest.mark.parametrize("path", ["/a}b", "/}", "/{x", "/a!b#c", "/x}\tvirtual_server"])
def test_braces_in_send_do_not_make_a_second_virtual_server(path: str) -> None:
    cfg = _config(f"GET {path.split()[0]} HTTP/1.0\\r\\nHost: h}}x\\r\\n\\r\\n")
    text = to_keepalived(cfg)
    assert text.count("virtual_server ") == 1
    back = from_keepalived(text)
    assert [v.name for v in back.virtuals] == ["web"]
    assert back.virtuals[0].send == cfg.virtuals[0].send
    assert to_keepalived(back) == text


def test_every_string_from_a_value_is_quoted() -> None:
    text = to_keepalived(_config("GET /status HTTP/1.0\\r\\nHost: example\\r\\n\\r\\n"))
    assert 'path "/status"' in text and 'virtualhost "example"' in text


def test_program_line_is_quoted_or_refused() -> None:
    text = to_keepalived(_config("", send_program="/usr/bin/check {x} %h"))
    assert 'misc_path "/usr/bin/check {x} 192.0.2.20"' in text
    assert len(from_keepalived(text).virtuals) == 1
    with pytest.raises(LvsCfError) as info:
        to_keepalived(_config("", send_program="/usr/bin/check 'a\"b'"))
    assert info.value.problems[0].key == "send_program"


def test_unquotable_request_becomes_a_noted_connect_check() -> None:
    text = to_keepalived(_config('GET /a"b HTTP/1.0\\r\\n\\r\\n'))
    assert "HTTP_GET" not in text and "TCP_CHECK" in text
    assert "! piranha: send/expect check not expressible here" in text


@pytest.mark.parametrize("hint", ["serial_no", "reentry", "port"])
def test_overlong_numbers_in_keepalived_hints_are_refused_with_a_line(hint: str) -> None:
    digits = "9" * 5000
    text = to_keepalived(_config("GET / HTTP/1.0\\r\\n\\r\\n"))
    if hint == "serial_no":
        text = text.replace("! piranha: serial_no 0", f"! piranha: serial_no {digits}")
        assert from_keepalived(text).serial_no == 0
        return
    if hint == "reentry":
        text = text.replace("! piranha: reentry 180", f"! piranha: reentry {digits}")
    else:
        text = text.replace("real_server 192.0.2.20 80 {", f"real_server 192.0.2.20 {digits} {{")
    with pytest.raises(LvsCfError) as info:
        from_keepalived(text)
    assert info.value.problems[0].line > 0


def test_json_with_an_overlong_integer_or_deep_nesting_is_an_error() -> None:
    with pytest.raises(LvsCfError):
        from_json('{"serial_no": ' + "9" * 5000 + "}")
    with pytest.raises(LvsCfError):
        from_json("[" * 100000 + "]" * 100000)
    with pytest.raises(LvsCfError) as info:
        from_json('{"keepalive": NaN}')
    assert info.value.problems[0].key == "keepalive"
