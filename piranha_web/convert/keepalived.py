"""lvs.cf as keepalived.conf: a migration path, in both directions.

keepalived does what pulse does with different words: a ``vrrp_instance``
carries the VIPs (and the NAT router address) that pulse brings up by hand,
and each active ``virtual`` becomes a ``virtual_server`` with one
``real_server`` per active real server, whose checker says what its
health-check keys say (``fall`` as ``retry fall-1``, always written).  What
keepalived cannot say is kept as a ``! piranha:`` comment, never silently
dropped:

* inactive virtual and real servers (keepalived has no "defined but off");
* ``reentry``, and in ``! piranha: keep {JSON}`` the keys no checker holds
  (``rise``, ``slowstart``, ``check_body``, TLS verification, agent checks...);
* ``! piranha: derived`` in a checker made from Piranha's send/expect or
  send_program rather than a ``check`` key; send/expect pairs that are not
  an HTTP request (exported as a connect check); ``expect`` of a
  ``send_program`` (keepalived trusts the exit code);
* failover (FOS) services, and pulse's ``deadtime``.

Names of virtual and real servers travel in ``! piranha: virtual NAME`` /
``! piranha: server NAME`` comments so an export imports back under the
same names.  The reverse direction lives in :mod:`.keepalived_read`.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from typing import Iterable

from piranha_web.lvscf import LvsCfError, LvsConfig, Problem, RealServer, VirtualServer, mask_prefix
from piranha_web.lvscf.health import CheckSettings, check_settings

from .keepalived_checks import DERIVED, KEEP_KEYS
from .keepalived_read import from_keepalived, read_keepalived

__all__ = ["to_keepalived", "from_keepalived", "read_keepalived", "VRRP_ROUTER_ID"]

VRRP_ROUTER_ID = 51
_KINDS = {"nat": "NAT", "direct": "DR", "tunnel": "TUN"}
# A plain HTTP request as lvs.cf writes it (escapes undecoded), optional Host header.
_EOL = r"(?:\\r\\n|\\n|\r\n|\n)"
_HTTP_SEND = re.compile(rf"^(?:GET|HEAD) (\S+) HTTP/1\.[01](?:{_EOL}Host: (\S+?))?(?:{_EOL}){{0,2}}$")
_STATUS = re.compile(r"^HTTP/1\.[01] ([1-5][0-9][0-9])$")
_I = "    "
_TIMING_KEYS = ("fall", "check_interval", "check_timeout")     # said by the checker when there is one


def _num(value: float) -> str:
    """keepalived numbers: integers bare, fractions with up to 6 decimals."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.6f}".rstrip("0")


def _quotable(value: str) -> bool:
    """Can keepalived.conf carry ``value`` as one quoted string (no quote, no control character)?"""
    return '"' not in value and all(ch >= " " and ch != "\x7f" for ch in value)


def _quote(obj_name: str, key: str, value: str) -> str:
    """``value`` in double quotes: braces, ``!`` and ``#`` inside it stay data."""
    if not _quotable(value):
        raise LvsCfError(Problem(0, f"{obj_name}: {key} contains a double quote or a control character, "
                                    "which keepalived.conf cannot carry", key))
    return f'"{value}"'


def _physical(device: str) -> str:
    """``eth0:1`` -> ``eth0``: keepalived puts addresses on the real device."""
    return device.split(":", 1)[0]


def _vip_line(address: str, device: str | None, mask: str | None) -> str:
    text = f"{address}/{mask_prefix(mask, address)}"
    if device:
        text += f" dev {_physical(device)}"
        if ":" in device and ":" not in address:      # IPv6 has no labels: eth0:1 means eth0
            text += f" label {device}"
    return text


def _vrrp_addresses(cfg: LvsConfig) -> list[tuple[str, str | None, str | None]]:
    """(address, device, mask) of every address pulse would bring up, in order, once each."""
    seen: dict[str, tuple[str, str | None, str | None]] = {}
    for vs in cfg.active_virtuals():
        if vs.address and vs.address not in ("0.0.0.0", "::"):
            seen.setdefault(vs.address, (vs.address, vs.device, vs.vip_nmask))
    if cfg.network == "nat" and cfg.nat_router:
        seen.setdefault(cfg.nat_router, (cfg.nat_router, cfg.nat_router_device, cfg.nat_nmask))
    if cfg.network == "nat" and cfg.nat_router6:
        seen.setdefault(cfg.nat_router6, (cfg.nat_router6, cfg.nat_router6_device, cfg.nat_nmask6))
    return list(seen.values())


