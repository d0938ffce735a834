"""Wires primary/backup failover into the pulse daemon.

The daemon stays role-agnostic: it holds the IPVS table when
``holds_table(role, paired)`` (the active node and the hot standby) and the
VIPs when ``programs_kernel(role)``.  It is reached only
through the :class:`Host` protocol, so this module never imports it.  This module
owns everything redundancy adds on top:

* the heartbeat endpoint + :class:`~.failover.FailoverController` (policy in failover.py);
* hot standby: the backup keeps the IPVS table programmed from its own
  health checks, so activation is role ACTIVE -> reconcile (only the VIPs and
  the NAT router address come up) -> gratuitous ARP / unsolicited NA at once
  -> sync daemon master;
* deactivation: role BACKUP -> reconcile (removes the addresses; the table
  stays) -> sync daemon backup;
* config sync: serve our lvs.cf, pull the peer's when it advertises a newer serial_no;
* the ``redundancy`` section of the status JSON (our state, the peer's view).

Settings are read once at start, like Piranha (a reload does not move the
heartbeat addresses, port, keepalive or key).  A backup configuration
without ``heartbeat_key_file`` is refused: heartbeats are never unauthenticated.
"""

from __future__ import annotations

import asyncio
import logging
from ipaddress import ip_address
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ...lvscf.health import split_program
from ...lvscf.model import LvsConfig
from ..kernel import garp
from ..reconcile import desired_addresses, routers_first
from .confsync import ConfigPuller, ConfigServer
from .failover import FailoverController, Hooks, RoleMachine
from .heartbeat import Heartbeat, HeartbeatEndpoint, Link, load_key
from .role import HaState, Role, Side, initial_role, owns_address

if TYPE_CHECKING:
    from ..kernel.syncd import SyncdControl

log = logging.getLogger("pulse.redundancy")

GARP_REPEATS = 5
GARP_INTERVAL = 1.0
COMMAND_TIMEOUT = 30.0


class Host(Protocol):
    """What redundancy needs of the daemon it runs in."""

    def current_config(self) -> LvsConfig:
        """The lvs.cf in force."""

    def set_role(self, role: Role) -> None:
        """Take (ACTIVE) or give up (BACKUP) the table and the addresses on the next pass."""

    def reconcile(self) -> object:
        """Run one reconcile pass now."""

    def write_status(self) -> None:
        """Write the status file now."""

    def request(self, flag: str) -> None:
        """Ask the main loop to ``reload`` (a newer lvs.cf was installed)."""


class RedundancyError(Exception):
    """The redundancy settings cannot work (missing key, no own address)."""


def enabled(cfg: LvsConfig) -> bool:
    """Is a backup node configured (Piranha: ``backup_active = 1`` and a backup address)?"""
    return bool(cfg.backup_active and cfg.backup and cfg.primary)


def starting_role(host: Host, config_path: Path, forceactive: bool) -> tuple[Role, Redundancy | None]:
    """The role to start in, and the redundancy that will move it when a backup is configured.

    With a backup the node starts BACKUP and the failover controller
    activates it; bad redundancy settings raise (pulse refuses to start).
    """
    cfg = host.current_config()
    is_primary = owns_address(cfg.primary)
    if not enabled(cfg):
        return initial_role(cfg.backup_active, forceactive, is_primary), None
    return Role.BACKUP, Redundancy(host, config_path, is_primary)


def links_for(cfg: LvsConfig, is_primary: bool) -> list[Link]:
    """Heartbeat paths: public addresses, plus the private pair when both are set."""
    pairs = [(cfg.primary, cfg.backup)]
    if cfg.primary_private and cfg.backup_private:
        pairs.append((cfg.primary_private, cfg.backup_private))
    return [Link(p, b) if is_primary else Link(b, p) for p, b in pairs if p and b]


