"""The validator reports every semantic problem, each at the line of its key."""

from __future__ import annotations

import pytest

from piranha_web.lvscf import (
    FailoverService,
    LvsCfError,
    LvsConfig,
    RealServer,
    VirtualServer,
    load,
    parse,
    validate,
)
from piranha_web.lvscf.rules import valid_ifname
from piranha_web.lvscf.validate import problems

HEAD = "serial_no = 1\nnetwork = direct\n"          # lines 1-2


def _problems(text: str) -> list[tuple[int, str | None, str]]:
    return [(p.line, p.key, p.message) for p in problems(parse(text))]


def _vs(body: str, servers: str = "") -> str:
    """HEAD + one active virtual: the body starts on line 6."""
    return (HEAD + "virtual v {\n active = 1\n address = 192.0.2.10 eth0:1\n"
            + body + "\n" + servers + "}\n")


def test_minimal_configs_are_valid() -> None:
    validate(LvsConfig())
    validate(parse("serial_no = 1\n"))
    validate(parse(_vs("port = 80", "server a {\naddress = 192.0.2.100\nactive = 1\n}\n")))


@pytest.mark.parametrize(("text", "line", "key", "fragment"), [
    # addresses
    (HEAD + "primary = gnome.gnomernd.com", 3, "primary", "host names are not resolved"),
    (HEAD + "primary = 0.0.0.0", 3, "primary", "invalid host name"),
    (HEAD + "backup = 10.1", 3, "backup", "invalid host name"),
    (HEAD + "backup = 010.0.0.1", 3, "backup", "invalid host name"),
    (HEAD + "primary_private = 300.1.1.1", 3, "primary_private", "invalid host name"),
    (_vs("sorry_server = sorry.example"), 6, "sorry_server", "invalid host name"),
    (_vs("", "server a {\naddress = real.example\n}\n"), 8, "address", "invalid host name"),
    (_vs("", "server a {\nactive = 1\n}\n"), 7, "address", "not a usable address"),
    (HEAD + "virtual v {\nactive = 1\n}", 3, "address", "address is required"),
    (HEAD + "virtual v {\naddress = 2001:db8::1 eth0\n}\n", 0, None, ""),
    (_vs("", "server a {\naddress = 2001:db8::1\n}\n"), 8, "address", "different IP families"),
    # IPv6: special VIPs, prefix lengths, mixed families (also in tunnel mode), nat_router6
    (HEAD + "virtual v {\naddress = ::ffff:192.0.2.10 eth0\n}\n", 4, "address", "IPv4-mapped"),
    (HEAD + "virtual v {\naddress = fe80::10 eth0\n}\n", 4, "address", "link-local"),
    (HEAD + "virtual v {\naddress = 2001:db8::10 eth0\nvip_nmask = 129\n}\n", 5, "vip_nmask",
     "bad prefix length 129"),
    (HEAD.replace("direct", "tunnel") + "virtual v {\naddress = 2001:db8::10 eth0\nserver a {\n"
     "address = 192.0.2.1\n}\n}\n", 6, "address", "different IP families"),
    (HEAD + "virtual v {\naddress = 2001:db8::10 eth0\nsorry_server = 192.0.2.1\n}\n", 5,
     "sorry_server", "different IP families"),
    (HEAD + "nat_router6 = 192.0.2.254 eth1", 3, "nat_router6", "must be an IPv6 address"),
    (HEAD + "nat_router6 = 2001:db8:1::254 eth1\nnat_nmask6 = 129", 4, "nat_nmask6", "bad prefix length"),
    (HEAD + "nat_router6 = 2001:db8:1::254 eth1\nnat_nmask6 = 255.255.255.0", 4, "nat_nmask6",
     "bad prefix length"),
    (HEAD + "nat_router = 2001:db8:1::254 eth1\nnat_nmask = 64", 0, None, ""),
    (HEAD + "nat_router6 = 2001:db8:1::254 eth1:1\nnat_nmask6 = 64", 0, None, ""),
    (HEAD + "virtual v {\naddress = 2001:db8::10 eth0:1\nvip_nmask = 64\n}\n", 0, None, ""),
    # masks
    (_vs("vip_nmask = 255.0.255.0"), 6, "vip_nmask", "Bad subnet mask"),
    (_vs("vip_nmask = 255.255.255.256"), 6, "vip_nmask", "Bad subnet mask"),
    (_vs("vip_nmask = 33"), 6, "vip_nmask", "Bad subnet mask"),
    (_vs("pmask = 0.255.255.255"), 6, "pmask", "Bad subnet mask"),
    (HEAD + "nat_nmask = 24", 3, "nat_nmask", "Bad subnet mask"),
    (HEAD + "virtual v {\naddress = 2001:db8::1 eth0\nvip_nmask = 255.255.255.0\n}", 5,
     "vip_nmask", "IPv6"),
    # numbers and ranges
    (_vs("port = 0"), 6, "port", "out of range"),
    (_vs("port = 65536"), 6, "port", "out of range"),
    (_vs("fwmark = 0x100000000"), 6, "fwmark", "out of range"),
    (_vs("fwmark = -1"), 6, "fwmark", "out of range"),
    (_vs("persistent = -1"), 6, "persistent", "out of range"),
    (_vs("timeout = 0"), 6, "timeout", "more than 0"),
    (_vs("reentry = -1"), 6, "reentry", "0 or more"),
    (_vs("", "server a {\nweight = 65536\n}\n"), 8, "weight", "out of range"),
    (_vs("", "server a {\nweight = -1\n}\n"), 8, "weight", "out of range"),
    (_vs("", "server a {\nport = 0\n}\n"), 8, "port", "out of range"),
    (HEAD + "heartbeat_port = 0", 3, "heartbeat_port", "out of range"),
    (HEAD + "serial_no = -1", 3, "serial_no", "out of range"),
    (HEAD + "syncd_id = 256", 3, "syncd_id", "out of range"),
    (HEAD + "tcp_timeout = -5", 3, "tcp_timeout", "out of range"),
    (HEAD + "keepalive = 0", 3, "keepalive", "more than 0"),
    (HEAD + "backup_active = 1\nbackup = 192.0.2.2\nkeepalive = 6\ndeadtime = 5", 6, "deadtime",
     "longer than keepalive"),
    # enumerations
    (_vs("scheduler = fifo"), 6, "scheduler", "invalid argument"),
    (_vs("protocol = sctp"), 6, "protocol", "invalid argument"),
    (_vs("protocol = TCP"), 6, "protocol", "invalid argument"),
    (_vs("load_monitor = sar"), 6, "load_monitor", "invalid argument"),
    (HEAD + "service = both", 3, "service", "invalid argument"),
    (HEAD + "network = route", 3, "network", "invalid argument"),
    (HEAD + "reservation_conflict_action = fight", 3, "reservation_conflict_action",
     "invalid argument"),
    # devices
    (_vs("").replace("eth0:1", "averyveryverylongname0"), 5, "address", "invalid device"),
    (_vs("").replace("eth0:1", "eth0/1"), 5, "address", "invalid device"),
    (_vs("").replace("eth0:1", "eth0:"), 5, "address", "invalid device"),
    (HEAD + "syncd_iface = eth0:1", 3, "syncd_iface", "invalid device"),
    (HEAD + "nat_router = 192.168.1.1 eth1/x", 3, "nat_router", "invalid device"),
    # commands
    (HEAD + "active_cmd = notify", 3, "active_cmd", "absolute path"),
    (_vs("send_program = 'check %h'"), 6, "send_program", "absolute path"),
    # redundancy
    (HEAD + "backup_active = 1", 3, "backup_active", "no backup address"),
    ("serial_no = 1\n" + "virtual v {\nactive = 1\naddress = 192.0.2.1 eth0:1\n}\n", 0,
     "network", "needs nat_router"),
    # duplicates and claims
    (_vs("", "server a {\naddress = 192.0.2.1\n}\nserver a {\naddress = 192.0.2.2\n}\n"), 10,
     "server", "duplicate server name"),
    (_vs("port = 80", "server a {\naddress = 192.0.2.1\n}\nserver b {\naddress = 192.0.2.1\n"
         "port = 80\n}\n"), 11, "address", "appears twice"),
    (_vs("") + "virtual v {\n}\n", 8, "virtual", "duplicate virtual server name"),
    (_vs("") + "virtual w {\nactive = 1\naddress = 192.0.2.10 eth0:2\n}\n", 8, "port",
     "both claim 192.0.2.10:80/tcp"),
    (_vs("fwmark = 5") + "virtual w {\nactive = 1\naddress = 192.0.2.11\nfwmark = 5\n}\n", 11,
     "fwmark", "both claim fwmark 5"),
    (HEAD + "failover f {\n}\nfailover f {\n}\n", 5, "failover", "duplicate failover"),
    (HEAD.replace("serial_no = 1", "service = fos") + "failover f {\nactive = 1\n"
     "address = 192.0.2.5 eth0:1\n}\n", 3, "start_cmd", "required"),
    # names and values that would break the file
    (HEAD + 'virtual "a b" {\n}', 3, "virtual", "invalid virtual name"),
    (HEAD + "virtual '#x' {\n}", 3, "virtual", "invalid virtual name"),
    (HEAD + "virtual '{' {\n}", 3, "virtual", "invalid virtual name"),
    (HEAD + "virtual \"'q\" {\n}", 3, "virtual", "invalid virtual name"),
    (HEAD + 'virtual "" {\n}', 3, "virtual", "name is required"),
])
def test_problem_reported_at_key_line(text: str, line: int, key: str | None,
                                      fragment: str) -> None:
    found = _problems(text)
    if key is None:         # the rule has no problem here (positive control)
        assert found == [] or all("device" not in m for _, _, m in found)
        return
    assert any(line_ == line and key_ == key and fragment in msg
               for line_, key_, msg in found), found


