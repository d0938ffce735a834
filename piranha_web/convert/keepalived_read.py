"""Read keepalived.conf into an :class:`LvsConfig`, noting every line lvs.cf cannot carry.

The migration path from keepalived: its LVS half maps onto lvs.cf almost one
to one (see :mod:`.keepalived`), each checker becomes the health-check keys
(:mod:`.keepalived_checks`), and its VRRP half tells which device each VIP
lives on and which address is the NAT router (:mod:`.keepalived_vrrp`).

Two kinds of trouble are kept apart.  What keepalived itself would refuse (a
bad number or address, an unclosed block, ``include``) is an error naming its
line.  What keepalived accepts but lvs.cf cannot say (``quorum``, a
``virtual_server_group``, SMTP_CHECK, a second checker, a VRRP
``authentication``...) is a *note* naming its line and keyword:
:func:`read_keepalived` returns the notes beside the configuration, and
:func:`from_keepalived` refuses a file with notes unless told the import may
be lossy.  Nothing is dropped silently.
"""

from __future__ import annotations

import re
from piranha_web.lvscf import SCHEDULERS as _SCHEDULERS
from piranha_web.lvscf import LvsCfError, LvsConfig, Problem, RealServer, VirtualServer
from piranha_web.lvscf.tokens import MAX_DIGITS

from .keepalived_checks import CHECKERS, INHERITED, OTHER_CHECKERS, Probe, keep_hint, read_probe
from .keepalived_tree import Node, Notes, args_of, fail, find, hint, ip, number, parse_tree, whole
from .keepalived_vrrp import place_addresses, read_global_defs, read_vrrp

__all__ = ["from_keepalived", "read_keepalived", "parse_tree", "Node"]

_KINDS = {"NAT": "nat", "DR": "direct", "TUN": "tunnel"}
_TOP_HINT = re.compile(r"^[!#]\s*piranha:\s*(primary|serial_no)\s+(\S+)\s*$", re.MULTILINE)
_TOP_KNOWN = frozenset({"global_defs", "vrrp_instance", "virtual_server"})
_VIRTUAL_KNOWN = INHERITED | {"lb_algo", "lvs_sched", "lb_kind", "lvs_method", "protocol",
                              "persistence_timeout", "persistence_granularity", "sorry_server",
                              "real_server", "alpha", "inhibit_on_failure", "ip_family"}
_REAL_KNOWN = INHERITED | {"weight", "inhibit_on_failure", "alpha", *CHECKERS, *OTHER_CHECKERS}
_ON = ("on", "true", "yes")
# Health keys a probe can set; the fold gives each one to the virtual server or a real server.
_FOLDED = ("check", "check_path", "check_host", "check_status", "check_body", "check_digest", "check_port",
           "check_query", "check_qtype", "check_dynamic", "fall")
_VS_ONLY = ("send", "expect", "use_regex", "load_monitor")     # lvs.cf holds them per virtual server


def _scope(nodes: list[Node] | None, outer: dict[str, Node] | None = None) -> dict[str, Node]:
    """Timing keywords a block hands down to its checkers (its own over ``outer``'s)."""
    out = dict(outer or {})
    for n in nodes or []:
        if n.keyword in INHERITED:
            out[n.keyword] = n
    return out


def _inhibit(node: Node | None) -> bool | None:
    if node is None:
        return None
    return not node.args or node.args[0].lower() in _ON


def _real_server(vs: VirtualServer, node: Node, scope: dict[str, Node],
                 notes: Notes) -> tuple[RealServer, Probe]:
    args = args_of(node, 1)
    address = ip(node, args[0])
    port = vs.port
    body = node.children or []
    if len(args) > 1:
        port = whole(node, args[1])
    elif vs.fwmark:      # keepalived's fwmark real servers have no port: the checker's connect_port
        check = next((n for n in body if n.keyword in CHECKERS), None)
        connect_port = find(check.children if check else None, "connect_port")
        if connect_port is not None:
            port = whole(connect_port)
    notes.others(body, _REAL_KNOWN, "real_server")
    name = hint(node.hints, "server") or f"rs_{address}"
    rs = RealServer(name=name, address=address, active=True, port=None if port == vs.port else port)
    weight = find(body, "weight")
    if weight is not None:
        rs.weight = whole(weight)
    probe = read_probe(node, address, port, _scope(body, scope), notes)
    for key, value in keep_hint(node.hints, node.line).items():
        if key in _FOLDED:
            probe.health[key] = value
        elif key == "check_interval":
            probe.interval = float(value)
        elif key == "check_timeout":
            probe.timeout = float(value)
        elif key not in _VS_ONLY:
            setattr(rs, key, value)
    return rs, probe


