"""Semantic rules for an :class:`LvsConfig`: everything the parser lets through.

:func:`validate` collects *all* problems (each with the line of the offending
key when the config came from :func:`parse`, else line 0) and raises one
:class:`LvsCfError` carrying them, so a form or ``piranha-config check`` can
show everything at once.

Decisions worth knowing (deviations from Piranha are stricter, never looser,
except where noted):

* Addresses must be IP literals (IPv4 dotted quad, or IPv6 as an extension);
  hostnames are rejected because we never do DNS while reading the file.
* Masks (``vip_nmask``, ``nat_nmask``, ``pmask``) are contiguous dotted IPv4
  masks; ``vip_nmask``/``pmask`` may also be a prefix length (IPv6 services).
  ``0.0.0.0`` (or ``0``) means "no mask" as in Piranha.
* A virtual ``port`` of 0 is allowed only with an ``fwmark`` (the service then
  matches on the mark; IPVS keeps the packet's destination port).  Real-server
  ports follow the same rule through inheritance.
* Unset (``None``) or unspecified (``0.0.0.0``/``::``) addresses are only a
  problem on *active* virtual servers, real servers and failover services:
  Piranha's GUI writes inactive placeholders with ``0.0.0.0``.
* A missing ``primary`` is allowed (single-node setups managed by hand).
* IPv6: v4-mapped (``::ffff:a.b.c.d``) and link-local (``fe80::/10``)
  addresses are refused everywhere: the first is an IPv4 address in disguise
  and IPVS keys it as IPv6, the second needs a scope lvs.cf cannot say.
  ``nat_nmask``/``vip_nmask`` are prefix lengths for IPv6 addresses.
  A real server or sorry server of the other family than its virtual server is
  an error in every forwarding mode: IPVS can tunnel an IPv6 service to IPv4
  real servers, but health checks, the NAT gateway and the sync daemon all
  assume one family per service, so pulse does not offer it.
"""

from __future__ import annotations

import math
import re
import socket
from collections.abc import Iterable
from typing import Any

from . import keys
from .errors import LvsCfError, Problem
from .health import check_settings, has_overrides, parse_status
from .model import (
    CHECKS,
    CLUSTERS,
    CONFLICT_ACTIONS,
    ECMP_NETWORKS,
    ECMP_SCHEDULERS,
    DNS_QTYPES,
    LOAD_MONITORS,
    NETWORKS,
    PROTOCOLS,
    SCHEDULERS,
    SERVICES,
    FailoverService,
    Director,
    LvsConfig,
    RealServer,
    VirtualServer,
    host_port,
    item_line_key,
    split_peer,
)
from .rules import (
    DIGITS, FAMILY_NAMES, UNSPECIFIED, Collector, check_choice, check_device, check_int, check_ip, check_mask,
    check_name, check_numbers, check_program, check_regex, check_types, ip_family, number_text,
)


def _check_global(c: Collector, cfg: LvsConfig) -> None:
    check_types(c, cfg, keys.GLOBAL)
    check_numbers(c, cfg, keys.GLOBAL)
    if (cfg.backup_active is True and _is_number(cfg.keepalive) and _is_number(cfg.deadtime)
            and 0 < cfg.deadtime <= cfg.keepalive):
        c.add(cfg, "deadtime", _deadtime_message(cfg))
    check_choice(c, cfg, "service", SERVICES)
    check_choice(c, cfg, "network", NETWORKS)
    check_choice(c, cfg, "reservation_conflict_action", CONFLICT_ACTIONS)
    for key in ("primary", "primary_private", "backup", "backup_private"):
        check_ip(c, cfg, key, getattr(cfg, key), required=False)
        # Piranha's GUI writes backup = 0.0.0.0 when there is no backup: it means "none".
        if getattr(cfg, key) in UNSPECIFIED and key != "backup":
            c.add(cfg, key, f"invalid host name or ip address: {getattr(cfg, key)}")
    if cfg.backup_active is True and (not cfg.backup or cfg.backup in UNSPECIFIED):
        c.add(cfg, "backup_active", "backup_active = 1 but no backup address is set")
    nat_family = check_ip(c, cfg, "nat_router", cfg.nat_router, required=False)
    if cfg.nat_router is not None and cfg.nat_router in UNSPECIFIED:
        c.add(cfg, "nat_router", f"address {cfg.nat_router} is not a usable address")
    if cfg.nat_router_device is not None and cfg.nat_router is None:
        c.add(cfg, "nat_router", "a nat_router device needs a nat_router address")
    check_device(c, cfg, "nat_router", cfg.nat_router_device)
    check_mask(c, cfg, "nat_nmask", cfg.nat_nmask, nat_family, allow_prefix=False)
    _check_nat_router6(c, cfg)
    _check_cluster(c, cfg)
    check_device(c, cfg, "syncd_iface", cfg.syncd_iface, allow_label=False)
    if isinstance(cfg.heartbeat_key_file, str) and not cfg.heartbeat_key_file.startswith("/"):
        c.add(cfg, "heartbeat_key_file", "heartbeat_key_file must be an absolute path")
    for key in ("active_cmd", "inactive_cmd"):
        check_program(c, cfg, key, "command")
    # IPv6 virtual servers take their gateway from nat_router6 (a warning when none, see warnings())
    if (cfg.service == "lvs" and cfg.network == "nat" and cfg.nat_router is None
            and any(v.active and ip_family(v.address or "") != socket.AF_INET6 for v in cfg.virtuals)):
        c.add(cfg, "network", "network = nat needs nat_router (the real servers' gateway)")


