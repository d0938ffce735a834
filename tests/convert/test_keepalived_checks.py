"""One keepalived checker as lvs.cf health-check keys: keepalived's counting, defaults and notes."""

from __future__ import annotations

import pytest

from piranha_web.convert.keepalived import read_keepalived, to_keepalived
from piranha_web.lvscf import LvsCfError, LvsConfig, RealServer, VirtualServer, Problem, validate
from piranha_web.lvscf.health import CheckSettings, check_settings


def _conf(checker: str, real: str = "", virtual: str = "delay_loop 10") -> str:
    """A virtual_server (lines 1-2) with one real server (line 3) holding ``checker`` from line 4."""
    return (f"virtual_server 192.0.2.10 80 {{ lb_kind DR\n    {virtual}\n"
            f"    real_server 192.0.2.20 80 {{ {real}\n{checker}\n    }}\n}}\n")


def _read(checker: str, real: str = "",
          virtual: str = "delay_loop 10") -> tuple[CheckSettings, list[Problem]]:
    cfg, notes = read_keepalived(_conf(checker, real, virtual))
    vs = cfg.virtuals[0]
    return check_settings(vs, vs.servers[0]), notes


@pytest.mark.parametrize(("checker", "fall"), [
    ("HTTP_GET { url { path / } }", 2), ("SSL_GET { url { path / } }", 2), ("TCP_CHECK { }", 2),
    ("UDP_CHECK { }", 2), ("DNS_CHECK { name x.example.test }", 4),
    ('MISC_CHECK { misc_path "/bin/true" }', 1),
])
def test_without_retry_keepalived_defaults_count(checker: str, fall: int) -> None:
    """keepalived retries N times (default 1; DNS 3; MISC 0), so N + 1 failures take a server out."""
    cs, notes = _read(checker)
    assert (cs.fall, notes) == (fall, [])


@pytest.mark.parametrize("retry", [0, 1, 2, 5])
def test_retry_n_is_fall_n_plus_one_at_every_level(retry: int) -> None:
    assert _read(f"TCP_CHECK {{ retry {retry} }}")[0].fall == retry + 1
    assert _read(f"HTTP_GET {{ url {{ path / }} nb_get_retry {retry} }}")[0].fall == retry + 1
    inherited = max(1, retry)         # a virtual or real server's retry is at least 1
    assert _read("TCP_CHECK { }", real=f"retry {inherited}")[0].fall == inherited + 1
    assert _read("TCP_CHECK { }", virtual=f"delay_loop 10\n    retry {inherited}")[0].fall == inherited + 1


@pytest.mark.parametrize("fall", [1, 2, 3, 7])
@pytest.mark.parametrize("check", ["tcp", "http", "https", "dns", "program"])
def test_export_writes_fall_as_retry_and_import_reads_it_back(fall: int, check: str) -> None:
    vs = VirtualServer("v", active=True, address="192.0.2.10", device="eth0", check=check, fall=fall,
                       check_query="x.example.test" if check == "dns" else None,
                       send_program="/bin/true %h" if check == "program" else None,
                       servers=[RealServer("r", "192.0.2.20", active=True)])
    cfg = LvsConfig(network="direct", virtuals=[vs])
    validate(cfg)
    text = to_keepalived(cfg)
    assert f"retry {fall - 1}" in text
    assert ("delay_before_retry" in text) == (fall > 1)
    back, notes = read_keepalived(text)
    assert notes == []
    assert check_settings(back.virtuals[0], back.virtuals[0].servers[0]).fall == fall


def test_delay_before_retry_other_than_the_interval_is_a_note() -> None:
    assert _read("TCP_CHECK { retry 2\n delay_before_retry 10 }")[1] == []
    cs, notes = _read("TCP_CHECK { retry 2\n delay_before_retry 3 }")
    assert cs.fall == 3 and [(p.line, p.key) for p in notes] == [(5, "delay_before_retry")]
    assert _read("TCP_CHECK { retry 0\n delay_before_retry 3 }")[1] == []    # never used: no retry