def sync_group6(cfg: LvsConfig) -> str | None:
    """The sync daemon's IPv6 group when the directors' addresses are IPv6, else None.

    The kernel's default IPv4 group needs an IPv4 address on the sync
    interface, which an IPv6 director pair may not have; the decision follows
    ``primary`` (the first heartbeat path), which both nodes read alike.
    """
    from ..kernel.syncd import GROUP6     # only with a sync daemon: pyroute2 stays off the start path
    return GROUP6 if cfg.primary and ip_address(cfg.primary).version == 6 else None


def monitored_devices(cfg: LvsConfig) -> set[str]:
    """Physical devices carrying VIPs / the NAT router (what ``monitor_links`` watches)."""
    devices = {garp.physical_device(v.device) for v in cfg.active_virtuals() if v.device}
    if cfg.network == "nat":
        devices.update(garp.physical_device(d) for d in (cfg.nat_router_device, cfg.nat_router6_device) if d)
    return devices


def link_up(device: str) -> bool:
    """Carrier present on ``device`` (a missing device counts as down)."""
    try:
        with open(f"/sys/class/net/{device}/carrier", encoding="ascii") as fh:
            return fh.read().strip() == "1"
    except OSError:
        return False


async def run_command(command: str | None, what: str) -> int | None:
    """Run lvs.cf ``active_cmd`` / ``inactive_cmd`` (argument list from shlex, no shell).

    Bounded by ``COMMAND_TIMEOUT``; a failure is logged and never undoes the transition.
    """
    if not command:
        return None
    try:
        proc = await asyncio.create_subprocess_exec(*split_program(command),
                                                    stdin=asyncio.subprocess.DEVNULL)
        code = await asyncio.wait_for(proc.wait(), COMMAND_TIMEOUT)
    except (OSError, ValueError) as exc:
        log.error("%s %r failed to start: %s", what, command, exc)
        return None
    except TimeoutError:
        proc.kill()
        await proc.wait()
        log.error("%s %r killed after %.0fs", what, command, COMMAND_TIMEOUT)
        return None
    (log.info if code == 0 else log.error)("%s %r exited with %d", what, command, code)
    return code


