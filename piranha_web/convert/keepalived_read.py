"""Read keepalived.conf ``virtual_server`` blocks into an :class:`LvsConfig`.

The migration path from keepalived: its LVS half maps onto lvs.cf almost
one to one (see :mod:`.keepalived`), and its VRRP half tells us on which
device each VIP lives and which address is the NAT router.  Everything is
read strictly enough to be safe (a bad value is an error naming its line)
and loosely enough to be useful (keywords that change nothing in lvs.cf,
such as ``ha_suspend`` or ``alpha``, are ignored).  Features lvs.cf cannot
hold (``virtual_server_group``, ``include``, SCTP, mixed forwarding methods)
are errors naming the line, so nothing is half-imported.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from piranha_web.lvscf import SCHEDULERS as _SCHEDULERS
from piranha_web.lvscf import LvsCfError, LvsConfig, Problem, RealServer, VirtualServer
from piranha_web.lvscf.parser import MAX_DIGITS

_KINDS = {"NAT": "nat", "DR": "direct", "TUN": "tunnel"}
_HINT = "piranha:"
_TOP_HINT = re.compile(r"^[!#]\s*piranha:\s*(primary|serial_no)\s+(\S+)\s*$", re.MULTILINE)


@dataclass
class Node:
    """One statement: ``keyword args...`` with an optional ``{ }`` body."""

    keyword: str
    args: list[str]
    line: int
    children: list["Node"] | None = None
    hints: list[str] = field(default_factory=list)   # "! piranha: ..." comments inside the block
    before: list[str] = field(default_factory=list)  # "! piranha: ..." comments just above


def _fail(line: int, message: str, key: str | None = None) -> LvsCfError:
    return LvsCfError(Problem(line, message, key))


def _tokens(text: str, lineno: int) -> tuple[list[str], str | None]:
    """Split one line into tokens; also return a trailing ``! piranha:`` hint."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in " \t":
            i += 1
        elif ch in "!#":
            comment = text[i + 1:].strip()
            return out, comment[len(_HINT):].strip() if comment.startswith(_HINT) else None
        elif ch in "{}":
            out.append(ch)
            i += 1
        elif ch == '"':
            end = text.find('"', i + 1)
            if end < 0:
                raise _fail(lineno, "unterminated quoted string")
            out.append(text[i + 1:end])
            i = end + 1
        else:
            j = i
            while j < len(text) and text[j] not in ' \t{}"!#':
                j += 1
            out.append(text[i:j])
            i = j
    return out, None


def parse_tree(text: str) -> list[Node]:
    """keepalived.conf text -> statements, with blocks nested (braces may sit anywhere)."""
    root: list[Node] = []
    stack: list[tuple[Node | None, list[Node]]] = [(None, root)]
    pending_hints: list[str] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        toks, hint = _tokens(raw, lineno)
        if toks and toks[0] in ("include", "$") or (toks and toks[0].startswith(("$", "@"))):
            raise _fail(lineno, f"{toks[0]!r} is not supported: expand includes, parameters and "
                                "conditionals first (keepalived -t --config-test-file can help)")
        for tok in toks:
            siblings = stack[-1][1]
            if tok == "{":
                if not siblings or siblings[-1].children is not None:
                    raise _fail(lineno, "'{' without a keyword before it")
                siblings[-1].children = []
                stack.append((siblings[-1], siblings[-1].children))
            elif tok == "}":
                if len(stack) == 1:
                    raise _fail(lineno, "'}' without a matching '{'")
                stack.pop()
                pending_hints = []
            elif siblings and siblings[-1].line == lineno and siblings[-1].children is None:
                siblings[-1].args.append(tok)
            else:
                siblings.append(Node(tok, [], lineno, before=pending_hints))
                pending_hints = []
        if hint is not None:
            owner = stack[-1][0]
            if owner is not None and not toks:
                owner.hints.append(hint)
            pending_hints.append(hint)
    if len(stack) > 1:
        node = stack[-1][0]
        raise _fail(node.line if node else 0, f"block {node.keyword if node else ''!r} is never closed")
    return root


def _one(node: Node, count: int = 1) -> list[str]:
    if len(node.args) < count:
        raise _fail(node.line, f"{node.keyword}: missing argument", node.keyword)
    return node.args