def _virtual_head(node: Node, vs: VirtualServer) -> None:
    args = node.args
    if args and args[0] == "fwmark":
        vs.fwmark = whole(node, args_of(node, 2)[1])
        vs.port = 0
        return
    args_of(node, 2)
    vs.address = ip(node, args[0])
    vs.port = whole(node, args[1])


def _settings(vs: VirtualServer, node: Node, kinds: list[tuple[str, Node]], notes: Notes) -> bool:
    """The virtual_server's own statements; False when lvs.cf cannot hold the service at all."""
    for n in node.children or []:
        word = n.keyword
        if word in ("lb_algo", "lvs_sched"):
            if args_of(n)[0] in _SCHEDULERS:
                vs.scheduler = n.args[0]
            else:
                notes.warn(n, f"scheduler {n.args[0]!r} has no lvs.cf equivalent: {vs.scheduler} is used")
        elif word in ("lb_kind", "lvs_method"):
            kind = args_of(n)[0].upper()
            if kind not in _KINDS:
                raise fail(n.line, f"{word}: {n.args[0]!r} is not NAT, DR or TUN", word)
            kinds.append((_KINDS[kind], n))
        elif word == "protocol":
            proto = args_of(n)[0].lower()
            if proto not in ("tcp", "udp"):
                notes.warn(n, f"protocol {n.args[0]!r} is not supported by lvs.cf (tcp or udp): "
                              "this virtual server is not imported")
                return False
            vs.protocol = proto
        elif word == "persistence_timeout":
            vs.persistent = whole(n) if n.args else 360
        elif word == "persistence_granularity":
            vs.pmask = args_of(n)[0]
        elif word == "sorry_server":
            _sorry(vs, n, notes)
    return True


def _sorry(vs: VirtualServer, n: Node, notes: Notes) -> None:
    """``sorry_server IP [PORT]``: lvs.cf's sorry server takes the service's port, as keepalived does."""
    args = args_of(n)
    vs.sorry_server = ip(n, args[0])
    if len(args) > 1 and whole(n, args[1]) not in (vs.port, 0):
        notes.warn(n, f"port {args[1]} differs from the service's {vs.port}: keepalived resets it and "
                      "lvs.cf uses the service's port")


def _hinted(vs: VirtualServer, node: Node) -> None:
    """What the exporter left in ``! piranha:`` comments: a fwmark service's address, port and protocol."""
    if vs.fwmark:
        hinted_address, hinted_port = hint(node.hints, "address"), hint(node.hints, "port")
        vs.address = ip(node, hinted_address) if hinted_address else None
        vs.port = whole(node, hinted_port) if hinted_port else 0
        vs.protocol = "udp" if hint(node.hints, "protocol") == "udp" else vs.protocol
    reentry = hint(node.hints, "reentry")
    if reentry:
        value = number(Node("reentry", [reentry], node.line))
        vs.reentry = int(value) if float(value).is_integer() and "." not in reentry else value
    else:
        vs.rise = 1      # keepalived re-adds a real server after its first good check


def _quiesce(vs: VirtualServer, node: Node, real_nodes: list[Node], notes: Notes) -> None:
    """``inhibit_on_failure``: lvs.cf quiesces all real servers of a virtual server or none."""
    default = _inhibit(find(node.children, "inhibit_on_failure")) or False
    values = [(n, _inhibit(find(n.children, "inhibit_on_failure"))) for n in real_nodes]
    wanted = [default if v is None else v for _, v in values]
    vs.quiesce_server = wanted[0] if wanted else default
    for (n, _), value in zip(values, wanted):
        if value != vs.quiesce_server:
            where = find(n.children, "inhibit_on_failure") or n
            notes.warn(where, f"lvs.cf quiesces every real server of a virtual server or none: this one "
                              f"is {'quiesced' if vs.quiesce_server else 'removed'} on failure too")


def _fold(vs: VirtualServer, probes: list[Probe], notes: Notes) -> None:
    """Set the virtual server's health keys from its real servers' probes, overrides where they differ.

    A key all servers agree on goes to the virtual server.  Where they differ,
    the virtual server keeps lvs.cf's default (or the first server's value when
    every server sets one) and each other server gets its own as an override.
    """
    servers = vs.servers
    first = probes[0]
    vs.timeout = first.interval
    vs.check_timeout = first.timeout if first.timeout != first.interval else None
    for key in _FOLDED:
        values = [p.health.get(key) for p in probes]
        common = values[0] if None not in values else None
        setattr(vs, key, common)
        for rs, value in zip(servers, values):
            if value != common:
                setattr(rs, key, value)
    for rs, p in zip(servers, probes):
        if p.interval != first.interval or p.timeout != (vs.check_timeout or first.interval):
            rs.check_interval = p.interval
            rs.check_timeout = p.timeout if (p.timeout != p.interval or vs.check_timeout) else None
    programs = [(p, p.program) for p in probes if p.program is not None]
    if programs:
        vs.send_program = programs[0][1]
    for p, program in programs[1:]:
        if program != vs.send_program:
            notes.warn(Node("misc_path", [], p.line), "lvs.cf runs one send_program per virtual server: "
                                                      f"{vs.send_program!r} is used for this server too")