class Redundancy:
    """Failover, config sync and sync-daemon control for one daemon (its :class:`Host`)."""

    def __init__(self, daemon: Host, config_path: Path, is_primary: bool, preempt: bool = False) -> None:
        cfg = daemon.current_config()
        if not cfg.heartbeat_key_file:
            raise RedundancyError("a backup is configured but heartbeat_key_file is not set: "
                                  "heartbeats must be authenticated")
        self.daemon = daemon
        self.key = load_key(cfg.heartbeat_key_file)
        self.role = Side.PRIMARY if is_primary else Side.BACKUP
        self.links = links_for(cfg, is_primary)
        self.port = cfg.heartbeat_port
        self.endpoint = HeartbeatEndpoint(self.key, self.role, self.links, self.port,
                                          lambda hb: None)
        devices = monitored_devices(cfg) if cfg.monitor_links else set()
        self.controller = FailoverController(
            RoleMachine(self.role, float(cfg.deadtime), preempt=preempt), self.endpoint,
            float(cfg.keepalive), Hooks(self._activate, self._deactivate, self._reannounce),
            self._serial, (lambda: all(link_up(d) for d in devices)) if devices else None,
            self._on_peer)
        self.syncd: SyncdControl | None = None
        if cfg.syncdaemon and cfg.syncd_iface:
            from ..kernel.syncd import SyncdControl as Control   # pyroute2 only with a sync daemon
            self.syncd = Control(cfg.syncd_iface, cfg.syncd_id or 0, sync_group6(cfg))
        path = Path(config_path)
        self.server = ConfigServer(self.key, path, self._serial, [ln.peer for ln in self.links])
        self.puller = ConfigPuller(self.key, path, self._serial, self._installed, local=self.links[0].local)
        self._garp_task: asyncio.Task[None] | None = None

    def _serial(self) -> int:
        return int(self.daemon.current_config().serial_no)

    # ---- lifecycle -------------------------------------------------------------------------
    async def start(self, force_active: bool = False) -> None:
        """Open sockets, put the sync daemon in backup mode, start the role machine."""
        log.info("redundancy: %s, heartbeat %s port %d, keepalive %s deadtime %s",
                 self.role.name.lower(), ", ".join(f"{ln.local}->{ln.peer}" for ln in self.links),
                 self.port, self.controller.keepalive, self.controller.machine.deadtime)
        await self.server.start(self.links[0].local, self.port + 1)
        if self.syncd is not None:
            await self.syncd.aset_role(False)
        await self.controller.start(force_active)

    async def stop(self) -> None:
        """SIGTERM: hand over at once (STOPPING heartbeats), release, stop sync daemons."""
        await self.controller.stop()
        if self._garp_task is not None:
            self._garp_task.cancel()
        await self.puller.close()
        await self.server.close()
        if self.syncd is not None:
            await self.syncd.astop_all()

    # ---- hooks -----------------------------------------------------------------------------
    async def _activate(self) -> None:
        """Take over: bring up the addresses (the table is already there), then announce."""
        self._set_role(active=True)
        self.daemon.reconcile()
        self._announce()
        if self.syncd is not None:
            await self.syncd.aset_role(True)
        self.daemon.write_status()
        await run_command(self.daemon.current_config().active_cmd, "active_cmd")

    async def _deactivate(self) -> None:
        """Give up: remove VIPs and NAT router (the table stays: hot standby); sync daemon to backup."""
        if self._garp_task is not None:
            self._garp_task.cancel()
        self._set_role(active=False)
        self.daemon.reconcile()
        if self.syncd is not None and self.controller.state is not HaState.STOPPED:
            await self.syncd.aset_role(False)
        self.daemon.write_status()
        await run_command(self.daemon.current_config().inactive_cmd, "inactive_cmd")

    def _set_role(self, active: bool) -> None:
        """Switch the daemon's role (its ``set_role`` re-targets checks and wakes the loop)."""
        self.daemon.set_role(Role.ACTIVE if active else Role.BACKUP)

    async def _reannounce(self) -> None:
        """Split brain healed and we won: make sure every neighbour points at us."""
        self._announce()

    def _announce(self) -> None:
        """Gratuitous ARP / NA for every address we now hold: one round now, the repeats in the background.

        NAT router addresses first (see ``routers_first``).
        """
        cfg = self.daemon.current_config()
        pairs = [(a.device, a.ip) for a in routers_first(desired_addresses(cfg), cfg)]
        if not pairs:
            return
        if self._garp_task is not None:
            self._garp_task.cancel()
        self._garp_task = garp.start(pairs, GARP_REPEATS, GARP_INTERVAL)

    # ---- config sync -----------------------------------------------------------------------
    def _on_peer(self, hb: Heartbeat) -> None:
        """Every accepted heartbeat: pull the peer's lvs.cf if it is newer."""
        self.puller.peer_serial(hb.serial_no, self.links[0].peer, self.port + 1)

    def _installed(self, cfg: LvsConfig) -> None:
        """A newer lvs.cf was written: reload now rather than at the next poll."""
        self.daemon.request("reload")

    # ---- status ----------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """The ``redundancy`` section of the status JSON."""
        out = self.controller.status()
        out["keepalive"] = self.controller.keepalive
        out["deadtime"] = self.controller.machine.deadtime
        out["paths"] = [{"local": ln.local, "peer": ln.peer} for ln in self.links]
        out["transitions"] = [{"state": s, "reason": r}
                              for _, s, r in self.controller.transitions[-10:]]
        out["config_sync"] = {**dict(self.puller.stats), **{"served": self.server.stats["served"]},
                              "last_error": self.puller.last_error}
        out["syncd"] = self.syncd.status() if self.syncd is not None else None
        return out
