"""This director's part in an ECMP cluster: kernel settings, BIRD, announcements, drain, status.

The daemon calls :meth:`EcmpCluster.update` after each reconcile (the kernel
table, health and configuration in force) and :meth:`tick` on every loop
pass; nothing here touches IPVS.  A drain is requested by ``pulse --drain``
through a file in the runtime directory (the console cannot signal pulse),
or by SIGTERM, which drains before pulse stops.  With ``heartbeat_key_file``
set, the directors talk over the authenticated peer channel (peers.py): they
exchange status, push lvs.cf to each other and pass on drain requests.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol

from ...lvscf.model import Director, LvsConfig
from ..configfile import ConfigWatch
from ..ha.heartbeat import HeartbeatKeyError, load_key
from ..kernel.sysctl import ECMP_SYSCTLS
from ..reconcile import Table
from ..statusfile import Lifecycle
from .announce import Drain, DrainState, announced_vips
from .bird import bird_config
from .peers import ClusterPeers
from .sessions import parse_sessions
from .supervisor import BirdSupervisor

log = logging.getLogger("pulse.ecmp")

DRAIN_FILE = "pulse-drain"     # exists: this director is asked to leave (pulse --drain / --undrain)
SESSION_POLL = 1.0             # seconds between BIRD session queries


def is_local_address(address: str) -> bool:
    """Does this host carry ``address``?  The kernel's route to it is local, with itself as source.

    Connecting a UDP socket sends nothing; unlike a bind test it is not fooled
    by ``ip_nonlocal_bind``.
    """
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.connect((address, 9))
            return bool(s.getsockname()[0] == address)
    except OSError:
        return False


def local_director(cfg: LvsConfig) -> Director | None:
    """The director block whose address this host carries (who-is-who, as pulse finds primary/backup)."""
    return next((d for d in cfg.directors if d.address and is_local_address(d.address)), None)


class Host(Protocol):
    """What the cluster needs of the daemon: its lifecycle, its configuration file, a reload."""

    state: Lifecycle
    config: ConfigWatch

    def request(self, flag: str) -> None:
        """Ask the main loop to ``reload`` (another director's lvs.cf was installed)."""


class EcmpCluster:
    """Inactive until lvs.cf says ``cluster = ecmp``; then owns BIRD, the drain state and the peer channel."""

    def __init__(self, runtime_dir: Path, set_sysctls: Callable[[dict[str, str]], dict[str, str]],
                 run_bird: bool, host: Host | None = None) -> None:
        self.host = host
        self.peers: ClusterPeers | None = None
        self.peer_error: str | None = None
        self.runtime_dir = runtime_dir
        self.drain_file = runtime_dir / DRAIN_FILE
        self.set_sysctls = set_sysctls
        self.run_bird = run_bird
        self.cfg: LvsConfig | None = None
        self.me: Director | None = None
        self.bird: BirdSupervisor | None = None
        self.drain = Drain()
        self.announced: set[str] = set()
        self.sysctl_errors: dict[str, str] = {}
        self.sessions: list[dict[str, Any]] = []
        self._inputs: tuple[Table, Mapping[tuple[str, str], str]] = ({}, {})
        self._next_query = 0.0
        self._changed = False

    @property
    def active(self) -> bool:
        """lvs.cf in force says cluster = ecmp."""
        return self.cfg is not None and self.cfg.ecmp

    def update(self, cfg: LvsConfig, table: Table, health: Mapping[tuple[str, str], str]) -> None:
        """After a reconcile: (re)configure for ``cfg`` and announce what this director can serve."""
        if cfg is not self.cfg:
            self._configure(cfg)
        self._inputs = (table, health)
        self._announce()

    def _configure(self, cfg: LvsConfig) -> None:
        """A new lvs.cf: kernel settings, who this director is, BIRD's binary.

        The status file is rewritten on the next pass: the other directors and the console
        learn the new serial_no without waiting for the next periodic write.
        """
        self.cfg = cfg
        self._changed = True
        if not cfg.ecmp:
            self._stop_bird()
            self._connect_peers(None, None)
            return
        self.sysctl_errors = self.set_sysctls(ECMP_SYSCTLS)
        for name, error in self.sysctl_errors.items():
            log.error("cannot set %s: %s", name, error)
        me = local_director(cfg)
        if me is None:
            log.error("no director block names an address of this host: not announcing any VIP")
        elif self.me is None or me.name != self.me.name:
            log.info("this host is director %s (%s)", me.name, me.address)
        self.me = me
        binary = cfg.bgp_bird or None
        if self.bird is not None and binary not in (None, self.bird.binary):
            self._stop_bird()
        if self.bird is None and self.run_bird and me is not None:
            self.bird = BirdSupervisor(self.runtime_dir, binary)
        self._connect_peers(cfg, me)

    def _connect_peers(self, cfg: LvsConfig | None, me: Director | None) -> None:
        """(Re)build the peer channel when its settings changed; otherwise exchange now (new serial_no)."""
        if self.host is None:
            return
        new = None
        self.peer_error = None
        if cfg is not None and cfg.ecmp and me is not None and me.address and cfg.heartbeat_key_file:
            try:
                key = load_key(cfg.heartbeat_key_file)
            except HeartbeatKeyError as exc:
                self.peer_error = str(exc)
                log.error("cluster peer channel off: %s", exc)
            else:
                host = self.host
                new = ClusterPeers(key, me, cfg, host.config.path, lambda: host.config.loaded.cfg.serial_no,
                                   self.summary, lambda: host.request("reload"), self.remote_drain)
                new.on_change = self.on_peer_change
        old = self.peers
        if old is not None and new is not None and old.signature == new.signature and old.key == new.key:
            old.kick()
            return
        loop = asyncio.get_running_loop()
        if old is not None:
            loop.create_task(old.stop(), name="cluster-peers-stop")
        self.peers = new
        if new is not None:
            loop.create_task(new.start(), name="cluster-peers-start")

    def on_peer_change(self) -> None:
        """A peer became (un)reachable or changed serial_no: the status file is rewritten next pass."""
        self._changed = True

    def remote_drain(self, drain: bool) -> None:
        """The console's DRAIN/UNDRAIN for this director: the same request file as ``pulse --drain``."""
        if drain:
            self.drain_file.write_text("drain\n", encoding="ascii")
        else:
            self.drain_file.unlink(missing_ok=True)
        self.request_drain(drain)

    def channel_request(self, request: dict[str, Any],
                        uid: int) -> dict[str, Any] | Awaitable[dict[str, Any]]:
        """The console's ``{"op": "cluster", "director": NAME, "drain": bool}`` (runtime channel)."""
        name, drain = request.get("director"), request.get("drain")
        if not isinstance(name, str) or not isinstance(drain, bool):
            return {"ok": False, "status": 400, "error": "give director (a name) and drain (true or false)"}
        if not self.active or self.me is None:
            return {"ok": False, "status": 409, "error": "this pulse is not an ECMP director"}
        log.info("console (uid %d, %s) asks director %s to %s", uid, request.get("by") or "?", name,
                 "drain" if drain else "undrain")
        if name == self.me.name:
            self.remote_drain(drain)
            return {"ok": True, "director": name, "drain": drain}
        if self.peers is None or name not in self.peers.peers:
            known = name in {d.name for d in (self.cfg.directors if self.cfg else [])}
            return ({"ok": False, "status": 409, "error": "no peer channel (set heartbeat_key_file)"} if known
                    else {"ok": False, "status": 404, "error": f"no director {name!r}"})
        return self.peers.request_drain(name, drain)

    def summary(self) -> dict[str, Any]:
        """What the other directors learn about this one (their console shows it)."""
        out = {k: v for k, v in (self.status() or {}).items() if k not in ("peers", "bird")}
        bird = self.bird.status() if self.bird is not None else None
        out["bird"] = {"running": bird["running"], "restarts": bird["restarts"]} if bird else None
        if self.host is not None:
            last = self.host.config.last_reload
            out["pulse"] = {"state": self.host.state.value,
                            "last_reload": {k: last.get(k) for k in ("time", "ok", "error", "serial_no")}}
        out["updated"] = time.time()
        return out

    def _announce(self) -> None:
        """Write BIRD's configuration for the VIPs to announce now (BIRD applies only a difference)."""
        if not self.active or self.me is None or self.cfg is None:
            return
        wanted = announced_vips(self.cfg, *self._inputs, self.drain)
        if wanted != self.announced:
            log.info("announce %s, withdraw %s", sorted(wanted - self.announced) or "-",
                     sorted(self.announced - wanted) or "-")
        self.announced = wanted
        if self.bird is not None:
            self.bird.set_config(bird_config(self.cfg, self.me, wanted))

    def tick(self, on_change: Callable[[], None]) -> None:
        """Supervise BIRD, follow drain requests and deadlines; ``on_change`` when the drain state moved."""
        if not self.active:
            return
        before = self.drain.state
        self.request_drain(self.drain_file.exists())
        self.drain = self.drain.advance(time.monotonic(), self.wait)
        if self.bird is not None:
            self.bird.poll()
            if time.monotonic() >= self._next_query:
                self._next_query = time.monotonic() + SESSION_POLL
                reply = self.bird.query("show protocols all")
                self.sessions = [dict(s) for s in parse_sessions(reply, time.time())] if reply else []
        if self.drain.state != before:
            log.info("drain %s -> %s", before.value, self.drain.state.value)
            on_change()
        elif self._changed:
            on_change()
        self._changed = False

    @property
    def wait(self) -> float:
        """bgp_drain_seconds in force."""
        return float(self.cfg.bgp_drain_seconds) if self.cfg is not None else 0.0

    def request_drain(self, drain: bool) -> None:
        """Start (or cancel) a drain; withdrawing happens at once."""
        new = self.drain.request(drain, time.monotonic())
        if new.state != self.drain.state:
            self.drain = new
            self._announce()

    async def leave(self) -> None:
        """SIGTERM: withdraw every route, wait bgp_drain_seconds (unless a drain already did), stop BIRD.

        BIRD is not restarted meanwhile: a BIRD that died takes its sessions and routes with it.
        """
        if self.active and self.me is not None and self.drain.state != DrainState.DRAINED:
            self.request_drain(True)
            log.info("stopping: routes withdrawn, waiting %.1fs for the router", self.wait)
            await asyncio.sleep(self.wait)
            self.drain = self.drain.advance(time.monotonic(), self.wait)
        self._stop_bird()
        self.drain_file.unlink(missing_ok=True)
        if self.peers is not None:
            await self.peers.stop()
            self.peers = None

    def _stop_bird(self) -> None:
        if self.bird is not None:
            self.bird.stop()
            self.bird = None

    def status(self) -> dict[str, Any] | None:
        """The ``cluster`` part of the status document (None when not in ECMP mode)."""
        if not self.active or self.cfg is None:
            return None
        drain = self.drain
        return {
            "mode": "ecmp", "director": self.me.name if self.me else None,
            "address": self.me.address if self.me else None,
            "serial_no": self.cfg.serial_no,
            "drain": {"state": drain.state.value, "safe_to_stop": drain.state == DrainState.DRAINED,
                      "wait": self.wait,
                      "remaining": (max(0.0, round(drain.since + self.wait - time.monotonic(), 3))
                                    if drain.since is not None and drain.state == DrainState.WITHDRAWN
                                    else None)},
            "announced": sorted(self.announced),
            "sessions": self.sessions,
            "bird": self.bird.status() if self.bird is not None else None,
            "sysctl_errors": self.sysctl_errors,
            "peers": self.peers.status() if self.peers is not None else {},
            "peer_channel": ({"port": self.peers.port, **self.peers.sync_status()} if self.peers is not None
                             else {"error": self.peer_error or "off: heartbeat_key_file is not set"}),
        }