def test_nat_router_line_points_at_network() -> None:
    found = _problems("serial_no = 1\nnetwork = nat\nvirtual v {\nactive = 1\n"
                      "address = 192.0.2.1 eth0:1\n}\n")
    assert found == [(2, "network", "network = nat needs nat_router (the real servers' gateway)")]


def test_nat_router_not_needed_without_active_virtuals_or_in_fos_mode() -> None:
    validate(parse("network = nat\nvirtual v {\naddress = 192.0.2.1 eth0:1\n}\n"))
    validate(parse("service = fos\nnetwork = nat\nvirtual v {\nactive = 1\n"
                   "address = 192.0.2.1 eth0:1\n}\n"))


def test_every_problem_is_collected_sorted_by_line() -> None:
    text = (HEAD + "keepalive = 0\nvirtual v {\nscheduler = x\nprotocol = y\nport = 0\n"
            "server a {\nweight = -1\n}\n}\nbackup_active = 1\n")
    with pytest.raises(LvsCfError) as info:
        load(text)
    lines = [p.line for p in info.value.problems]
    assert lines == sorted(lines)
    keys = {p.key for p in info.value.problems}
    assert {"keepalive", "scheduler", "protocol", "port", "weight", "backup_active"} <= keys
    assert info.value.line == 3