def _number(node: Node, integer: bool = False) -> float:
    text = _one(node)[0]
    try:
        if len(text) > MAX_DIGITS:
            raise ValueError(text)
        value = int(text) if integer else float(text)
    except ValueError:
        raise _fail(node.line, f"{node.keyword}: expected a number, got {text!r}", node.keyword) from None
    if value < 0:
        raise _fail(node.line, f"{node.keyword}: must not be negative", node.keyword)
    return value


def _ip(node: Node, text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise _fail(node.line, f"{node.keyword}: {text!r} is not an IP address", node.keyword) from None


def _hint(hints: list[str], word: str) -> str | None:
    for hint in hints:
        if hint.startswith(word + " "):
            return hint[len(word) + 1:].strip()
    return None


@dataclass
class _Vrrp:
    """What the VRRP half says: where addresses live, who the peers are."""

    addresses: dict[str, tuple[str | None, int, int]] = field(default_factory=dict)  # ip -> dev, len, line
    order: list[str] = field(default_factory=list)
    primary: str | None = None
    backup: str | None = None
    advert: float | None = None
    deadtime: float | None = None


def _read_address(vrrp: _Vrrp, node: Node) -> None:
    ip_text, _, plen = node.keyword.partition("/")
    address = _ip(node, ip_text)
    args = node.args
    device = None
    if "label" in args[:-1]:
        device = args[args.index("label") + 1]
    elif "dev" in args[:-1]:
        device = args[args.index("dev") + 1]
    length = int(plen) if plen.isdigit() else ipaddress.ip_address(address).max_prefixlen
    if address not in vrrp.addresses:
        vrrp.order.append(address)
    vrrp.addresses[address] = (device, length, node.line)


def _read_vrrp(nodes: list[Node]) -> _Vrrp:
    vrrp = _Vrrp()
    for inst in (n for n in nodes if n.keyword == "vrrp_instance"):
        body = inst.children or []
        state = next((n.args[0].upper() for n in body if n.keyword == "state" and n.args), "MASTER")
        src = next((n.args[0] for n in body if n.keyword == "unicast_src_ip" and n.args), None)
        peers = next((n.children or [] for n in body if n.keyword == "unicast_peer"), [])
        peer = peers[0].keyword if peers else None
        me, other = (src, peer) if state == "MASTER" else (peer, src)
        vrrp.primary = vrrp.primary or me
        vrrp.backup = vrrp.backup or other
        dead = (_hint(inst.hints, "deadtime") or "").split(" ")[0]
        if vrrp.deadtime is None and dead.replace(".", "", 1).isdigit():
            vrrp.deadtime = float(dead) if "." in dead else int(dead)
        for n in body:
            if n.keyword == "advert_int" and vrrp.advert is None:
                vrrp.advert = _number(n)
            if n.keyword in ("virtual_ipaddress", "virtual_ipaddress_excluded"):
                for addr in n.children or []:
                    _read_address(vrrp, addr)
    return vrrp


def _mask(address: str, length: int) -> str | None:
    """lvs.cf mask for a prefix length: dotted for IPv4, a length for IPv6, None for a host."""
    net = ipaddress.ip_network(f"{address}/{length}", strict=False)
    if length == net.max_prefixlen:
        return None
    return str(net.netmask) if net.version == 4 else str(length)


def _check_of(rs_node: Node) -> Node | None:
    checks = ("HTTP_GET", "SSL_GET", "TCP_CHECK", "UDP_CHECK", "MISC_CHECK")
    return next((n for n in rs_node.children or [] if n.keyword in checks), None)


def _apply_check(vs: VirtualServer, check: Node, rs: RealServer, port: int) -> None:
    """Set send/expect/send_program/timeout from the first real server's check."""
    body = check.children or []
    for n in body:
        if n.keyword in ("connect_timeout", "misc_timeout"):
            vs.timeout = _number(n)
    if check.keyword in ("HTTP_GET", "SSL_GET"):
        url = next((n for n in body if n.keyword == "url"), None)
        path = next((n.args[0] for n in (url.children or []) if n.keyword == "path" and n.args), "/") \
            if url else "/"
        status = next((n.args[0] for n in (url.children or []) if n.keyword == "status_code" and n.args),
                      None) if url else None
        host = next((n.args[0] for n in body if n.keyword == "virtualhost" and n.args), None)
        vs.send = f"GET {path} HTTP/1.0\\r\\n" + (f"Host: {host}\\r\\n" if host else "") + "\\r\\n"
        vs.expect = f"HTTP/1.0 {status}" if status and status.isdigit() else "HTTP"
    elif check.keyword == "MISC_CHECK":
        path = next((n for n in body if n.keyword == "misc_path"), None)
        if path is None or not path.args:
            raise _fail(check.line, "MISC_CHECK without misc_path", "misc_path")
        tokens = " ".join(path.args).split(" ")
        vs.send_program = " ".join("%h" if t == rs.address else "%p" if t == str(port) else t
                                   for t in tokens)
        if any(n.keyword == "misc_dynamic" for n in body):
            vs.check, vs.check_dynamic = "program", True


def _real_server(vs: VirtualServer, node: Node, kind_quiesce: list[bool]) -> RealServer:
    args = _one(node, 1)
    address = _ip(node, args[0])
    port = vs.port
    if len(args) > 1:
        port = int(_number(Node("port", [args[1]], node.line), integer=True))
    elif vs.fwmark:      # keepalived's fwmark real servers have no port: the checker's connect_port
        check = _check_of(node)
        body = check.children or [] if check else []
        probe = next((n for n in body if n.keyword == "connect_port"), None)
        if probe is not None:
            port = int(_number(probe, integer=True))
    name = _hint(node.hints, "server") or f"rs_{address}"
    rs = RealServer(name=name, address=address, active=True, port=None if port == vs.port else port)
    for n in node.children or []:
        if n.keyword == "weight":
            rs.weight = int(_number(n, integer=True))
        elif n.keyword == "inhibit_on_failure":
            kind_quiesce.append(True)
    return rs


def _virtual_head(node: Node, vs: VirtualServer) -> None:
    args = node.args
    if args and args[0] == "group":
        raise _fail(node.line, "virtual_server group is not supported: write one virtual_server "
                               "per address", "virtual_server")
    if args and args[0] == "fwmark":
        vs.fwmark = int(_number(Node("fwmark", args[1:], node.line), integer=True))
        vs.port = 0
        return
    _one(node, 2)
    vs.address = _ip(node, args[0])
    vs.port = int(_number(Node("port", args[1:], node.line), integer=True))


def _virtual(node: Node, index: int, kinds: list[tuple[str, int]]) -> VirtualServer:
    vs = VirtualServer(name=_hint(node.before, "virtual") or f"vs{index}", active=True)
    _virtual_head(node, vs)
    for n in node.children or []:
        word = n.keyword
        if word == "delay_loop":
            vs.timeout = _number(n)
        elif word in ("lb_algo", "lvs_sched"):
            if _one(n)[0] not in _SCHEDULERS:
                raise _fail(n.line, f"{word}: scheduler {n.args[0]!r} has no lvs.cf equivalent", word)
            vs.scheduler = n.args[0]
        elif word in ("lb_kind", "lvs_method"):
            kind = _one(n)[0].upper()
            if kind not in _KINDS:
                raise _fail(n.line, f"{word}: {n.args[0]!r} is not NAT, DR or TUN", word)
            kinds.append((_KINDS[kind], n.line))
        elif word == "protocol":
            proto = _one(n)[0].lower()
            if proto not in ("tcp", "udp"):
                raise _fail(n.line, f"protocol {n.args[0]!r} is not supported by lvs.cf (tcp or udp)",
                            word)
            vs.protocol = proto
        elif word == "persistence_timeout":
            vs.persistent = int(_number(n, integer=True)) if n.args else 360
        elif word == "persistence_granularity":
            vs.pmask = _one(n)[0]
        elif word == "sorry_server":
            vs.sorry_server = _ip(n, _one(n)[0])
    if vs.fwmark:
        hinted_address, hinted_port = _hint(node.hints, "address"), _hint(node.hints, "port")
        vs.address = _ip(node, hinted_address) if hinted_address else None
        vs.port = int(_number(Node("port", [hinted_port], node.line), integer=True)) if hinted_port else 0
        vs.protocol = "udp" if _hint(node.hints, "protocol") == "udp" else vs.protocol
    reentry = _hint(node.hints, "reentry")
    if reentry:
        value = _number(Node("reentry", [reentry], node.line))
        vs.reentry = int(value) if float(value).is_integer() and "." not in reentry else value
    quiesce: list[bool] = []
    real_nodes = [n for n in node.children or [] if n.keyword == "real_server"]
    vs.servers = [_real_server(vs, n, quiesce) for n in real_nodes]
    vs.quiesce_server = bool(quiesce)
    for rs_node, rs in zip(real_nodes, vs.servers):
        check = _check_of(rs_node)
        if check is not None:
            _apply_check(vs, check, rs, vs.server_port(rs))
            break
    # lvs.cf has one timeout (interval and per-check timeout): delay_loop wins.
    delay = next((n for n in node.children or [] if n.keyword == "delay_loop"), None)
    if delay is not None:
        vs.timeout = _number(delay)
    return vs


def _network(kinds: list[tuple[str, int]]) -> str:
    """lvs.cf has one forwarding method for all virtual servers (global ``network``)."""
    if not kinds:
        return "nat"   # keepalived's own default
    first, line = kinds[0]
    for kind, other in kinds[1:]:
        if kind != first:
            raise _fail(other, f"lb_kind {kind} differs from lb_kind {first} at line {line}: lvs.cf "
                               "uses one forwarding method for every virtual server", "lb_kind")
    return first


def _place_addresses(cfg: LvsConfig, vrrp: _Vrrp) -> None:
    """Give each VIP its device and mask; the first other NAT address of each family is the
    nat_router (IPv4) or nat_router6 (IPv6)."""
    vips = {vs.address for vs in cfg.virtuals}
    for vs in cfg.virtuals:
        if vs.address in vrrp.addresses:
            device, length, _ = vrrp.addresses[vs.address]
            vs.device, vs.vip_nmask = device, _mask(vs.address, length)
    others = [a for a in vrrp.order if a not in vips]
    if cfg.network != "nat":
        return
    v4 = [a for a in others if ":" not in a]
    v6 = [a for a in others if ":" in a]
    if v4:
        device, length, _ = vrrp.addresses[v4[0]]
        cfg.nat_router, cfg.nat_router_device = v4[0], device
        cfg.nat_nmask = _mask(v4[0], length)
    if v6:
        device, length, _ = vrrp.addresses[v6[0]]
        cfg.nat_router6, cfg.nat_router6_device = v6[0], device
        cfg.nat_nmask6 = _mask(v6[0], length)


def from_keepalived(text: str) -> LvsConfig:
    """Build an :class:`LvsConfig` from keepalived.conf text.

    Raises :class:`LvsCfError` naming the line of anything that cannot be
    carried over.  Imported virtual and real servers are active (keepalived has
    no inactive ones); names come from ``! piranha:`` comments when present.
    """
    nodes = parse_tree(text)
    virtual_nodes = [n for n in nodes if n.keyword == "virtual_server"]
    group = next((n for n in nodes if n.keyword == "virtual_server_group"), None)
    if group is not None:
        raise _fail(group.line, "virtual_server_group is not supported by lvs.cf", "virtual_server_group")
    if not virtual_nodes:
        raise _fail(0, "no virtual_server block found: nothing to import")
    kinds: list[tuple[str, int]] = []
    cfg = LvsConfig(heartbeat=True, keepalive=6, deadtime=18)
    cfg.virtuals = [_virtual(n, i, kinds) for i, n in enumerate(virtual_nodes, 1)]
    cfg.network = _network(kinds)
    vrrp = _read_vrrp(nodes)
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
    _place_addresses(cfg, vrrp)
    _read_global_defs(cfg, nodes)
    return cfg


def _read_global_defs(cfg: LvsConfig, nodes: list[Node]) -> None:
    """``lvs_sync_daemon IFACE INSTANCE [id N]`` and ``lvs_timeouts tcp N tcpfin N udp N``."""
    for defs in (n for n in nodes if n.keyword == "global_defs"):
        for n in defs.children or []:
            if n.keyword == "lvs_sync_daemon":
                args = _one(n, 2)
                cfg.syncdaemon, cfg.syncd_iface = True, args[0]
                if "id" in args[2:-1]:
                    ident = Node("id", [args[args.index("id") + 1]], n.line)
                    cfg.syncd_id = int(_number(ident, integer=True))
            elif n.keyword == "lvs_timeouts":
                pairs = dict(zip(n.args[::2], n.args[1::2]))
                for name in ("tcp", "tcpfin", "udp"):
                    if name in pairs:
                        value = Node(f"lvs_timeouts {name}", [pairs[name]], n.line)
                        setattr(cfg, f"{name}_timeout", int(_number(value, integer=True)))
