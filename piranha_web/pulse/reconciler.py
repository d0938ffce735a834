"""The one place that changes the kernel: desired table -> plan -> apply; drains; the managed set.

Reconcile, never restart: the desired table is diffed against the kernel's
(``reconcile.plan``) and only the difference is applied, one netlink request
per operation, sent in batches.  pulse keeps a copy of the kernel table in
step with its own ops and plans against it: reading the whole table costs one
request per service.  The periodic pass (every ``reconcile_interval``)
verifies that copy incrementally: the service list (one request: services
added, removed or changed behind pulse's back) and the destinations of a
rolling share of the services (at least ``VERIFY_MIN``, so a small table is
verified whole every pass and a large one within ``VERIFY_ROUNDS`` passes),
which also refreshes their counters.  A failed op or dump drops the copy, and
the next pass reads the whole table.  A whole pass at 10,000 real servers
costs a second or more of CPU on a slow machine, so the periodic one comes at
most every ``PERIODIC_DUTY`` times its own cost (never more often than
``reconcile_interval``).

A health or weight change re-plans only the virtual servers it touched
(:meth:`Reconciler.touch`, :meth:`Reconciler.scope`): everything else is
unchanged since the last whole pass, which left the kernel as desired (a
failed op drops the cached table and forces a whole pass).  During the first
round of checks at start, thousands of servers come UP one after the other;
planning all of them on every change would keep the loop busy re-planning
instead of checking.  Services pulse does not manage are
left alone.  A real server removed from lvs.cf is drained (weight 0) for
``drain_seconds`` and then deleted.

What gets programmed: IPVS services (TCP, UDP, fwmark) and destinations;
the VIPs and the NAT router address (with a gratuitous ARP burst when no
failover controller announces them); firewall-mark rules for fwmark
services; lvs.cf's tcp/tcpfin/udp connection timeouts (lvsd's
``ipvsadm --set``).  What pulse added is persisted (the managed set), so a
stop, or the next run after a crash, removes exactly that.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..lvscf.model import LvsConfig, VirtualServer
from ..lvscf.reparse import Edit
from .kernel import Backends, FirewallBackend
from .kernel.sysctl import SYSCTL_NAME
from .managed import load_managed, save_managed
from .reconcile import (
    ADD_ADDRESS, DEL_SERVICE, Address, Dest, DestKey, MarkRule, Op, ServiceCounters, ServiceEntry, ServiceKey,
    Table, apply_op, configured_dests_by_service, desired_addresses, desired_entries, desired_marks,
    desired_table, footprint, plan, plan_addresses, plan_marks, routers_first,
)
from .statusfile import MANAGED_NAME

log = logging.getLogger("pulse")

Health = Mapping[tuple[str, str], str]
Weights = dict[tuple[str, str], int]
VERIFY_MIN = 32        # services whose destinations a periodic pass re-reads, at least
VERIFY_ROUNDS = 16     # periodic passes that verify a large table whole
PERIODIC_DUTY = 10     # a whole periodic pass takes at most 1/PERIODIC_DUTY of the time


@dataclass
class Drain:
    """A destination leaving the configuration: weight 0 until ``deadline``."""

    deadline: float
    dest: Dest


@dataclass
class Counters:
    """Reconcile bookkeeping reported in the status file."""

    ops_applied: int = 0
    passes_with_ops: int = 0
    last_ops: list[Op] = field(default_factory=list)
    last_errors: list[str] = field(default_factory=list)
    last_time: float | None = None


def settle_gc() -> None:
    """Move the long-lived objects (config, tables) out of the collector's way.

    With 10,000 real servers every full collection would walk the whole
    configuration; freezing it after start and after each reload keeps a
    one-change reconcile in the tens of milliseconds.
    """
    gc.collect()
    gc.freeze()


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The collector off for a burst of allocation (parsing, re-targeting checks); settle_gc after.

    Tens of thousands of new objects would otherwise trigger full collections
    over the whole old configuration, doubling the time a change takes to
    reach the kernel.
    """
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class Reconciler:
    """Owns what pulse put in the kernel and changes it by minimal diffs."""

    def __init__(self, kernel: Backends, runtime_dir: Path, drain_seconds: float = 5.0,
                 reconcile_interval: float = 5.0) -> None:
        self.kernel = kernel
        self.managed_path = runtime_dir / MANAGED_NAME
        self.managed = load_managed(self.managed_path)
        self.drain_seconds = drain_seconds
        self.reconcile_interval = reconcile_interval
        self.drains: dict[tuple[ServiceKey, DestKey], Drain] = {}
        self.firewall: FirewallBackend | None = None
        self.counters = Counters()
        self.timeouts_applied: tuple[int, int, int] | None = None
        self.dirty = True             # something changed: reconcile on the next pass
        self.fresh = True             # the next pass re-dumps the kernel table
        self._actual: Table | None = None
        self._next_periodic = 0.0
        self._index: tuple[LvsConfig, dict[ServiceKey, set[DestKey]]] | None = None
        self._managed_snapshot: object = None
        self._service_counters: dict[ServiceKey, ServiceCounters] = {}   # as of the last refresh_counters
        self._verify_at = 0           # where the next periodic pass's rolling share starts
        self.touched: set[str] = set()   # virtual servers whose health or weights changed since a pass
        self._whole: tuple[LvsConfig, bool, bool] | None = None   # what the last whole pass planned for
        self._virtuals: tuple[LvsConfig, dict[str, VirtualServer]] | None = None
        self._announcements: set[asyncio.Task[None]] = set()
        self.warnings: list[str] = []
        self._warned_for: LvsConfig | None = None
        # runtime states (drain, maint, weight overrides) applied to each desired table before planning
        self.adjust: Callable[[Table, LvsConfig, Table], None] | None = None

    def due(self) -> bool:
        """Is a pass due now (a change, the periodic re-dump, or a drain deadline)?"""
        if time.monotonic() >= self._next_periodic:
            self.fresh = True         # periodic pass: re-read the kernel (external changes, counters)
        return (self.dirty or self.fresh or bool(self.touched)
                or any(time.time() >= d.deadline for d in self.drains.values()))

    def touch(self, virtual: str) -> None:
        """A real server of ``virtual`` changed health or weight: re-plan that service on the next pass."""
        self.touched.add(virtual)

    def scope(self, cfg: LvsConfig, programs: bool, addresses: bool = True) -> set[str] | None:
        """The virtual servers the next pass must plan, or None when it must plan the whole table.

        Only health changes since a whole pass for the same configuration and
        role can be planned in part, and only while the cached kernel table is
        trusted and nothing is draining.
        """
        if (self.dirty or self.fresh or self._actual is None or self.drains
                or self._whole != (cfg, programs, addresses)):
            return None
        return set(self.touched)

    def follow(self, edit: Edit) -> None:
        """A reload that edited one virtual server: plan it alone when it keeps its footprint.

        The last whole pass stays valid for the new configuration when the
        edited virtual server keeps its service, destinations, address and
        mark rule (weights, checks and service settings may change): the next
        pass plans that virtual server only.  Anything else is a whole pass.
        """
        if self._whole is None or self._whole[0] is not edit.base or len(edit.names()) > 1:
            return                                 # (a renamed virtual server's checks start over)
        if footprint(edit.old) != footprint(edit.new):
            return
        _, programs, addresses = self._whole
        self._whole = (edit.cfg, programs, addresses)
        self.touched |= edit.names()

    def forget_table(self) -> None:
        """The cached kernel table may be wrong (a failed op or dump): re-read it next pass."""
        self._actual = None

    def actual_table(self, fresh: bool = True) -> Table:
        """The kernel table as pulse knows it: read whole when unknown, verified in part when ``fresh``.

        After any failed op the copy is dropped, so changes made behind
        pulse's back are still repaired: services within one
        ``reconcile_interval``, destinations within ``VERIFY_ROUNDS`` of them.
        """
        if self._actual is None:
            self._actual = self.kernel.ipvs.dump()
        elif fresh:
            self._verify(self._actual)
        return self._actual

    def refresh_counters(self) -> Table:
        """The cached table with fresh counters for every service that saw traffic since the last call.

        One request lists each service's own counters; only the services
        whose counters moved have their destinations re-read, so an idle
        table of 1,000 services costs one request per sample, not 1,001.
        A destination's active count can still fall without traffic (an idle
        connection expiring); the rolling verification re-reads it.
        """
        if self._actual is None:
            self._actual = self.kernel.ipvs.dump()
            self._service_counters = self.kernel.ipvs.dump_service_counters()
            return self._actual
        counters = self.kernel.ipvs.dump_service_counters()
        for key, now in counters.items():
            if key in self._actual and self._service_counters.get(key) != now:
                self.refresh_dests(key)
        self._service_counters = counters
        return self._actual

    def refresh_dests(self, key: ServiceKey) -> None:
        """Re-read one service's destinations (weights and counters) into the cached table."""
        if self._actual is not None and key in self._actual:
            self._actual[key].dests = self.kernel.ipvs.dump_dests(key)

    def _verify(self, table: Table) -> None:
        """Bring ``table`` in line with the kernel's service list and a rolling share of destinations."""
        ipvs = self.kernel.ipvs
        services = ipvs.dump_services()
        for key in table.keys() - services.keys():
            del table[key]
        for key, svc in services.items():
            entry = table.get(key)
            if entry is None:
                table[key] = ServiceEntry(svc, ipvs.dump_dests(key))
            elif entry.service != svc:
                entry.service = svc
        keys = sorted(services, key=str)
        share = max(VERIFY_MIN, math.ceil(len(keys) / VERIFY_ROUNDS))
        start = self._verify_at if self._verify_at < len(keys) else 0
        for key in keys[start:start + share]:
            table[key].dests = ipvs.dump_dests(key)
        self._verify_at = start + share

    # ---- what the kernel should hold ----------------------------------------------------
    def desired(self, cfg: LvsConfig, health: Health, programs: bool, actual: Table,
                now: float, addresses: bool = True,
                weights: Weights | None = None) -> tuple[Table, set[Address], set[MarkRule]]:
        """What the kernel should hold now (nothing when this node does not program it).

        ``addresses`` False: the table and mark rules without the VIPs, what a
        hot standby holds so that taking over only brings up addresses.
        """
        if not programs:
            self.drains.clear()
            return {}, set(), set()
        self._update_drains(cfg, actual, now)
        table = desired_table(cfg, health, {k: d.dest for k, d in self.drains.items()}, weights)
        if self.adjust is not None:
            self.adjust(table, cfg, actual)
        return table, desired_addresses(cfg) if addresses else set(), desired_marks(cfg)

    def _update_drains(self, cfg: LvsConfig, actual: Table, now: float) -> None:
        """Start draining destinations that left the config; forget finished or returned ones."""
        configured = self._config_index(cfg)
        if self.drain_seconds > 0:
            for key, wanted in configured.items():
                entry = actual.get(key)
                if entry is None:
                    continue
                for dk in entry.dests.keys() - wanted:
                    if (key, dk) not in self.drains:
                        log.info("draining %s -> %s for %.1fs", key, dk, self.drain_seconds)
                        self.drains[(key, dk)] = Drain(now + self.drain_seconds, entry.dests[dk])
        for pair, drain in list(self.drains.items()):
            key, dk = pair
            gone = key not in actual or dk not in actual[key].dests
            if key not in configured or dk in configured[key] or gone or now >= drain.deadline:
                del self.drains[pair]

    def _config_index(self, cfg: LvsConfig) -> dict[ServiceKey, set[DestKey]]:
        """Configured destinations per service, computed once per configuration."""
        if self._index is None or self._index[0] is not cfg:
            self._index = (cfg, configured_dests_by_service(cfg))
        return self._index[1]

    def compute_plan(self, cfg: LvsConfig, health: Health, programs: bool, fresh: bool = True,
                     addresses: bool = True,
                     weights: Weights | None = None) -> tuple[list[Op], Table, set[MarkRule]]:
        """Ops that would be applied now (used by reconcile and ``--plan``)."""
        actual = self.actual_table(fresh)
        table, wanted, marks = self.desired(cfg, health, programs, actual, time.time(), addresses, weights)
        ops = plan(table, actual, self.managed.services, self.drains.keys())
        mine = set(self.managed.addresses)
        have = self.kernel.addresses.present_of(wanted | mine)
        foreign = have - mine       # already there, not put there by pulse: never add/remove those
        addr_ops = [op for op in plan_addresses(wanted, have & mine) if op.address not in foreign]
        # an address leaves before its service and comes up after it: it never answers without one
        adds = [op for op in addr_ops if op.action == ADD_ADDRESS]
        ops = [op for op in addr_ops if op.action != ADD_ADDRESS] + ops + adds
        ops += plan_marks(marks, self.managed.marks)
        return ops, table, marks

    # ---- changing it --------------------------------------------------------------------
    def reconcile(self, cfg: LvsConfig, health: Health, programs: bool, announce: bool,
                  addresses: bool = True, weights: Weights | None = None,
                  scope: set[str] | None = None) -> list[Op]:
        """Apply the minimal diff; errors are logged and retried next pass.

        ``announce``: send gratuitous ARP for addresses brought up (off when a
        failover controller announces on takeover itself).  ``addresses``:
        see :meth:`desired`.  ``scope``: what :meth:`scope` returned (None:
        the whole table); ``weights`` need only cover those virtual servers.
        """
        if scope is not None and scope == self.scope(cfg, programs, addresses):
            return self._reconcile_part(cfg, health, scope, weights)
        started = time.monotonic()
        fresh = self.fresh
        self.dirty = self.fresh = False
        self.touched.clear()
        if fresh:                     # a pass that raises is retried after the interval, not at once
            self._next_periodic = started + self.reconcile_interval
        ops, table, marks = self.compute_plan(cfg, health, programs, fresh, addresses, weights)
        if programs:
            self._apply_timeouts(cfg)
        if cfg is not self._warned_for:
            self._check_forwarding(cfg)
        errors = self._apply_all([op for op in ops if op.mark is None])
        if announce:
            added = [op.address for op in ops if op.action == "add-address"
                     and op.address is not None and op.address in self.managed.addresses]
            self._announce(routers_first(added, cfg))
        if any(op.mark is not None for op in ops):
            self._sync_marks(marks, errors)
        deleted = {op.key for op in ops if op.action == DEL_SERVICE and op.key is not None}
        self._finish_pass(ops, errors, set(table), deleted)
        self._whole = (cfg, programs, addresses) if self._actual is not None else None
        if fresh:
            cost = time.monotonic() - started
            self._next_periodic = time.monotonic() + max(self.reconcile_interval, PERIODIC_DUTY * cost)
        return ops

    def _reconcile_part(self, cfg: LvsConfig, health: Health, scope: set[str],
                        weights: Weights | None) -> list[Op]:
        """Plan and apply only the services of ``scope`` (health changes; see :meth:`scope`)."""
        self.touched.clear()
        actual = self._actual
        assert actual is not None
        virtuals = self._virtual_index(cfg)
        table = desired_entries(cfg, [virtuals[name] for name in sorted(scope) if name in virtuals],
                                health, weights)
        if self.adjust is not None:
            self.adjust(table, cfg, actual)
        ops = plan(table, {key: actual[key] for key in table if key in actual}, self.managed.services)
        errors = self._apply_all(ops)
        self._finish_pass(ops, errors, set(table), set())
        return ops

    def _virtual_index(self, cfg: LvsConfig) -> dict[str, VirtualServer]:
        """Active virtual servers by name, computed once per configuration."""
        if self._virtuals is None or self._virtuals[0] is not cfg:
            self._virtuals = (cfg, {vs.name: vs for vs in cfg.active_virtuals()})
        return self._virtuals[1]

    def _finish_pass(self, ops: list[Op], errors: list[str], planned: set[ServiceKey],
                     deleted: set[ServiceKey]) -> None:
        """Record what a pass did: the managed set (persisted) and the counters."""
        self.managed.services = (self.managed.services | planned) - deleted
        self._save_managed()
        if ops:
            self.counters.passes_with_ops += 1
            self.counters.last_ops, self.counters.last_errors = ops, errors
            self.counters.last_time = time.time()

    def _check_forwarding(self, cfg: LvsConfig) -> None:
        """Warn (log and status) when a NAT service's family has forwarding off: its replies die."""
        self._warned_for = cfg
        self.warnings = [f"network = nat with IPv{family} virtual servers but forwarding is off "
                         f"({SYSCTL_NAME[family]} = 0): clients of those services will time out"
                         for family in sorted(cfg.nat_families()) if self.kernel.forwarding(family) is False]
        for warning in self.warnings:
            log.warning("%s", warning)

    def teardown(self) -> None:
        """Remove mark rules, managed services and addresses, in that order; each step best effort."""
        try:
            if self.managed.marks or self.managed.firewall:
                self._firewall().remove_all()
                self.managed.marks, self.managed.firewall = set(), None
        except Exception as exc:  # noqa: BLE001 - keep tearing down the rest
            log.error("cannot remove firewall marks: %s", exc)
        try:
            services = self.kernel.ipvs.dump_services()
        except Exception as exc:  # noqa: BLE001
            log.error("cannot read the IPVS table: %s", exc)
            services = {}
        deletes = [Op(DEL_SERVICE, key, services[key])
                   for key in sorted(self.managed.services) if key in services]
        failed = {op.key for op, _error in self._apply_ipvs(deletes)}
        self.managed.services = {key for key in self.managed.services if key in failed}
        for address in sorted(self.managed.addresses):
            self._apply_address(Op("del-address", address=address))
        self._save_managed()

    def stop_announcing(self) -> None:
        """Cancel gratuitous ARP bursts still running."""
        for task in list(self._announcements):
            task.cancel()

    def finish(self, keep_table: bool) -> None:
        """pulse is stopping: remove what it put in the kernel (unless ``keep_table``)."""
        self.stop_announcing()
        if keep_table:
            log.info("stopping; keeping IPVS table, addresses and mark rules (--keep-table-on-stop)")
        else:
            self.teardown()

    def _announce(self, added: list[Address]) -> None:
        """Gratuitous ARP for VIPs just brought up, 5 times 1 s apart as Piranha's send_arp loop did.

        The first round at once, in the order given, the others in the
        background.  Only for the real backend: the dry run has no devices to
        announce from.
        """
        if not added or self.kernel.name != "ipvs":
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:              # no loop (a synchronous caller): nothing to repeat from
            return
        from .kernel import garp
        task = garp.start([(a.label, a.ip) for a in added], 5, 1.0)
        self._announcements.add(task)
        task.add_done_callback(self._announcements.discard)

    def _apply_timeouts(self, cfg: LvsConfig) -> None:
        """lvs.cf tcp_timeout/tcpfin_timeout/udp_timeout, like lvsd's ``ipvsadm --set`` (when changed)."""
        wanted = (int(cfg.tcp_timeout or 0), int(cfg.tcpfin_timeout or 0), int(cfg.udp_timeout or 0))
        if not any(wanted) or wanted == self.timeouts_applied:
            return
        try:
            self.kernel.ipvs.set_timeouts(*wanted)
        except Exception as exc:  # noqa: BLE001
            log.error("set-timeouts %s failed: %s", wanted, exc)
            return
        self.timeouts_applied = wanted
        self.counters.ops_applied += 1
        log.info("set-timeouts tcp %d tcpfin %d udp %d (0 = unchanged)", *wanted)

    def _apply_all(self, ops: list[Op]) -> list[str]:
        """Apply ops in order: addresses one by one, each run of IPVS ops as one batch; the errors."""
        errors: list[str] = []
        for ipvs, group in itertools.groupby(ops, key=lambda op: op.key is not None):
            if ipvs:
                errors += [error for _op, error in self._apply_ipvs(list(group))]
            else:
                errors += [error for op in group for error in [self._apply_address(op)] if error]
        return errors

    def _apply_ipvs(self, ops: list[Op]) -> list[tuple[Op, str]]:
        """Send IPVS ops in batches; count, log and mirror the applied ones; returns the failed ones."""
        if not ops:
            return []
        try:
            results: list[Exception | None] = list(self.kernel.ipvs.apply_many(ops))
        except Exception as exc:  # noqa: BLE001 - the socket failed: none of them counts as applied
            results = [exc] * len(ops)
        failed: list[tuple[Op, str]] = []
        applied: list[str] = []        # one record, a line per op (see logsinks): 10,000 at start
        for op, error in zip(ops, results):
            if error is None:
                self._mirror(op)
                self.counters.ops_applied += 1
                applied.append(str(op))
            else:
                log.error("%s failed: %s", op, error)
                failed.append((op, f"{op}: {error}"))
        if applied:
            log.info("%s", "\n".join(applied))
        if failed:
            self._actual = None     # re-read the kernel on the next pass (retry within reconcile_interval)
        return failed

    def _mirror(self, op: Op) -> None:
        """Keep the cached table in step with an op the kernel accepted (drop it when out of step)."""
        if self._actual is not None:
            try:
                apply_op(self._actual, op)
            except (KeyError, ValueError):
                self._actual = None

    def _apply_address(self, op: Op) -> str | None:
        """Add or remove one address, count it, log it; returns an error text on failure."""
        assert op.address is not None
        try:
            if op.action == "add-address":
                self.kernel.addresses.add(op.address)
                self.managed.addresses.add(op.address)
            else:
                self.kernel.addresses.remove(op.address)
                self.managed.addresses.discard(op.address)
        except Exception as exc:  # noqa: BLE001 - kernel errors must not kill the daemon
            log.error("%s failed: %s", op, exc)
            self._actual = None
            return f"{op}: {exc}"
        self.counters.ops_applied += 1
        log.info("%s", op)
        return None

    def _firewall(self) -> FirewallBackend:
        """The firewall backend, chosen on first use (nft probing creates pulse's table)."""
        if self.firewall is None:
            # the kind used before (persisted), so a restart removes what the last run created
            self.firewall = self.kernel.firewall_factory(self.managed.firewall)
        return self.firewall

    def _sync_marks(self, marks: set[MarkRule], errors: list[str]) -> None:
        """Rewrite pulse's mark table/chain to hold exactly ``marks``."""
        try:
            if marks:
                self._firewall().sync(marks)
                self.managed.firewall = self._firewall().name
            else:
                self._firewall().remove_all()
                self.managed.firewall = None
        except Exception as exc:  # noqa: BLE001
            log.error("firewall marks failed: %s", exc)
            errors.append(f"firewall: {exc}")
            return
        for m in sorted(marks - self.managed.marks):
            log.info("add-mark %s (%s)", m, self._firewall().name)
        for m in sorted(self.managed.marks - marks):
            log.info("del-mark %s", m)
        self.counters.ops_applied += len(marks ^ self.managed.marks)
        self.managed.marks = marks

    def _save_managed(self) -> None:
        """Persist the managed set when it changed (set comparison, no JSON rendering each pass)."""
        m = self.managed
        snapshot = (frozenset(m.services), frozenset(m.addresses), frozenset(m.marks), m.firewall)
        if self._managed_snapshot != snapshot:
            save_managed(self.managed_path, m)
            self._managed_snapshot = snapshot