def _check_cluster(c: Collector, cfg: LvsConfig) -> None:
    """``cluster``, the BGP keys and the ``director`` blocks (several active directors behind ECMP)."""
    check_choice(c, cfg, "cluster", CLUSTERS)
    _check_peers(c, cfg)
    if isinstance(cfg.bgp_bird, str) and not cfg.bgp_bird.startswith("/"):
        c.add(cfg, "bgp_bird", "bgp_bird must be an absolute path")
    _check_directors(c, cfg)
    if cfg.cluster != "ecmp":
        return
    if cfg.service != "lvs":
        c.add(cfg, "cluster", "cluster = ecmp needs service = lvs")
    if cfg.network not in ECMP_NETWORKS:
        c.add(cfg, "network", f"cluster = ecmp needs network = direct or tunnel, not {cfg.network!r}: "
                              "with NAT every reply must return through the director that took the "
                              "request, which several active directors cannot guarantee")
    if cfg.backup_active is True:
        c.add(cfg, "backup_active", "cluster = ecmp has no backup (every director is active); "
                                    "set backup_active = 0")
    if cfg.bgp_local_as is None:
        c.add(cfg, "cluster", "cluster = ecmp needs bgp_local_as (this cluster's AS number)")
    if not cfg.bgp_peers:
        c.add(cfg, "cluster", "cluster = ecmp needs at least one bgp_peer = IP AS (the router)")
    for vs in cfg.active_virtuals():
        if vs.device != "lo":
            c.add(vs, "address", f"cluster = ecmp puts the VIP on lo on every director: "
                                 f"address = {vs.address or 'VIP'} lo")
        if vs.scheduler not in ECMP_SCHEDULERS:
            c.add(vs, "scheduler", f"cluster = ecmp needs scheduler = mh, not {vs.scheduler!r}: every "
                                   "director must send a flow to the same real server")


def _check_peers(c: Collector, cfg: LvsConfig) -> None:
    """Each ``bgp_peer = IP AS`` line: an IP literal and a 4-byte AS number, no router twice."""
    seen: set[str] = set()
    peers = cfg.bgp_peers if isinstance(cfg.bgp_peers, list) else []
    for index, item in enumerate(peers):
        line = cfg.key_line(item_line_key("bgp_peer", index)) or cfg.key_line("bgp_peer")
        if not isinstance(item, str) or any(ch in item for ch in "\n\r\x00\"'"):
            c.problems.append(Problem(line, "bgp_peer must be 'IP AS'", "bgp_peer"))
            continue
        ip, asn = split_peer(item)
        if ip_family(ip) is None or ip in UNSPECIFIED:
            c.problems.append(Problem(line, f"invalid peer address {ip!r} (an IPv4 or IPv6 address)",
                                      "bgp_peer"))
        if asn is None or not 1 <= asn <= keys.MAX_AS:
            c.problems.append(Problem(line, f"bgp_peer needs 'IP AS' with an AS number 1..{keys.MAX_AS}",
                                      "bgp_peer"))
        if ip in seen:
            c.problems.append(Problem(line, f"duplicate bgp_peer {ip}", "bgp_peer"))
        seen.add(ip)