def _vrrp(cfg: LvsConfig, role: str) -> list[str]:
    addresses = _vrrp_addresses(cfg)
    if not addresses:
        return []
    devices = [a[1] for a in addresses if a[1]]
    interface = _physical(devices[0]) if devices else "eth0"
    v4 = [a for a in addresses if ipaddress.ip_address(a[0]).version == 4]
    v6 = [a for a in addresses if ipaddress.ip_address(a[0]).version == 6]
    unicast = cfg.backup_active and cfg.backup and cfg.primary
    # The instance's family is its peers' (or its first address's); the other family is "excluded".
    v6_instance = ":" in cfg.primary if unicast and cfg.primary else not v4
    first, rest = (v6, v4) if v6_instance else (v4, v6)
    primary = role == "primary"
    out = ["vrrp_instance PIRANHA {",
           f"{_I}state {'MASTER' if primary else 'BACKUP'}",
           f"{_I}interface {interface}",
           f"{_I}virtual_router_id {VRRP_ROUTER_ID}",
           f"{_I}priority {150 if primary else 100}",
           f"{_I}advert_int {max(1, math.ceil(cfg.keepalive))}",
           f"{_I}! piranha: deadtime {_num(cfg.deadtime)} (keepalived declares the master "
           "dead after 3 adverts)"]
    if unicast and cfg.backup and cfg.primary:
        me, peer = (cfg.primary, cfg.backup) if primary else (cfg.backup, cfg.primary)
        out += [f"{_I}unicast_src_ip {me}", f"{_I}unicast_peer {{", f"{_I * 2}{peer}", f"{_I}}}"]
    out.append(f"{_I}virtual_ipaddress {{")
    out += [f"{_I * 2}{_vip_line(*a)}" for a in first]
    out.append(f"{_I}}}")
    if rest:
        out.append(f"{_I}virtual_ipaddress_excluded {{")
        out += [f"{_I * 2}{_vip_line(*a)}" for a in rest]
        out.append(f"{_I}}}")
    out += ["}", ""]
    return out


def _timing(cs: CheckSettings, loop: float, connect: bool = True) -> list[str]:
    """Lines every checker shares: its interval when it differs from the virtual_server's, the
    timeout (``connect``: MISC_CHECK has its own) and the retries.

    keepalived retries a failed check ``retry`` more times before it takes the
    server out, so ``fall`` failures are ``retry fall-1``.  The line is always
    written: without it keepalived retries once (three times for DNS_CHECK).
    """
    out = [] if cs.interval == loop else [f"delay_loop {_num(cs.interval)}"]
    out += [f"connect_timeout {_num(cs.timeout)}"] if connect else []
    out.append(f"retry {cs.fall - 1}")
    if cs.fall > 1:
        out.append(f"delay_before_retry {_num(cs.interval)}")
    return out


def _probe_port(vs: VirtualServer, cs: CheckSettings, port: int) -> list[str]:
    """``connect_port``: the probed port (always for fwmark services, whose real servers have none)."""
    return [f"connect_port {cs.port or port}"] if (vs.fwmark or cs.port) and (cs.port or port) else []


def _status_codes(cs: CheckSettings) -> str:
    return " ".join(f"{lo}-{hi}" if lo != hi else str(lo) for lo, hi in cs.status)


def _block(head: str, lines: list[str]) -> list[str]:
    return [f"{head} {{", *(_I + line for line in lines), "}"]


def _explicit_check(vs: VirtualServer, cs: CheckSettings, port: int, loop: float) -> list[str] | None:
    """A checker for an explicit ``check`` that keepalived has (None: handled by the Piranha rules)."""
    common = _probe_port(vs, cs, port) + _timing(cs, loop)
    if cs.kind in ("http", "https"):
        url = [f"path {_quote(vs.name, 'check_path', cs.path)}", f"status_code {_status_codes(cs)}"]
        if cs.digest:
            url.append(f"digest {cs.digest}")
        lines = [*_block("url", url), *common]
        if cs.host:
            lines.append(f"virtualhost {_quote(vs.name, 'check_host', cs.host)}")
            if cs.kind == "https":
                lines.append("enable_sni")
        return _block("SSL_GET" if cs.kind == "https" else "HTTP_GET", lines)
    if cs.kind == "dns":
        name = [f"name {_quote(vs.name, 'check_query', cs.query)}"] if cs.query else []
        return _block("DNS_CHECK", [f"type {cs.qtype}", *name, *common])
    if cs.kind == "tcp":
        return _block("TCP_CHECK", common)
    if cs.kind in ("agent", "none"):
        return [f"! piranha: check {cs.kind} not expressible in keepalived; no checker exported"]
    return None


