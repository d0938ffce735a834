"""Properties: parse(dumps(c)) == c for valid configs; bad input only raises LvsCfError."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from piranha_web.lvscf import (
    FailoverService,
    LvsCfError,
    LvsConfig,
    RealServer,
    VirtualServer,
    dumps,
    parse,
    validate,
)
from piranha_web.lvscf.model import (
    CONFLICT_ACTIONS,
    LOAD_MONITORS,
    NETWORKS,
    PROTOCOLS,
    SCHEDULERS,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "lvscf"
CORPUS = [p.read_text(encoding="utf-8") for p in sorted(DATA.glob("*.cf"))]
BROKEN = [p.read_text(encoding="utf-8") for p in sorted((DATA / "broken").glob("*.cf"))]

SETTINGS = settings(max_examples=500, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# --------------------------------------------------------------------------- strategies

NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.:@=\"'{}[]"
names = st.text(NAME_CHARS, min_size=1, max_size=8).filter(
    lambda s: s[0] not in "\"'#" and s not in ("{", "}", "=") and not ('"' in s and "'" in s))
# Free text: anything a line can carry (no line breaks, NUL or both quote kinds).
free_text = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\n\r\x00"),
    max_size=12).filter(lambda s: not ('"' in s and "'" in s))
paths = st.builds(lambda s: "/" + s, free_text)
ipv4 = st.ip_addresses(v=4).filter(lambda a: not a.is_unspecified).map(str)
ipv6 = st.ip_addresses(v=6).filter(lambda a: not a.is_unspecified).map(str)
devices = st.sampled_from(["eth0", "eth0:1", "eth1:12", "bond0.100", "enp3s0f1:vip"])
masks = st.integers(0, 32).map(lambda n: ".".join(str(((0xFFFFFFFF << (32 - n)) >> s) & 255)
                                                  for s in (24, 16, 8, 0)))
seconds = st.one_of(st.integers(1, 86400),
                    st.floats(0.001, 86400, allow_nan=False, allow_infinity=False))
ports = st.integers(1, 65535)


@st.composite
def real_servers(draw: st.DrawFn, index: int, family: str, fwmark: bool) -> RealServer:
    address = draw(ipv4 if family == "v4" else ipv6)
    port = draw(st.none() | (st.integers(0, 65535) if fwmark else ports))
    return RealServer(name=f"{draw(names)}{index}", address=address,
                      active=draw(st.booleans()), weight=draw(st.integers(0, 65535)), port=port)


@st.composite
def virtual_servers(draw: st.DrawFn, index: int) -> VirtualServer:
    family = draw(st.sampled_from(["v4", "v6"]))
    fwmark = draw(st.none() | st.integers(1, 2 ** 32 - 1))
    vs = VirtualServer(
        name=f"{draw(names)}{index}",
        active=draw(st.booleans()),
        address=draw(ipv4 if family == "v4" else ipv6),
        device=draw(st.none() | devices),
        vip_nmask=draw(st.none() | (masks if family == "v4" else st.integers(0, 128).map(str))),
        sorry_server=draw(st.none() | (ipv4 if family == "v4" else ipv6)),
        fwmark=fwmark,
        port=draw(st.integers(0, 65535) if fwmark else ports),
        protocol=draw(st.sampled_from(PROTOCOLS)),
        scheduler=draw(st.sampled_from(SCHEDULERS)),
        persistent=draw(st.integers(0, 2 ** 32 - 1)),
        pmask=draw(st.none() | (masks if family == "v4" else st.integers(0, 128).map(str))),
        send=draw(st.none() | free_text),
        expect=draw(st.none() | free_text),
        use_regex=draw(st.booleans()),
        send_program=draw(st.none() | paths),
        load_monitor=draw(st.none() | st.sampled_from(LOAD_MONITORS)),
        timeout=draw(seconds),
        reentry=draw(st.just(0) | seconds),
        quiesce_server=draw(st.booleans()),
        client_monitor=draw(st.none() | paths),
    )
    seen: set[tuple[str, int]] = set()
    for i in range(draw(st.integers(0, 3))):
        rs = draw(real_servers(i, family, fwmark is not None))
        target = (rs.address, vs.server_port(rs))
        if target not in seen:
            seen.add(target)
            vs.servers.append(rs)
    return vs


@st.composite
def failover_services(draw: st.DrawFn, index: int) -> FailoverService:
    return FailoverService(
        name=f"{draw(names)}{index}", active=draw(st.booleans()), address=draw(ipv4),
        device=draw(st.none() | devices), vip_nmask=draw(st.none() | masks),
        port=draw(ports), send=draw(st.none() | free_text), expect=draw(st.none() | free_text),
        timeout=draw(seconds), reentry=draw(st.just(0) | seconds),
        start_cmd=draw(paths), stop_cmd=draw(paths))


@st.composite
def configs(draw: st.DrawFn) -> LvsConfig:
    keepalive = draw(seconds)
    backup = draw(st.none() | ipv4)
    cfg = LvsConfig(
        serial_no=draw(st.integers(0, 2 ** 40)),
        primary=draw(st.none() | ipv4 | ipv6),
        primary_private=draw(st.none() | ipv4),
        primary_shared=draw(st.none() | free_text),
        service=draw(st.sampled_from(["lvs", "fos"])),
        rsh_command=draw(st.none() | free_text),
        backup_active=backup is not None and draw(st.booleans()),
        backup=backup,
        backup_private=draw(st.none() | ipv4),
        backup_shared=draw(st.none() | free_text),
        heartbeat=draw(st.booleans()),
        heartbeat_port=draw(ports),
        keepalive=keepalive,
        deadtime=keepalive + draw(seconds),
        heartbeat_key_file=draw(st.none() | paths),
        network=draw(st.sampled_from(NETWORKS)),
        nat_router=draw(ipv4),
        nat_router_device=draw(st.none() | devices),
        nat_nmask=draw(st.none() | masks),
        reservation_conflict_action=draw(st.none() | st.sampled_from(CONFLICT_ACTIONS)),
        debug_level=draw(st.sampled_from(["NONE", "LOW", "x y"])),
        active_cmd=draw(st.none() | paths),
        inactive_cmd=draw(st.none() | paths),
        monitor_links=draw(st.integers(0, 1)),
        syncdaemon=draw(st.booleans()),
        syncd_iface=draw(st.none() | st.sampled_from(["eth0", "eth1", "bond0.7"])),
        syncd_id=draw(st.none() | st.integers(0, 255)),
        tcp_timeout=draw(st.integers(0, 2 ** 32 - 1)),
        tcpfin_timeout=draw(st.integers(0, 600)),
        udp_timeout=draw(st.integers(0, 600)),
        hard_shutdown=draw(st.booleans()),
        ipvsadm=draw(st.none() | paths),
        sync=draw(st.booleans()),
    )
    claims: set[tuple[object, ...]] = set()
    for i in range(draw(st.integers(0, 3))):
        vs = draw(virtual_servers(i))
        claim = ("fw", vs.fwmark) if vs.fwmark else (vs.address, vs.port, vs.protocol)
        if vs.active and claim in claims:
            vs.active = False
        if vs.active:
            claims.add(claim)
        assert vs.address is not None
        if cfg.network != "tunnel":     # only tunnel mixes address families
            vs.servers = [s for s in vs.servers if (":" in s.address) == (":" in vs.address)]
            if vs.sorry_server and (":" in vs.sorry_server) != (":" in vs.address):
                vs.sorry_server = None
        cfg.virtuals.append(vs)
    for i in range(draw(st.integers(0, 2))):
        cfg.failovers.append(draw(failover_services(i)))
    return cfg


# --------------------------------------------------------------------------- properties

@SETTINGS
@given(configs())
def test_generated_configs_are_valid_and_round_trip(cfg: LvsConfig) -> None:
    validate(cfg)
    text = dumps(cfg)
    again = parse(text)
    assert again == cfg
    validate(again)
    assert dumps(again) == text


@SETTINGS
@given(st.text(max_size=300))
def test_arbitrary_text_only_raises_lvscf_error(text: str) -> None:
    _exercise(text)


line_soup = st.lists(st.sampled_from([
    "virtual v {", "server s {", "failover f {", "}", "port = 80", "address = 192.0.2.1 eth0:1",
    "active = 1", "send = \"x\"", "# c", "", "\t", "dirs = [ a ]", "weight = 0x10",
    "fwmark = 0", "timeout = 1.5", "network = nat", "nat_router = 10.0.0.1",
]), max_size=30).map("\n".join)


@SETTINGS
@given(line_soup)
def test_statement_soup_only_raises_lvscf_error(text: str) -> None:
    _exercise(text)


@SETTINGS
@given(st.sampled_from(CORPUS + BROKEN), st.data())
def test_mutated_files_only_raise_lvscf_error(text: str, data: st.DataObject) -> None:
    for _ in range(data.draw(st.integers(1, 4))):
        if not text:
            text = data.draw(st.text(max_size=5))
            continue
        pos = data.draw(st.integers(0, len(text) - 1))
        action = data.draw(st.sampled_from(["delete", "insert", "replace", "dup-line",
                                            "drop-line", "swap"]))
        if action == "delete":
            text = text[:pos] + text[pos + data.draw(st.integers(1, 10)):]
        elif action == "insert":
            text = text[:pos] + data.draw(st.text(max_size=8)) + text[pos:]
        elif action == "replace":
            text = text[:pos] + data.draw(st.sampled_from(
                list("\"'{}=#\r\n\t 0x.:[]") + ["\x00", "é"])) + text[pos + 1:]
        else:
            lines = text.split("\n")
            i = data.draw(st.integers(0, len(lines) - 1))
            j = data.draw(st.integers(0, len(lines) - 1))
            if action == "dup-line":
                lines.insert(j, lines[i])
            elif action == "drop-line":
                del lines[i]
            else:
                lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
    _exercise(text)


def _exercise(text: str) -> None:
    """Every stage either works or raises LvsCfError; a valid result must round-trip."""
    try:
        cfg = parse(text)
    except LvsCfError:
        return
    try:
        validate(cfg)
    except LvsCfError as err:
        assert err.problems
        valid = False
    else:
        valid = True
    try:
        out = dumps(cfg)
    except LvsCfError:
        assert not valid
        return
    again = parse(out)
    assert again == cfg
    if valid:
        validate(again)