def _check_directors(c: Collector, cfg: LvsConfig) -> None:
    """``director NAME { address = IP }``: a name, an IPv4/IPv6 address, neither used twice."""
    names: set[str] = set()
    addresses: set[str] = set()
    for director in cfg.directors:
        check_name(c, director, "director")
        check_types(c, director, keys.DIRECTOR)
        _check_director_address(c, director)
        if director.name in names:
            c.add(director, "director", f"duplicate director {director.name!r}")
        if director.address in addresses:
            c.add(director, "address", f"duplicate director address {director.address}")
        names.add(director.name)
        if director.address is not None:
            addresses.add(director.address)
    if cfg.directors and cfg.cluster != "ecmp":
        c.add(cfg.directors[0], "director", "director blocks need cluster = ecmp")


def _check_director_address(c: Collector, director: Director) -> None:
    if director.address is None:
        c.add(director, "director", f"director {director.name!r} needs address = IP")
    elif ip_family(director.address) is None:
        c.add(director, "address",
              f"director address {director.address!r} is not an IPv4 or IPv6 address")
    else:
        check_ip(c, director, "address", director.address, required=True)


def _check_nat_router6(c: Collector, cfg: LvsConfig) -> None:
    """``nat_router6 = IP DEVICE`` and ``nat_nmask6 = PREFIXLEN``: the IPv6 gateway."""
    family = check_ip(c, cfg, "nat_router6", cfg.nat_router6, required=False)
    if cfg.nat_router6 is not None and cfg.nat_router6 in UNSPECIFIED:
        c.add(cfg, "nat_router6", f"address {cfg.nat_router6} is not a usable address")
    elif family == socket.AF_INET:
        c.add(cfg, "nat_router6", f"nat_router6 must be an IPv6 address, not {cfg.nat_router6}")
    if cfg.nat_router6_device is not None and cfg.nat_router6 is None:
        c.add(cfg, "nat_router6", "a nat_router6 device needs a nat_router6 address")
    check_device(c, cfg, "nat_router6", cfg.nat_router6_device)
    mask = cfg.nat_nmask6
    if isinstance(mask, str) and not (mask and DIGITS.issuperset(mask) and len(mask) <= 3
                                      and 1 <= int(mask) <= 128):
        c.add(cfg, "nat_nmask6", f"bad prefix length {mask!r} (1..128)")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _deadtime_message(cfg: LvsConfig) -> str:
    return (f"deadtime ({number_text(cfg.deadtime)}) must be longer than "
            f"keepalive ({number_text(cfg.keepalive)})")


def warnings(cfg: LvsConfig) -> list[Problem]:
    """Settings that do no harm now but would if enabled (``check`` prints them, nothing refuses)."""
    found: list[Problem] = []
    if (cfg.backup_active is not True and _is_number(cfg.keepalive) and _is_number(cfg.deadtime)
            and 0 < cfg.deadtime <= cfg.keepalive):
        message = _deadtime_message(cfg) + " (unused while backup_active = 0)"
        found.append(Problem(cfg.key_line("deadtime"), message, "deadtime"))
    for vs in cfg.active_virtuals():
        if (cfg.service == "lvs" and cfg.network == "nat" and ip_family(vs.address or "") == socket.AF_INET6
                and ip_family(cfg.nat_router6 or cfg.nat_router or "") != socket.AF_INET6):
            found.append(Problem(vs.key_line("address"), f"IPv6 virtual {vs.name!r} with network = nat "
                                 "but no IPv6 gateway: set nat_router6 (or route the real servers' "
                                 "replies through this director yourself)", "address"))
        if cfg.cluster == "ecmp" and vs.scheduler == "sh":
            found.append(Problem(vs.key_line("scheduler"), "cluster = ecmp with scheduler sh in "
                                 f"{vs.name!r}: sh is consistent across directors but moves many flows "
                                 "when a real server changes; mh moves the fewest", "scheduler"))
    if cfg.cluster != "ecmp" and (cfg.bgp_peers or cfg.bgp_local_as is not None):
        found.append(Problem(cfg.key_line("cluster") or cfg.key_line("bgp_local_as"),
                             "BGP keys are set but cluster is not ecmp: they are unused", "cluster"))
    return found


