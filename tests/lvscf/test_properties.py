"""Properties: parse(dumps(c)) == c for valid configs; bad input only raises LvsCfError."""

from __future__ import annotations

import re
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
from piranha_web.lvscf.health import expect_pattern, split_program
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


def _splits(command: str) -> bool:
    try:
        return split_program(command)[0].startswith("/")
    except ValueError:
        return False


def _compiles(expect: str | None) -> bool:
    try:
        expect_pattern(expect or "")
    except re.error:
        return False
    return True


# Program lines pulse runs: shlex must split them (an unbalanced quote is refused).
programs = paths.filter(_splits)
ipv4 = st.ip_addresses(v=4).filter(lambda a: not a.is_unspecified).map(str)
ipv6 = st.ip_addresses(v=6).filter(
    lambda a: not a.is_unspecified and not a.is_link_local and a.ipv4_mapped is None).map(str)
devices = st.sampled_from(["eth0", "eth0:1", "eth1:12", "bond0.100", "enp3s0f1:vip"])
masks = st.integers(0, 32).map(lambda n: ".".join(str(((0xFFFFFFFF << (32 - n)) >> s) & 255)
                                                  for s in (24, 16, 8, 0)))
seconds = st.one_of(st.integers(1, 86400),
                    st.floats(0.001, 86400, allow_nan=False, allow_infinity=False))
ports = st.integers(1, 65535)

# Strategies are built once here: building them inside draws costs Hypothesis
# more than the test itself.
bools = st.booleans()
any_port = st.integers(0, 65535)
weights = st.integers(0, 65535)
ipvs_seconds = st.integers(0, (2 ** 31 - 1) // 1000)
counts = st.integers(0, 3)
few = st.integers(0, 2)
families = st.sampled_from(["v4", "v6"])
prefixes = st.integers(0, 128).map(str)
reentries = st.just(0) | seconds
opt_text = st.none() | free_text
opt_paths = st.none() | paths
opt_programs = st.none() | programs
opt_devices = st.none() | devices
opt_masks = st.none() | masks
opt_prefixes = st.none() | prefixes
opt_ipv4 = st.none() | ipv4
opt_ipv6 = st.none() | ipv6
opt_fwmark = st.none() | st.integers(1, 2 ** 32 - 1)
opt_port = st.none() | ports
opt_any_port = st.none() | any_port
protocols = st.sampled_from(PROTOCOLS)
schedulers = st.sampled_from(SCHEDULERS)
opt_monitors = st.none() | st.sampled_from(LOAD_MONITORS)


def _real_server(draw: st.DrawFn, index: int, family: str, fwmark: bool) -> RealServer:
    return RealServer(name=f"{draw(names)}{index}",
                      address=draw(ipv4 if family == "v4" else ipv6),
                      active=draw(bools), weight=draw(weights),
                      port=draw(opt_any_port if fwmark else opt_port))


def _virtual_server(draw: st.DrawFn, index: int) -> VirtualServer:
    v4 = draw(families) == "v4"
    fwmark = draw(opt_fwmark)
    vs = VirtualServer(
        name=f"{draw(names)}{index}",
        active=draw(bools),
        address=draw(ipv4 if v4 else ipv6),
        device=draw(opt_devices),
        vip_nmask=draw(opt_masks if v4 else opt_prefixes),
        sorry_server=draw(opt_ipv4 if v4 else opt_ipv6),
        fwmark=fwmark,
        port=draw(any_port if fwmark else ports),
        protocol=draw(protocols),
        scheduler=draw(schedulers),
        persistent=draw(ipvs_seconds),
        pmask=draw(opt_masks if v4 else opt_prefixes),
        send=draw(opt_text),
        expect=draw(opt_text),
        use_regex=draw(bools),
        send_program=draw(opt_programs),
        load_monitor=draw(opt_monitors),
        timeout=draw(seconds),
        reentry=draw(reentries),
        quiesce_server=draw(bools),
        client_monitor=draw(opt_paths),
    )
    vs.use_regex = vs.use_regex and _compiles(vs.expect)
    seen: set[tuple[str, int]] = set()
    for i in range(draw(counts)):
        rs = _real_server(draw, i, "v4" if v4 else "v6", fwmark is not None)
        target = (rs.address, vs.server_port(rs))
        if target not in seen:
            seen.add(target)
            vs.servers.append(rs)
    return vs


def _failover_service(draw: st.DrawFn, index: int) -> FailoverService:
    return FailoverService(
        name=f"{draw(names)}{index}", active=draw(bools), address=draw(ipv4),
        device=draw(opt_devices), vip_nmask=draw(opt_masks),
        port=draw(ports), send=draw(opt_text), expect=draw(opt_text),
        timeout=draw(seconds), reentry=draw(reentries),
        start_cmd=draw(paths), stop_cmd=draw(paths))


global_fields = st.fixed_dictionaries({
    "serial_no": st.integers(0, 2 ** 40),
    "primary": st.none() | ipv4 | ipv6,
    "primary_private": opt_ipv4,
    "primary_shared": opt_text,
    "service": st.sampled_from(["lvs", "fos"]),
    "rsh_command": opt_text,
    "backup_private": opt_ipv4,
    "backup_shared": opt_text,
    "heartbeat": bools,
    "heartbeat_port": st.integers(1, 65534),   # config sync listens on the next port
    "heartbeat_key_file": opt_paths,
    "network": st.sampled_from(NETWORKS),
    "nat_router": ipv4,
    "nat_router_device": opt_devices,
    "nat_nmask": opt_masks,
    "reservation_conflict_action": st.none() | st.sampled_from(CONFLICT_ACTIONS),
    "debug_level": st.sampled_from(["NONE", "LOW", "x y"]),
    "active_cmd": opt_programs,
    "inactive_cmd": opt_programs,
    "monitor_links": st.integers(0, 1),
    "syncdaemon": bools,
    "syncd_iface": st.none() | st.sampled_from(["eth0", "eth1", "bond0.7"]),
    "syncd_id": st.none() | st.integers(0, 255),
    "tcp_timeout": ipvs_seconds,
    "tcpfin_timeout": st.integers(0, 600),
    "udp_timeout": st.integers(0, 600),
    "hard_shutdown": bools,
    "ipvsadm": opt_paths,
    "sync": bools,
})


@st.composite
def configs(draw: st.DrawFn) -> LvsConfig:
    keepalive = draw(seconds)
    backup = draw(opt_ipv4)
    cfg = LvsConfig(keepalive=keepalive, deadtime=keepalive + draw(seconds), backup=backup,
                    backup_active=backup is not None and draw(bools), **draw(global_fields))
    claims: set[tuple[object, ...]] = set()
    for i in range(draw(counts)):
        vs = _virtual_server(draw, i)
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
    for i in range(draw(few)):
        cfg.failovers.append(_failover_service(draw, i))
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