def test_port_zero_allowed_with_fwmark() -> None:
    validate(parse(_vs("fwmark = 7\nport = 0", "server a {\naddress = 192.0.2.9\n}\n")))


def test_inactive_placeholders_from_the_gui_are_accepted() -> None:
    validate(parse(HEAD + "virtual new {\nactive = 0\naddress = 0.0.0.0 eth0:1\n"
                          "server blank {\naddress = 0.0.0.0\nactive = 0\n}\n}\n"))


def test_inactive_virtuals_may_share_a_vip() -> None:
    validate(parse(_vs("") + "virtual w {\naddress = 192.0.2.10 eth0:1\n}\n"))


def test_same_vip_different_protocol_is_fine() -> None:
    validate(parse(_vs("") + "virtual w {\nactive = 1\naddress = 192.0.2.10 eth0:1\n"
                             "protocol = udp\n}\n"))


def test_objects_built_in_code_report_line_zero() -> None:
    cfg = LvsConfig(network="direct", virtuals=[VirtualServer(
        name="v", active=True, address="192.0.2.1", scheduler="bogus",
        servers=[RealServer(name="a", address="not-an-ip")])],
        failovers=[FailoverService(name="f", port=0)])
    with pytest.raises(LvsCfError) as info:
        validate(cfg)
    assert {(p.line, p.key) for p in info.value.problems} == {
        (0, "scheduler"), (0, "address"), (0, "port")}


@pytest.mark.parametrize(("value", "key"), [
    ("a\nb", "send"), ("a\rb", "expect"), ("a\x00b", "send_program"), ("it's \"x\"", "send"),
])
def test_values_that_would_break_the_file(value: str, key: str) -> None:
    vs = VirtualServer(name="v", address="192.0.2.1")
    setattr(vs, key, value)
    found = problems(LvsConfig(network="direct", virtuals=[vs]))
    assert any(p.key == key for p in found), found


def test_wrong_python_types_are_problems_not_crashes() -> None:
    cfg = LvsConfig(network="direct", keepalive="6", serial_no=1.5,  # type: ignore[arg-type]
                    virtuals=[VirtualServer(name="v", active=1, port="80")])  # type: ignore
    keys = {p.key for p in problems(cfg)}
    assert {"keepalive", "serial_no", "active", "port"} <= keys


@pytest.mark.parametrize(("name", "ok"), [
    ("eth0", True), ("eth0:1", True), ("bond0.100", True), ("enp3s0f1", True),
    ("veth-a_b", True), ("a" * 15, True), ("a" * 16, False), ("eth0:1:2", False),
    ("", False), (".", False), ("..", False), ("eth 0", False), ("eth0/1", False),
    (":1", False), ("eth0:", False),
])
def test_ifname_rules(name: str, ok: bool) -> None:
    assert valid_ifname(name) is ok


def test_ipv6_only_nat_needs_no_ipv4_nat_router() -> None:
    text = ("serial_no = 1\nnetwork = nat\nnat_router6 = 2001:db8:1::254 eth1\nnat_nmask6 = 64\n"
            "virtual v {\nactive = 1\naddress = 2001:db8:10::10 eth0\nvip_nmask = 64\n"
            "server r {\naddress = 2001:db8:1::1\n}\n}\n")
    assert _problems(text) == []
    # an IPv4 virtual beside it still needs the IPv4 gateway
    both = text + "virtual w {\nactive = 1\naddress = 192.0.2.10 eth0:1\n}\n"
    assert [(k, m) for _line, k, m in _problems(both)] == [
        ("network", "network = nat needs nat_router (the real servers' gateway)")]
