"""keepalived.conf's VRRP half and ``global_defs`` as lvs.cf's director settings.

pulse replaces VRRP: ``state``/``unicast_src_ip``/``unicast_peer`` say which
address is the primary and which the backup, ``advert_int`` is the heartbeat
interval, and ``virtual_ipaddress`` says on which device and with which
prefix each VIP (and the NAT router address) lives.  An address written
without ``dev`` or ``label`` lives on the instance's ``interface``.
``virtual_router_id`` and ``priority`` only serve VRRP itself and have no
lvs.cf counterpart to lose.  Everything else is a note naming its line.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from piranha_web.lvscf import LvsConfig

from .keepalived_tree import Node, Notes, args_of, find, hint, ip, number, whole

_INSTANCE_KNOWN = frozenset({"state", "interface", "virtual_router_id", "priority", "advert_int",
                             "unicast_src_ip", "unicast_peer", "virtual_ipaddress",
                             "virtual_ipaddress_excluded"})
_GLOBAL_KNOWN = frozenset({"router_id", "enable_script_security", "script_user", "lvs_sync_daemon",
                           "lvs_timeouts"})
_ADDRESS_OPTIONS = ("dev", "label")


@dataclass
class Vrrp:
    """What the VRRP half says: where addresses live, who the peers are."""

    addresses: dict[str, tuple[str | None, int, Node]] = field(default_factory=dict)  # ip -> dev, len
    order: list[str] = field(default_factory=list)
    primary: str | None = None
    backup: str | None = None
    advert: float | None = None
    deadtime: float | None = None


def _read_address(vrrp: Vrrp, node: Node, interface: str | None, notes: Notes) -> None:
    ip_text, _, plen = node.keyword.partition("/")
    address = ip(node, ip_text)
    args = node.args
    options = dict(zip(args[::2], args[1::2]))
    for name in options:
        if name not in _ADDRESS_OPTIONS:
            notes.warn(node, f"address option {name!r} has no lvs.cf equivalent: not imported")
    if len(args) % 2:
        notes.warn(node, f"address option {args[-1]!r} has no lvs.cf equivalent: not imported")
    device = options.get("label") or options.get("dev") or interface
    max_len = ipaddress.ip_address(address).max_prefixlen
    length = int(plen) if plen.isdigit() and int(plen) <= max_len else max_len
    if address not in vrrp.addresses:
        vrrp.order.append(address)
    vrrp.addresses[address] = (device, length, node)


def _peers(inst: Node, notes: Notes) -> tuple[str | None, str | None]:
    """(this director, the other) of one instance, from its state and unicast addresses."""
    body = inst.children or []
    state_node = find(body, "state")
    state = args_of(state_node)[0].upper() if state_node else "MASTER"
    src_node = find(body, "unicast_src_ip")
    src = ip(src_node, args_of(src_node)[0]) if src_node else None
    peers = (find(body, "unicast_peer") or Node("unicast_peer", [], inst.line)).children or []
    for extra in peers[1:]:
        notes.warn(extra, "lvs.cf has one backup director: this unicast peer is not imported")
    peer = ip(peers[0], peers[0].keyword) if peers else None
    return (src, peer) if state == "MASTER" else (peer, src)


def read_vrrp(nodes: list[Node], notes: Notes) -> Vrrp:
    """Every ``vrrp_instance``: the first one's peers and timing, all instances' addresses."""
    vrrp = Vrrp()
    for inst in (n for n in nodes if n.keyword == "vrrp_instance"):
        body = inst.children or []
        notes.others(body, _INSTANCE_KNOWN, "vrrp_instance")
        me, other = _peers(inst, notes)
        if vrrp.primary is None and vrrp.backup is None:
            vrrp.primary, vrrp.backup = me, other
        elif (me, other) != (vrrp.primary, vrrp.backup) and (me or other):
            notes.warn(inst, "lvs.cf has one pair of directors: this instance's peers are not imported")
        dead = (hint(inst.hints, "deadtime") or "").split(" ")[0]
        if vrrp.deadtime is None and dead.replace(".", "", 1).isdigit():
            vrrp.deadtime = float(dead) if "." in dead else int(dead)
        advert = find(body, "advert_int")
        if advert is not None and vrrp.advert is None:
            vrrp.advert = number(advert)
        interface = find(body, "interface")
        device = args_of(interface)[0] if interface else None
        for n in body:
            if n.keyword in ("virtual_ipaddress", "virtual_ipaddress_excluded"):
                for addr in n.children or []:
                    _read_address(vrrp, addr, device, notes)
    return vrrp


def _mask(address: str, length: int) -> str | None:
    """lvs.cf mask for a prefix length: dotted for IPv4, a length for IPv6, None for a host."""
    net = ipaddress.ip_network(f"{address}/{length}", strict=False)
    if length == net.max_prefixlen:
        return None
    return str(net.netmask) if net.version == 4 else str(length)


def place_addresses(cfg: LvsConfig, vrrp: Vrrp, notes: Notes) -> None:
    """Give each VIP its device and mask; the first other NAT address of each family is the
    nat_router (IPv4) or nat_router6 (IPv6); any further address is a note."""
    vips = {vs.address for vs in cfg.virtuals}
    for vs in cfg.virtuals:
        if vs.address in vrrp.addresses:
            device, length, _ = vrrp.addresses[vs.address]
            vs.device, vs.vip_nmask = device, _mask(vs.address, length)
    others = [a for a in vrrp.order if a not in vips]
    v4 = [a for a in others if ":" not in a]
    v6 = [a for a in others if ":" in a]
    if cfg.network == "nat" and v4:
        address = v4.pop(0)
        device, length, _ = vrrp.addresses[address]
        cfg.nat_router, cfg.nat_router_device, cfg.nat_nmask = address, device, _mask(address, length)
    if cfg.network == "nat" and v6:
        address = v6.pop(0)
        device, length, _ = vrrp.addresses[address]
        cfg.nat_router6, cfg.nat_router6_device, cfg.nat_nmask6 = address, device, _mask(address, length)
    for address in v4 + v6:
        notes.warn(vrrp.addresses[address][2], "neither a virtual server's address nor the NAT router: "
                                               "not imported")


def read_global_defs(cfg: LvsConfig, nodes: list[Node], notes: Notes) -> None:
    """``lvs_sync_daemon IFACE INSTANCE [id N]`` and ``lvs_timeouts tcp N tcpfin N udp N``."""
    for defs in (n for n in nodes if n.keyword == "global_defs"):
        body = defs.children or []
        notes.others(body, _GLOBAL_KNOWN, "global_defs")
        for n in body:
            if n.keyword == "script_user" and n.args[:1] != ["root"]:
                notes.warn(n, "pulse runs programs as root, its own user: script_user is not imported")
            elif n.keyword == "lvs_sync_daemon":
                _sync_daemon(cfg, n, notes)
            elif n.keyword == "lvs_timeouts":
                _timeouts(cfg, n, notes)


def _sync_daemon(cfg: LvsConfig, n: Node, notes: Notes) -> None:
    args = args_of(n, 2)
    cfg.syncdaemon, cfg.syncd_iface = True, args[0]
    options = dict(zip(args[2::2], args[3::2]))
    for name in options:
        if name != "id":
            notes.warn(n, f"option {name!r} of the sync daemon has no lvs.cf equivalent: not imported")
    if "id" in options:
        cfg.syncd_id = whole(n, options["id"])


def _timeouts(cfg: LvsConfig, n: Node, notes: Notes) -> None:
    pairs = dict(zip(n.args[::2], n.args[1::2]))
    for name, value in pairs.items():
        if name in ("tcp", "tcpfin", "udp"):
            setattr(cfg, f"{name}_timeout", whole(Node(f"lvs_timeouts {name}", [value], n.line)))
        else:
            notes.warn(n, f"timeout {name!r} has no lvs.cf equivalent: not imported")