def _program_check(vs: VirtualServer, rs: RealServer, cs: CheckSettings, port: int, loop: float) -> list[str]:
    """MISC_CHECK: the program line with ``%h``/``%p`` filled in; keepalived judges the exit status."""
    assert vs.send_program is not None
    command = " ".join(rs.address if t == "%h" else str(port) if t == "%p" else t
                       for t in vs.send_program.split(" "))
    lines = [f"misc_path {_quote(vs.name, 'send_program', command)}",
             f"misc_timeout {max(1, math.ceil(cs.timeout))}"]
    if not float(cs.timeout).is_integer():      # keepalived counts whole seconds
        lines.append(f"! piranha: misc_timeout {_num(cs.timeout)}")
    lines += _timing(cs, loop, connect=False)
    if vs.expect:
        # keepalived judges the exit status only: the program still fails on a non-zero exit,
        # but output that differs from expect no longer does.
        lines.append(f"! piranha: WARNING expect {vs.expect} is not checked: keepalived judges "
                     "the exit status only (make the program exit non-zero on a bad answer)")
    if cs.dynamic:
        lines.append("misc_dynamic")
    return _block("MISC_CHECK", lines)


def _check_block(vs: VirtualServer, rs: RealServer, port: int, loop: float) -> list[str]:
    """The health check lines for one real server: its ``check``, else the virtual's send/expect.

    A checker made from Piranha's keys (no ``check``) says so in a ``derived``
    comment, so the import gives back those keys rather than a ``check``.
    """
    cs = check_settings(vs, rs)
    explicit = _explicit_check(vs, cs, port, loop) if (rs.check or vs.check) else None
    if explicit is not None:
        return explicit
    if vs.send_program:
        return _program_check(vs, rs, cs, port, loop)
    lines = _probe_port(vs, cs, port) + _timing(cs, loop)
    common = [f"{_I}! piranha: {DERIVED}", *(_I + line for line in lines)]
    match = _HTTP_SEND.match(vs.send or "")
    if (vs.protocol == "tcp" and match and (vs.expect or "HTTP").startswith("HTTP")
            and all(_quotable(part) for part in match.groups() if part)):
        status = _STATUS.match(vs.expect or "")
        url = ["url {", f"{_I}path {_quote(vs.name, 'send', match.group(1))}"]
        url += [f"{_I}status_code {status.group(1)}"] if status else []
        out = ["HTTP_GET {", *(_I + line for line in url + ["}"]), *common]
        if match.group(2):
            out.append(f"{_I}virtualhost {_quote(vs.name, 'send', match.group(2))}")
        return out + ["}"]
    kind = "UDP_CHECK" if vs.protocol == "udp" else "TCP_CHECK"
    out = [f"{kind} {{", *common]
    if vs.send or vs.expect:
        out.append(f"{_I}! piranha: send/expect check not expressible here; connect check only")
    return out + ["}"]


def _keep(obj: VirtualServer | RealServer, cs: CheckSettings | None = None) -> list[str]:
    """``! piranha: keep {JSON}``: the lvs.cf keys of ``obj`` that no keepalived checker says.

    ``cs``: a real server's settings when no checker is exported for it (agent,
    none), whose counting and timing then ride here too.
    """
    kept: dict[str, object] = {}
    for name in KEEP_KEYS:
        value = getattr(obj, name, None)
        if value is None or name in _TIMING_KEYS or (name == "use_regex" and not value) or (
                name == "check" and value not in ("agent", "none")):
            continue
        kept[name] = value
    if cs is not None and cs.kind in ("agent", "none"):
        kept.update(fall=cs.fall, check_interval=cs.interval, check_timeout=cs.timeout)
    return [f"! piranha: keep {json.dumps(kept, sort_keys=True)}"] if kept else []


def _real_server(vs: VirtualServer, rs: RealServer) -> list[str]:
    port = vs.server_port(rs)
    # fwmark services: keepalived wants no port on the real server (the checker gets it).
    place = rs.address if vs.fwmark else f"{rs.address} {port}"
    out = [f"real_server {place} {{", f"{_I}! piranha: server {rs.name}",
           *(_I + line for line in _keep(rs, check_settings(vs, rs))), f"{_I}weight {rs.weight}"]
    if vs.quiesce_server:
        out.append(f"{_I}inhibit_on_failure")
    out += [_I + line for line in _check_block(vs, rs, port, check_settings(vs).interval)]
    return out + ["}"]