def _check_virtual(c: Collector, cfg: LvsConfig, vs: VirtualServer) -> None:
    check_name(c, vs, "virtual")
    check_types(c, vs, keys.VIRTUAL)
    family = check_ip(c, vs, "address", vs.address, required=vs.active is True)
    if vs.device is not None and vs.address is None:
        c.add(vs, "address", "a device needs an address")
    check_device(c, vs, "address", vs.device)
    check_mask(c, vs, "vip_nmask", vs.vip_nmask, family, allow_prefix=True)
    check_mask(c, vs, "pmask", vs.pmask, family, allow_prefix=True)
    if vs.sorry_server is not None:
        sorry = check_ip(c, vs, "sorry_server", vs.sorry_server, required=True)
        if family and sorry and sorry != family:
            c.add(vs, "sorry_server", f"sorry_server {vs.sorry_server} is {FAMILY_NAMES[sorry]} but "
                                      f"the virtual address is {FAMILY_NAMES[family]}: different IP families")
    check_numbers(c, vs, keys.VIRTUAL, skip=("port",))
    check_int(c, vs, "port", 0 if vs.fwmark else 1, 65535)
    check_choice(c, vs, "protocol", PROTOCOLS)
    check_choice(c, vs, "scheduler", SCHEDULERS)
    check_choice(c, vs, "load_monitor", LOAD_MONITORS)
    check_program(c, vs, "send_program", "program")
    if isinstance(vs.client_monitor, str) and not vs.client_monitor.startswith("/"):
        c.add(vs, "client_monitor", "program must start with an absolute path")
    check_regex(c, vs)
    _check_health(c, vs, None)
    names: set[str] = set()
    targets: set[tuple[str, int]] = set()
    for rs in vs.servers:
        _check_server(c, cfg, vs, rs, family)
        if rs.name in names:
            c.add(rs, "server", f"duplicate server name {rs.name!r} in virtual {vs.name!r}")
        names.add(rs.name)
        target = (rs.address, vs.server_port(rs) if isinstance(vs.port, int) else 0)
        if target in targets and rs.address not in UNSPECIFIED:
            c.add(rs, "address", f"real server {rs.address} port {target[1]} appears twice "
                                 f"in virtual {vs.name!r}")
        targets.add(target)


def _check_server(c: Collector, cfg: LvsConfig, vs: VirtualServer, rs: RealServer,
                  vip_family: int | None) -> None:
    check_name(c, rs, "server")
    check_types(c, rs, keys.SERVER)
    family = check_ip(c, rs, "address", rs.address, required=rs.active is True)
    if vip_family and family and family != vip_family:
        c.add(rs, "address", f"real server {rs.address} is {FAMILY_NAMES[family]} but virtual "
                             f"{vs.name!r} is {FAMILY_NAMES[vip_family]}: different IP families in one "
                             "virtual server")
    check_numbers(c, rs, keys.SERVER, skip=("port",))
    check_int(c, rs, "port", 0 if vs.fwmark else 1, 65535)
    if has_overrides(rs):     # otherwise its settings are the virtual's, checked once for all
        _check_health(c, vs, rs)


def _check_health(c: Collector, vs: VirtualServer, rs: RealServer | None) -> None:
    """Health-check keys of ``vs`` (``rs`` None) or of one real server's overrides."""
    obj: Any = vs if rs is None else rs
    check_choice(c, obj, "check", CHECKS)
    check_choice(c, obj, "check_qtype", tuple(DNS_QTYPES))
    if isinstance(obj.check_digest, str) and not _HEX_DIGEST.fullmatch(obj.check_digest):
        c.add(obj, "check_digest", "an MD5 digest is 32 hexadecimal digits")
    if isinstance(obj.check_body, str):
        try:
            re.compile(obj.check_body.encode())
        except (re.error, RecursionError, OverflowError) as exc:
            c.add(obj, "check_body", f"invalid regular expression: {exc}")
    if isinstance(obj.check_ca_file, str) and not obj.check_ca_file.startswith("/"):
        c.add(obj, "check_ca_file", "check_ca_file must be an absolute path")
    if isinstance(obj.check_status, str):
        try:
            parse_status(obj.check_status)
        except ValueError as exc:
            c.add(obj, "check_status", str(exc))
    try:
        cs = check_settings(vs, rs)
    except (ValueError, TypeError, ArithmeticError):
        return                # a bad number or status, reported on its own line above
    if cs.timeout > cs.interval:
        key = "check_timeout" if obj.check_timeout is not None else "check_interval"
        c.add(obj, key, f"check_timeout ({number_text(cs.timeout)}) must not be longer than the check "
                        f"interval ({number_text(cs.interval)})")
    if cs.kind not in CHECKS:
        return
    if cs.kind == "program" and not vs.send_program:
        c.add(obj, "check", "check = program needs send_program")
    if cs.kind == "agent" and cs.agent_port is None:
        c.add(obj, "check", "check = agent needs agent_port")
    if cs.kind == "dns" and not cs.query:
        c.add(obj, "check", "check = dns needs check_query")
    if cs.dynamic and cs.kind != "program":
        c.add(obj, "check_dynamic", "check_dynamic = 1 needs check = program")