def test_timing_from_checker_real_server_and_virtual_server() -> None:
    cs, _ = _read("TCP_CHECK { connect_timeout 2 }", virtual="delay_loop 7")
    assert (cs.interval, cs.timeout) == (7, 2)
    cs, _ = _read("TCP_CHECK { }", real="connect_timeout 3", virtual="delay_loop 7")
    assert (cs.interval, cs.timeout) == (7, 3)
    cs, _ = _read("TCP_CHECK { delay_loop 4 }", virtual="delay_loop 7")
    assert (cs.interval, cs.timeout) == (4, 4)
    cs, notes = _read("TCP_CHECK { connect_timeout 9 }", virtual="delay_loop 7")
    assert (cs.interval, cs.timeout) == (7, 7)
    assert [(p.line, p.key) for p in notes] == [(4, "connect_timeout")]
    cs, _ = _read("TCP_CHECK { }", virtual="lb_algo rr")
    assert (cs.interval, cs.timeout) == (60, 5)          # keepalived's delay_loop and connect_timeout


def test_http_url_status_digest_host_and_port() -> None:
    cs, notes = _read("HTTP_GET { url { path /s\n status_code 200 301-302\n"
                      " digest 9E107D9D372BB6826BD81D3542A419D6\n regex \"ok\" }\n"
                      " connect_port 81\n virtualhost h.example.test }")
    assert notes == []
    assert (cs.kind, cs.path, cs.status, cs.port, cs.host) == ("http", "/s", ((200, 200), (301, 302)), 81,
                                                               "h.example.test")
    assert (cs.digest, cs.body) == ("9e107d9d372bb6826bd81d3542a419d6", "ok")


def test_a_bad_status_code_is_an_error_with_its_line() -> None:
    with pytest.raises(LvsCfError) as info:
        read_keepalived(_conf("HTTP_GET { url { path /\n status_code 700 } }"))
    assert (info.value.line, info.value.problems[0].key) == (5, "status_code")


def test_tls_sni_and_http_version_differences_are_notes() -> None:
    cs, notes = _read("SSL_GET { url { path / }\n virtualhost h.example.test\n enable_sni }")
    assert (cs.kind, cs.host, notes) == ("https", "h.example.test", [])
    _, notes = _read("SSL_GET { url { path / }\n virtualhost h.example.test }")
    assert [(p.line, p.key) for p in notes] == [(5, "virtualhost")]
    _, notes = _read("HTTP_GET { url { path / }\n http_protocol 1.1 }")
    assert [(p.line, p.key) for p in notes] == [(5, "http_protocol")]


def test_dns_defaults_are_keepalived_s() -> None:
    cs, _ = _read("DNS_CHECK { }")
    assert (cs.kind, cs.query, cs.qtype, cs.port) == ("dns", ".", "SOA", None)


def test_misc_check_user_and_fraction_of_a_second() -> None:
    _, notes = _read('MISC_CHECK { misc_path "/bin/true"\n user nobody }')
    assert [(p.line, p.key) for p in notes] == [(5, "user")]
    assert _read('MISC_CHECK { misc_path "/bin/true"\n user root }')[1] == []
    cs, _ = _read('MISC_CHECK { misc_path "/bin/true"\n misc_timeout 2\n ! piranha: misc_timeout 1.5\n }')
    assert cs.timeout == 1.5


def test_second_checker_unknown_keyword_and_no_checker() -> None:
    _, notes = _read("TCP_CHECK { bindto 192.0.2.1 }\nHTTP_GET { url { path / } }")
    assert [(p.line, p.key) for p in notes] == [(4, "bindto"), (5, "HTTP_GET")]
    cs, notes = _read("")
    assert (cs.kind, notes) == ("none", [])


def test_a_derived_checker_gives_back_piranha_s_keys() -> None:
    cs, _ = _read("HTTP_GET { url { path /x }\n ! piranha: derived\n retry 0 }")
    assert cs.kind == "tcp" and cs.path == "/"         # no send/expect here: Piranha's derived check


def test_a_malformed_keep_comment_is_an_error_with_its_line() -> None:
    for keep in ("{not json", '{"rise": "3"}', '{"check_path": "/x"}', "[1]"):
        with pytest.raises(LvsCfError) as info:
            read_keepalived(_conf("TCP_CHECK { }", real=f"\n! piranha: keep {keep}\n"))
        assert info.value.line == 3
