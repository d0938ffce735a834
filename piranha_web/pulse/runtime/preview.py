"""What pulse would do with a new configuration, from its last status document (pure).

The console shows this before a publish: the status file holds the table
pulse reported (with active connections), its health and dynamic weights,
the runtime states and the addresses and mark rules it manages.  The plan
follows the reconciler's own rules: ``desired_table`` with those health
states, destinations that leave the configuration drained first (when
``drain_seconds`` > 0), runtime states applied, then ``plan``.  Real servers
new to the configuration have no health yet; they are planned as UP, which is
what pulse does after their first passing check.

Pure (statusfile data in, strings out) so the console may import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...lvscf.model import LvsConfig
from ..reconcile import (
    ADD_ADDRESS, ADD_MARK, DEL_ADDRESS, DEL_DEST, DEL_MARK, DEL_SERVICE, DRAIN_DEST, SET_DEST, UP, Dest,
    DestKey, Op, Service, ServiceEntry, ServiceKey, Table, configured_dests_by_service, desired_addresses,
    desired_marks, desired_table, plan,
)
from .states import Key, RuntimeState, adjust_table


def table_of(doc: Mapping[str, Any]) -> tuple[Table, set[ServiceKey]]:
    """The kernel table a status document reports, and the services pulse manages in it."""
    table: Table = {}
    managed: set[ServiceKey] = set()
    for svc in doc.get("table") or []:
        if svc.get("protocol") == "fwm":
            key = ServiceKey.mark(int(svc.get("fwmark") or 0), "IPv6" in str(svc.get("service")))
        else:
            key = ServiceKey(str(svc.get("protocol")), str(svc.get("addr")), int(svc.get("port") or 0))
        entry = ServiceEntry(Service(str(svc.get("scheduler")), int(svc.get("persistent") or 0),
                                     str(svc.get("netmask"))))
        for d in svc.get("dests") or []:
            stats = {"active_conns": int(d.get("active_conns") or 0)}
            entry.dests[DestKey(str(d.get("addr")), int(d.get("port") or 0))] = \
                Dest(int(d.get("weight") or 0), str(d.get("fwd")), stats)
        table[key] = entry
        if svc.get("managed", True):
            managed.add(key)
    return table, managed


def health_of(doc: Mapping[str, Any], cfg: LvsConfig) -> tuple[dict[Key, str], dict[Key, int]]:
    """Health as the reconciler sees it (agent maintenance = down; unknown new servers = up), and
    the weights that differ from the configured ones."""
    reported = doc.get("health") or {}
    health: dict[Key, str] = {}
    weights: dict[Key, int] = {}
    for vs in cfg.active_virtuals():
        for rs in vs.servers:
            h = (reported.get(vs.name) or {}).get(rs.name)
            if h is None:
                health[(vs.name, rs.name)] = UP
                continue
            state = str(h.get("state") or "unknown")
            health[(vs.name, rs.name)] = "down" if h.get("maint") and state != "unknown" else state
            if isinstance(h.get("weight"), int) and h.get("weight") != h.get("configured_weight") \
                    and state == UP:
                weights[(vs.name, rs.name)] = int(h["weight"])
    return health, weights


def states_of(doc: Mapping[str, Any]) -> dict[Key, RuntimeState]:
    """The runtime states pulse reported."""
    out: dict[Key, RuntimeState] = {}
    for vs, servers in ((doc.get("runtime") or {}).get("states") or {}).items():
        for rs, data in (servers or {}).items():
            out[(vs, rs)] = RuntimeState.from_dict(data)
    return out


def preview_ops(cfg: LvsConfig, doc: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """The ops pulse would apply for ``cfg`` now, one line each in its order and spelling, and warnings."""
    if doc.get("programs_kernel") is False:
        return [], [f"this director is {doc.get('role')}: pulse programs nothing until it becomes active"]
    actual, managed = table_of(doc)
    health, weights = health_of(doc, cfg)
    drains: dict[tuple[ServiceKey, DestKey], Dest] = {}
    if float(doc.get("drain_seconds") or 0) > 0:
        for key, wanted in configured_dests_by_service(cfg).items():
            entry = actual.get(key)
            for dk in (entry.dests.keys() - wanted) if entry is not None else ():
                drains[(key, dk)] = actual[key].dests[dk]
    table = desired_table(cfg, health, drains, weights)
    adjust_table(table, cfg, states_of(doc), actual)
    ops = plan(table, actual, managed, drains.keys())
    addresses = _diff(ADD_ADDRESS, DEL_ADDRESS, {str(a) for a in desired_addresses(cfg)},
                      doc.get("addresses"))
    marks = _diff(ADD_MARK, DEL_MARK, {str(m) for m in desired_marks(cfg)}, doc.get("marks"))
    warnings = [f"removes address {line.removeprefix(DEL_ADDRESS + ' ')}: its virtual servers go away"
                for line in addresses if line.startswith(DEL_ADDRESS)]
    return addresses + [str(op) for op in ops] + marks, warnings + warnings_for(ops, actual)


def _diff(add: str, delete: str, wanted: set[str], reported: Any) -> list[str]:
    """Add/delete lines between what is wanted and what pulse reported managing (as text)."""
    have = {str(x) for x in reported or []}
    return [f"{add} {x}" for x in sorted(wanted - have)] + [f"{delete} {x}" for x in sorted(have - wanted)]


def warnings_for(ops: list[Op], actual: Table) -> list[str]:
    """A service going away; servers losing traffic while they still hold connections."""
    out: list[str] = []
    for op in ops:
        if op.action == DEL_SERVICE and op.key is not None:
            conns = sum(d.stats.get("active_conns", 0) for d in actual[op.key].dests.values())
            held = f" with {conns} active connections" if conns else ""
            out.append(f"removes virtual service {op.key}{held}")
        elif op.action in (DRAIN_DEST, SET_DEST, DEL_DEST) and op.key is not None and op.dest_key is not None:
            going = op.action == DEL_DEST or (op.dest is not None and op.dest.weight == 0)
            have = actual.get(op.key)
            cur = have.dests.get(op.dest_key) if have is not None else None
            conns = cur.stats.get("active_conns", 0) if cur is not None else 0
            if going and conns:
                verb = "removes" if op.action == DEL_DEST else "drains"
                out.append(f"{verb} {op.key} -> {op.dest_key} which has {conns} active connections")
    return out
