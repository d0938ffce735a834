"""lvs.cf as keepalived.conf: a migration path, in both directions.

keepalived does what pulse does with different words: a ``vrrp_instance``
carries the VIPs (and the NAT router address) that pulse brings up by hand,
and each active ``virtual`` becomes a ``virtual_server`` with one
``real_server`` per active real server.  What keepalived cannot say is kept
as a ``! piranha:`` comment, never silently dropped:

* inactive virtual and real servers (keepalived has no "defined but off");
* ``reentry`` (keepalived re-adds a real server after one good check);
* send/expect pairs that are not an HTTP request (exported as a TCP connect
  check); ``expect`` of a ``send_program`` (keepalived trusts the exit code);
* failover (FOS) services, and pulse's ``deadtime``.

Names of virtual and real servers travel in ``! piranha: virtual NAME`` /
``! piranha: server NAME`` comments so an export imports back under the
same names.  The reverse direction lives in :mod:`.keepalived_read`.
"""

from __future__ import annotations

import ipaddress
import math
import re
from typing import Iterable

from piranha_web.lvscf import LvsCfError, LvsConfig, Problem, RealServer, VirtualServer, mask_prefix

from .keepalived_read import from_keepalived

__all__ = ["to_keepalived", "from_keepalived", "VRRP_ROUTER_ID"]

VRRP_ROUTER_ID = 51
_KINDS = {"nat": "NAT", "direct": "DR", "tunnel": "TUN"}
# A plain HTTP request as lvs.cf writes it (escapes undecoded), optional Host header.
_EOL = r"(?:\\r\\n|\\n|\r\n|\n)"
_HTTP_SEND = re.compile(rf"^(?:GET|HEAD) (\S+) HTTP/1\.[01](?:{_EOL}Host: (\S+?))?(?:{_EOL}){{0,2}}$")
_STATUS = re.compile(r"^HTTP/1\.[01] ([1-5][0-9][0-9])$")
_I = "    "


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


def _check_block(vs: VirtualServer, rs: RealServer, port: int) -> list[str]:
    """The health check lines for one real server, mirroring the virtual's send/expect."""
    timeout = f"connect_timeout {_num(vs.timeout)}"
    if vs.send_program:
        command = " ".join(rs.address if t == "%h" else str(port) if t == "%p" else t
                           for t in vs.send_program.split(" "))
        out = ["MISC_CHECK {", f"{_I}misc_path {_quote(vs.name, 'send_program', command)}",
               f"{_I}misc_timeout {max(1, math.ceil(vs.timeout))}"]
        if vs.expect:
            out.append(f"{_I}! piranha: expect {vs.expect} (keepalived checks the exit status)")
        return out + ["}"]
    match = _HTTP_SEND.match(vs.send or "")
    if (vs.protocol == "tcp" and match and (vs.expect or "HTTP").startswith("HTTP")
            and all(_quotable(part) for part in match.groups() if part)):
        status = _STATUS.match(vs.expect or "")
        url = ["url {", f"{_I}path {_quote(vs.name, 'send', match.group(1))}"]
        url += [f"{_I}status_code {status.group(1)}"] if status else []
        out = ["HTTP_GET {", *(_I + line for line in url + ["}"]), f"{_I}{timeout}"]
        if match.group(2):
            out.append(f"{_I}virtualhost {_quote(vs.name, 'send', match.group(2))}")
        return out + ["}"]
    kind = "UDP_CHECK" if vs.protocol == "udp" else "TCP_CHECK"
    out = [f"{kind} {{", f"{_I}{timeout}"]
    if vs.send or vs.expect:
        out.append(f"{_I}! piranha: send/expect check not expressible here; connect check only")
    return out + ["}"]


def _real_server(vs: VirtualServer, rs: RealServer) -> list[str]:
    port = vs.server_port(rs)
    out = [f"real_server {rs.address} {port} {{", f"{_I}! piranha: server {rs.name}",
           f"{_I}weight {rs.weight}"]
    if vs.quiesce_server:
        out.append(f"{_I}inhibit_on_failure")
    out += [_I + line for line in _check_block(vs, rs, port)]
    return out + ["}"]


def _virtual_server(cfg: LvsConfig, vs: VirtualServer) -> list[str]:
    key = f"fwmark {vs.fwmark}" if vs.fwmark else f"{vs.address} {vs.port}"
    out = [f"! piranha: virtual {vs.name}", f"virtual_server {key} {{",
           f"{_I}delay_loop {_num(vs.timeout)}",
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
        out.append(f"{_I}sorry_server {vs.sorry_server} {vs.port}")
    if vs.fwmark and vs.address:
        out.append(f"{_I}! piranha: address {vs.address}")
    if vs.fwmark:
        out.append(f"{_I}! piranha: port {vs.port}")
    out.append(f"{_I}! piranha: reentry {_num(vs.reentry)}")
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
    out += ["",
            "global_defs {", f"{_I}router_id piranha_{role}", "}", ""]
    out += _vrrp(cfg, role)
    for vs in cfg.active_virtuals():
        out += _virtual_server(cfg, vs)
    out += list(_skipped(cfg))
    return "\n".join(out).rstrip("\n") + "\n"
