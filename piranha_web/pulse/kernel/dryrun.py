"""Kernel access behind small interfaces, plus the in-memory dry-run implementations.

pulse touches three things in the kernel: the IPVS table, addresses on
devices, and firewall-mark rules.  Each has a protocol here; the real ones
live in ``ipvs.py``, ``addresses.py`` and ``firewall.py``.  The dry-run
classes keep everything in memory and report it exactly as the kernel would,
so the daemon, ``--plan`` and the tests run unprivileged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from ..reconcile import (
    COUNTER_NAMES, Address, Dest, DestKey, MarkRule, Op, Service, ServiceCounters, ServiceKey, Table,
    apply_op, copy_table,
)


class IpvsBackend(Protocol):
    """Read and change the IPVS table."""

    name: str

    def dump(self) -> Table:
        """The whole current table, with counters."""

    def dump_services(self) -> dict[ServiceKey, Service]:
        """Every service, without destinations."""

    def dump_dests(self, key: ServiceKey) -> dict[DestKey, Dest]:
        """One service's destinations, with counters (empty when the service is gone)."""

    def dump_service_counters(self) -> dict[ServiceKey, ServiceCounters]:
        """Every service's own counters (one request): which services saw traffic since a sample."""

    def apply(self, op: Op) -> None:
        """Apply one IPVS op (one netlink request for the real backend); raises on failure."""

    def apply_many(self, ops: list[Op]) -> list[OSError | None]:
        """Apply ops in order, each on its own (one failing does not stop the rest); the verdicts."""

    def set_timeouts(self, tcp: int, tcpfin: int, udp: int) -> None:
        """``ipvsadm --set``: connection timeouts in seconds, 0 = leave unchanged."""

    def close(self) -> None:
        """Release sockets."""


class AddressBackend(Protocol):
    """Bring addresses up and down on devices."""

    def present_of(self, addresses: set[Address]) -> set[Address]:
        """Which of ``addresses`` are configured right now (one query for all)."""

    def add(self, address: Address) -> None:
        """Add the address (with its label); fine if already there."""

    def remove(self, address: Address) -> None:
        """Remove exactly this address; fine if already gone."""

    def close(self) -> None:
        """Release sockets."""


class FirewallBackend(Protocol):
    """pulse's own firewall-mark rules (its own nft table or iptables chain)."""

    name: str

    def sync(self, rules: set[MarkRule]) -> None:
        """Make pulse's table/chain hold exactly ``rules`` (creating it when needed)."""

    def remove_all(self) -> None:
        """Delete pulse's table/chain and the jump to it; nothing else."""


@dataclass
class DryRunIpvs:
    """An IPVS table in memory; counts applied ops like the real backend."""

    table: Table = field(default_factory=dict)
    name: str = "dry-run"
    applied: list[Op] = field(default_factory=list)
    timeouts: tuple[int, int, int] = (900, 120, 300)      # the kernel's defaults

    def dump(self) -> Table:
        """A copy of the in-memory table."""
        return copy_table(self.table)

    def dump_services(self) -> dict[ServiceKey, Service]:
        """The services in memory."""
        return {key: entry.service for key, entry in self.table.items()}

    def dump_dests(self, key: ServiceKey) -> dict[DestKey, Dest]:
        """A copy of one service's destinations."""
        entry = copy_table({key: self.table[key]})[key] if key in self.table else None
        return entry.dests if entry is not None else {}

    def dump_service_counters(self) -> dict[ServiceKey, ServiceCounters]:
        """Each service's counters as the kernel keeps them: the sums over its destinations."""
        return {key: tuple(sum(int(d.stats.get(name, 0)) for d in entry.dests.values())
                           for name in COUNTER_NAMES)
                for key, entry in self.table.items()}

    def apply(self, op: Op) -> None:
        """Mutate the in-memory table as the kernel would."""
        apply_op(self.table, op)
        self.applied.append(op)

    def apply_many(self, ops: list[Op]) -> list[OSError | None]:
        """Each op on its own, like a netlink batch: a refused one is reported, the rest apply."""
        results: list[OSError | None] = []
        for op in ops:
            try:
                self.apply(op)
                results.append(None)
            except (KeyError, ValueError) as exc:
                results.append(OSError(str(exc)))
        return results

    def set_timeouts(self, tcp: int, tcpfin: int, udp: int) -> None:
        """Like the kernel: 0 keeps the current value."""
        pairs = zip((tcp, tcpfin, udp), self.timeouts)
        self.timeouts = tuple(new or old for new, old in pairs)  # type: ignore

    def close(self) -> None:
        """Nothing to release."""


@dataclass
class DryRunAddresses:
    """Addresses in memory."""

    present: set[Address] = field(default_factory=set)

    def present_of(self, addresses: set[Address]) -> set[Address]:
        """Intersection with what is in memory."""
        return addresses & self.present

    def add(self, address: Address) -> None:
        """Remember the address."""
        self.present.add(address)

    def remove(self, address: Address) -> None:
        """Forget the address."""
        self.present.discard(address)

    def close(self) -> None:
        """Nothing to release."""


@dataclass
class DryRunFirewall:
    """Mark rules in memory."""

    rules: set[MarkRule] = field(default_factory=set)
    name: str = "dry-run"

    def sync(self, rules: set[MarkRule]) -> None:
        """Replace the rule set."""
        self.rules = set(rules)

    def remove_all(self) -> None:
        """Drop every rule."""
        self.rules = set()