def _virtual(node: Node, index: int, kinds: list[tuple[str, Node]], notes: Notes) -> VirtualServer | None:
    vs = VirtualServer(name=hint(node.before, "virtual") or f"vs{index}", active=True)
    if node.args[:1] == ["group"]:
        notes.warn(node, "virtual_server group has no lvs.cf equivalent (write one virtual_server per "
                         "address): not imported")
        return None
    _virtual_head(node, vs)
    notes.others(node.children, _VIRTUAL_KNOWN, "virtual_server")
    if not _settings(vs, node, kinds, notes):
        return None
    _hinted(vs, node)
    if vs.fwmark and vs.address is None:
        notes.warn(node, "lvs.cf needs the virtual IP address of a fwmark service, which keepalived "
                         "does not name: not imported")
        return None
    scope = _scope(node.children)
    real_nodes = [n for n in node.children or [] if n.keyword == "real_server"]
    pairs = [_real_server(vs, n, scope, notes) for n in real_nodes]
    vs.servers = [rs for rs, _ in pairs]
    _quiesce(vs, node, real_nodes, notes)
    if pairs:
        _fold(vs, [p for _, p in pairs], notes)
    else:
        loop = scope.get("delay_loop")
        vs.timeout = number(loop) if loop else 60.0
    for key, value in keep_hint(node.hints, node.line).items():
        setattr(vs, key, value)
    return vs


def _network(kinds: list[tuple[str, Node]], notes: Notes) -> str:
    """lvs.cf has one forwarding method for all virtual servers (global ``network``)."""
    if not kinds:
        return "nat"   # keepalived's own default
    first, node = kinds[0]
    for kind, other in kinds[1:]:
        if kind != first:
            notes.warn(other, f"lb_kind {other.args[0]} differs from the one at line {node.line}: lvs.cf "
                              "uses one forwarding method for every virtual server")
    return first


def read_keepalived(text: str) -> tuple[LvsConfig, list[Problem]]:
    """keepalived.conf text -> (configuration, notes on what it could not carry, in line order).

    Raises :class:`LvsCfError` naming the line of anything keepalived itself
    would refuse.  Imported virtual and real servers are active (keepalived
    has no inactive ones); names come from ``! piranha:`` comments when present.
    """
    nodes = parse_tree(text)
    notes = Notes()
    notes.others(nodes, _TOP_KNOWN, "top level")
    virtual_nodes = [n for n in nodes if n.keyword == "virtual_server"]
    if not virtual_nodes:
        raise fail(0, "no virtual_server block found: nothing to import")
    kinds: list[tuple[str, Node]] = []
    cfg = LvsConfig(heartbeat=True, keepalive=6, deadtime=18)
    read = [_virtual(n, i, kinds, notes) for i, n in enumerate(virtual_nodes, 1)]
    cfg.virtuals = [vs for vs in read if vs is not None]
    cfg.network = _network(kinds, notes)
    vrrp = read_vrrp(nodes, notes)
    cfg.primary, cfg.backup = vrrp.primary, vrrp.backup
    hints = dict(_TOP_HINT.findall(text))
    if cfg.primary is None and "primary" in hints:
        cfg.primary = hints["primary"]
    if hints.get("serial_no", "").isdigit() and len(hints["serial_no"]) <= MAX_DIGITS:
        cfg.serial_no = int(hints["serial_no"])
    cfg.backup_active = vrrp.backup is not None
    if vrrp.advert is not None:
        cfg.keepalive = vrrp.advert
        cfg.deadtime = 3 * vrrp.advert
    if vrrp.deadtime is not None:
        cfg.deadtime = vrrp.deadtime
    place_addresses(cfg, vrrp, notes)
    read_global_defs(cfg, nodes, notes)
    return cfg, notes.sorted()


def from_keepalived(text: str, lossy: bool = False) -> LvsConfig:
    """Build an :class:`LvsConfig` from keepalived.conf text.

    Raises :class:`LvsCfError` for anything keepalived would refuse and,
    unless ``lossy``, for every setting lvs.cf cannot carry (each problem
    names its line and keyword); with ``lossy`` those settings are left out
    and :func:`read_keepalived` tells which.
    """
    cfg, notes = read_keepalived(text)
    if notes and not lossy:
        raise LvsCfError(notes)
    return cfg