_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{32}")


def _check_failover(c: Collector, cfg: LvsConfig, fos: FailoverService) -> None:
    check_name(c, fos, "failover")
    check_types(c, fos, keys.FAILOVER)
    family = check_ip(c, fos, "address", fos.address, required=fos.active is True)
    if fos.device is not None and fos.address is None:
        c.add(fos, "address", "a device needs an address")
    check_device(c, fos, "address", fos.device)
    check_mask(c, fos, "vip_nmask", fos.vip_nmask, family, allow_prefix=True)
    check_numbers(c, fos, keys.FAILOVER)
    if fos.active is True and cfg.service == "fos":
        for key in ("start_cmd", "stop_cmd"):
            if not getattr(fos, key):
                c.add(fos, key, f"{key} is required for an active failover service")


def _check_conflicts(c: Collector, cfg: LvsConfig) -> None:
    """Names must be unique; two active services must not claim the same traffic."""
    seen: dict[str, str] = {}
    for vs in cfg.virtuals:
        if vs.name in seen:
            c.add(vs, "virtual", f"duplicate virtual server name {vs.name!r}")
        seen[vs.name] = "virtual"
    fos_names: set[str] = set()
    for fos in cfg.failovers:
        if fos.name in fos_names:
            c.add(fos, "failover", f"duplicate failover service name {fos.name!r}")
        fos_names.add(fos.name)
    claims: dict[tuple[Any, ...], str] = {}
    for vs in cfg.virtuals:
        if vs.active is not True:
            continue
        if vs.fwmark:
            v6 = ip_family(vs.address or "") == socket.AF_INET6
            claim: tuple[Any, ...] = ("fwmark", vs.fwmark, v6)
            what = f"fwmark {vs.fwmark}" + (" (IPv6)" if v6 else "")
            key = "fwmark"
        elif vs.address is not None:
            claim = ("vip", vs.address, vs.port, vs.protocol)
            what = f"{host_port(vs.address, vs.port)}/{vs.protocol}"
            key = "port"
        else:
            continue
        if claim in claims:
            c.add(vs, key, f"active virtual servers {claims[claim]!r} and {vs.name!r} "
                           f"both claim {what}")
        else:
            claims[claim] = vs.name


def problems(cfg: LvsConfig, only: Iterable[VirtualServer] | None = None) -> list[Problem]:
    """Every problem in ``cfg``, sorted by line (stable), without raising.

    ``only``: check just these virtual servers' own blocks, for a file whose
    other virtual servers passed before under the same global settings (a
    virtual server's own checks read nothing but the globals and itself).
    The global, failover and cross-block checks always run whole.
    """
    c = Collector()
    _check_global(c, cfg)
    for vs in cfg.virtuals if only is None else only:
        _check_virtual(c, cfg, vs)
    for fos in cfg.failovers:
        _check_failover(c, cfg, fos)
    _check_conflicts(c, cfg)
    return sorted(c.problems, key=lambda p: p.line)


def validate(cfg: LvsConfig, only: Iterable[VirtualServer] | None = None) -> None:
    """Raise :class:`LvsCfError` listing every problem in ``cfg``; None if valid (``only``: see problems)."""
    found = problems(cfg, only)
    if found:
        raise LvsCfError(found)