def _virtual_server(cfg: LvsConfig, vs: VirtualServer) -> list[str]:
    key = f"fwmark {vs.fwmark}" if vs.fwmark else f"{vs.address} {vs.port}"
    out = [f"! piranha: virtual {vs.name}", f"virtual_server {key} {{",
           f"{_I}delay_loop {_num(check_settings(vs).interval)}",
           f"{_I}lb_algo {vs.scheduler}",
           f"{_I}lb_kind {_KINDS[cfg.network]}"]
    # keepalived rejects a protocol on fwmark services (the mark decides).
    out.append(f"{_I}! piranha: protocol {vs.protocol}" if vs.fwmark else
               f"{_I}protocol {vs.protocol.upper()}")
    if vs.persistent:
        out.append(f"{_I}persistence_timeout {vs.persistent}")
        if vs.pmask and vs.pmask not in ("0", "0.0.0.0"):
            out.append(f"{_I}persistence_granularity {vs.pmask}")
    if vs.sorry_server:
        # keepalived clears a fwmark service's sorry server port (the mark decides).
        out.append(f"{_I}sorry_server {vs.sorry_server}" + ("" if vs.fwmark else f" {vs.port}"))
    if vs.fwmark and vs.address:
        out.append(f"{_I}! piranha: address {vs.address}")
    if vs.fwmark:
        out.append(f"{_I}! piranha: port {vs.port}")
    out.append(f"{_I}! piranha: reentry {_num(vs.reentry)}")
    out += [_I + line for line in _keep(vs)]
    for rs in vs.servers:
        if not rs.active:
            out.append(f"{_I}! piranha: inactive server {rs.name} ({rs.address}) not exported")
            continue
        out += [_I + line for line in _real_server(vs, rs)]
    return out + ["}", ""]


def _skipped(cfg: LvsConfig) -> Iterable[str]:
    for vs in cfg.virtuals:
        if not vs.active:
            yield f"! piranha: inactive virtual {vs.name} not exported"
    for fos in cfg.failovers:
        yield f"! piranha: failover service {fos.name} not exported (keepalived has no FOS mode)"


def _global_defs(cfg: LvsConfig, role: str) -> list[str]:
    """router_id, script security for MISC_CHECK, the sync daemon and IPVS timeouts."""
    out = ["global_defs {", f"{_I}router_id piranha_{role}"]
    if any(vs.send_program and vs.check in (None, "program") for vs in cfg.active_virtuals()):
        out += [f"{_I}enable_script_security", f"{_I}script_user root"]
    if cfg.syncdaemon and _vrrp_addresses(cfg):
        iface = cfg.syncd_iface or next((_physical(a[1]) for a in _vrrp_addresses(cfg) if a[1]), "eth0")
        ident = f" id {cfg.syncd_id}" if cfg.syncd_id is not None else ""
        out.append(f"{_I}lvs_sync_daemon {iface} PIRANHA{ident}")
    elif cfg.syncdaemon:
        out.append(f"{_I}! piranha: syncdaemon 1 (keepalived ties the sync daemon to a VRRP instance: none)")
    pairs = (("tcp", cfg.tcp_timeout), ("tcpfin", cfg.tcpfin_timeout), ("udp", cfg.udp_timeout))
    timeouts = [f"{name} {value}" for name, value in pairs if value]
    if timeouts:
        out.append(f"{_I}lvs_timeouts {' '.join(timeouts)}")
    return out + ["}"]


def to_keepalived(cfg: LvsConfig, role: str = "primary") -> str:
    """keepalived.conf for the director ``role`` ("primary" or "backup").

    The two directors differ only in the VRRP ``state``/``priority`` and the
    unicast addresses, so export once per node.  Every string taken from a
    value (URL path, virtual host, program line) is written in double quotes.
    Raises :class:`LvsCfError` for a program line keepalived.conf cannot carry
    (a double quote or control character); an HTTP request it cannot carry
    becomes a connect check with a ``! piranha:`` note.
    """
    if role not in ("primary", "backup"):
        raise ValueError(f"role must be 'primary' or 'backup', not {role!r}")
    out = [f"! keepalived.conf for the {role} director, exported by piranha-web from lvs.cf",
           "! Lines starting with '! piranha:' note what keepalived cannot express.",
           f"! piranha: serial_no {cfg.serial_no}"]
    if cfg.primary and not (cfg.backup_active and cfg.backup):
        out.append(f"! piranha: primary {cfg.primary}")
    out += ["", *_global_defs(cfg, role), ""]
    out += _vrrp(cfg, role)
    for vs in cfg.active_virtuals():
        out += _virtual_server(cfg, vs)
    out += list(_skipped(cfg))
    return "\n".join(out).rstrip("\n") + "\n"
