"""Primary/backup role state machine and the asyncio driver that runs it.

The machine (:class:`RoleMachine`) is pure: every input carries ``now``
(monotonic seconds) and every method returns the :class:`Action` the driver
must perform, so the whole policy is unit-tested without sockets or timers.

Policy (Piranha's pulse, with the gaps noted below closed):

* Both nodes start STANDBY and arm the dead timer (``deadtime``).
  ``--forceactive`` starts ACTIVE at once.
* STANDBY, no heartbeat for ``deadtime`` -> ACTIVE ("partner dead").  This is
  also how a lone primary (no backup configured) comes up.
* STANDBY, the peer says STOPPING or FAULT -> ACTIVE at once (graceful handover).
* STANDBY, the peer says STANDBY too (both alive, nobody serving, e.g. both
  just started): the **primary** activates at once; the backup waits until
  nobody has been active for ``deadtime``.  Piranha let both go active and
  relied on the next packet to sort it out.
* **No preemption** (default, like Piranha): a returning primary that hears an
  ACTIVE backup stays STANDBY.  With ``preempt=True`` it activates, and the
  split-brain rule below makes the backup give the service back.
  Consequence: start order decides who serves first; start the primary
  first (or let the backup serve until it stops) - exactly Piranha's behaviour.
* **Split brain** (heartbeat path cut, both alive): both go ACTIVE after
  ``deadtime``.  When heartbeats return, each side sees an ACTIVE peer: the
  primary stays ACTIVE and re-announces its addresses (gratuitous ARP), the
  backup steps down.  Deterministic: primary wins.
* ``monitor_links``: a monitored link going down moves ACTIVE/STANDBY to FAULT
  (addresses released, the peer takes over at once on our FAULT heartbeat);
  links coming back return to STANDBY.
* SIGTERM: STOPPED; the driver sends STOPPING heartbeats first (so the peer
  takes over immediately), then releases the addresses.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .heartbeat import Beacon, Heartbeat, HeartbeatEndpoint
from .role import HaState, Side

log = logging.getLogger("pulse.failover")


class Action(enum.Enum):
    """What the driver must do after an input."""

    NONE = "none"
    ACTIVATE = "activate"        # bring up VIPs + NAT router, GARP, program IPVS, sync master
    DEACTIVATE = "deactivate"    # remove them, sync backup
    REANNOUNCE = "reannounce"    # we stay active: resend gratuitous ARPs (split brain healed)


class IllegalTransition(Exception):
    """An input that makes no sense in the current state (e.g. anything after STOPPED)."""


@dataclass
class RoleMachine:
    """The pure failover policy for one node."""

    role: Side
    deadtime: float
    preempt: bool = False
    state: HaState = HaState.STANDBY
    reason: str = "starting"
    dead_at: float = 0.0            # when the peer is declared dead
    nobody_active_since: float = 0.0
    links_ok: bool = True
    sent_before_dead_ns: int = 0    # the peer's heartbeats sent before we declared it dead (wall ns) ...
    stale_until: float = 0.0        # ... are ignored until one deadtime after that decision

    def start(self, now: float, force_active: bool = False) -> Action:
        """Begin in STANDBY with the dead timer armed, or ACTIVE with ``--forceactive``."""
        self.dead_at = now + self.deadtime
        self.nobody_active_since = now
        if force_active:
            return self._go(HaState.ACTIVE, "forced active (--forceactive)")
        self.reason = "waiting for peer"
        return Action.NONE

    def heartbeat(self, hb: Heartbeat, now: float) -> Action:
        """An authenticated heartbeat from the peer arrived.

        One the peer sent before we declared it dead is ignored: it sat in our
        socket while a busy loop read nothing, and it is older than the
        decision it would undo (a backup that took over would step down
        for a peer that is gone, and the service would be down for another
        deadtime).  A peer that is really alive sends newer ones.  Only for
        one deadtime, which is longer than such a packet waits: a peer whose
        clock is behind ours must not be ignored for longer.
        """
        self._alive()
        if now < self.stale_until and hb.time_ns < self.sent_before_dead_ns:
            return Action.NONE
        self.dead_at = now + self.deadtime
        if hb.state is HaState.ACTIVE:
            self.nobody_active_since = now
            return self._peer_active()
        if self.state is not HaState.STANDBY:
            return Action.NONE
        if hb.state in (HaState.STOPPED, HaState.FAULT):
            return self._go(HaState.ACTIVE, f"peer {hb.state.advertised}: taking over")
        # Peer alive and standby: nobody serves.
        if self.role is Side.PRIMARY:
            return self._go(HaState.ACTIVE, "peer standby: primary activates")
        if now - self.nobody_active_since >= self.deadtime:
            return self._go(HaState.ACTIVE, "peer standby for deadtime: backup activates")
        return Action.NONE

    def tick(self, now: float, wall_ns: int = 0) -> Action:
        """Time passed: the dead timer may have expired (``wall_ns``: time.time_ns() now)."""
        self._alive()
        if self.state is HaState.STANDBY and now >= self.dead_at:
            self.sent_before_dead_ns, self.stale_until = wall_ns, now + self.deadtime
            return self._go(HaState.ACTIVE, "partner dead: activating")
        return Action.NONE

    def links(self, ok: bool) -> Action:
        """monitor_links: our monitored links changed state."""
        self._alive()
        self.links_ok = ok
        if not ok and self.state in (HaState.ACTIVE, HaState.STANDBY):
            was_active = self.state is HaState.ACTIVE
            self._go(HaState.FAULT, "monitored link down")
            return Action.DEACTIVATE if was_active else Action.NONE
        if ok and self.state is HaState.FAULT:
            self._go(HaState.STANDBY, "monitored links up")
        return Action.NONE

    def stop(self) -> Action:
        """SIGTERM: release everything; the driver announces STOPPING."""
        was_active = self.state is HaState.ACTIVE
        self.state, self.reason = HaState.STOPPED, "stopping"
        return Action.DEACTIVATE if was_active else Action.NONE

    def _peer_active(self) -> Action:
        """The peer claims the service."""
        if self.state is HaState.STANDBY and self.preempt and self.role is Side.PRIMARY:
            return self._go(HaState.ACTIVE, "preempting: primary takes the service back")
        if self.state is not HaState.ACTIVE:
            return Action.NONE
        if self.role is Side.PRIMARY:
            self.reason = "peer also active: primary keeps the service"
            return Action.REANNOUNCE
        self._go(HaState.STANDBY, "peer active: backup steps down")
        return Action.DEACTIVATE

    def _go(self, state: HaState, reason: str) -> Action:
        """Enter ``state``; activation is refused while links are down."""
        if state is HaState.ACTIVE and not self.links_ok:
            self.state, self.reason = HaState.FAULT, "would activate but a monitored link is down"
            return Action.NONE
        self.state, self.reason = state, reason
        log.info("%s: %s", state.name, reason)
        return Action.ACTIVATE if state is HaState.ACTIVE else Action.NONE

    def _alive(self) -> None:
        """No input is legal once stopped."""
        if self.state is HaState.STOPPED:
            raise IllegalTransition("role machine is stopped")


Callback = Callable[[], Awaitable[None]]


@dataclass
class Hooks:
    """What the daemon does on each action (async; exceptions are logged, not fatal)."""

    activate: Callback
    deactivate: Callback
    reannounce: Callback


class FailoverController:
    """Drives a :class:`RoleMachine` from heartbeats, a timer and link checks.

    Sends a heartbeat every ``keepalive`` seconds, checks the dead timer on
    the same tick, runs the hooks one at a time (an activation finishes before
    a deactivation starts), and on :meth:`stop` hands over at once.
    """

    def __init__(self, machine: RoleMachine, endpoint: HeartbeatEndpoint | None, keepalive: float,
                 hooks: Hooks, serial_no: Callable[[], int],
                 links_ok: Callable[[], bool] | None = None,
                 on_peer: Callable[[Heartbeat], None] | None = None) -> None:
        self.machine = machine
        self.endpoint = endpoint
        self.keepalive = keepalive
        self.hooks = hooks
        self.serial_no = serial_no
        self.links_ok = links_ok
        self.on_peer = on_peer
        self.transitions: list[tuple[float, str, str]] = []   # (monotonic, state, reason)
        self._actions: asyncio.Queue[Action] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._beacon: Beacon | None = None

    @property
    def state(self) -> HaState:
        """Current role state."""
        return self.machine.state

    async def start(self, force_active: bool = False) -> None:
        """Open the heartbeat sockets and start the timer and action workers."""
        if self.endpoint is not None:
            self.endpoint.on_heartbeat = self._heartbeat
            await self.endpoint.start()
        self._apply(self.machine.start(time.monotonic(), force_active))
        if self.endpoint is not None:
            endpoint = self.endpoint
            self._beacon = Beacon(self.keepalive,
                                  lambda: endpoint.send_current(lambda: self.machine.state, self.serial_no))
            self._beacon.start()
        self._tasks = [asyncio.create_task(self._ticker(), name="failover-tick"),
                       asyncio.create_task(self._worker(), name="failover-actions")]

    async def stop(self) -> None:
        """Hand over now: announce STOPPING, release addresses, announce again, close."""
        for task in self._tasks[:1]:
            task.cancel()
        if self._beacon is not None:
            self._beacon.stop()             # no "active" heartbeat after the stop notice
        action = self.machine.stop()
        self._announce(copies=2)
        await self._actions.join()
        for task in self._tasks[1:]:
            task.cancel()
        if action is Action.DEACTIVATE:
            await self._run(self.hooks.deactivate, "deactivate")
        self._announce(copies=1)
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.endpoint is not None:
            self.endpoint.close()
            await asyncio.sleep(0)   # let the transports really close their sockets

    def _announce(self, copies: int = 1) -> None:
        """Send our state now (in addition to the periodic heartbeat)."""
        if self.endpoint is not None:
            self.endpoint.send(self.machine.state, self.serial_no(), copies=copies)

    def _heartbeat(self, hb: Heartbeat) -> None:
        """Endpoint callback: feed the machine, then let the daemon look at the peer."""
        if self.machine.state is HaState.STOPPED:
            return
        self._apply(self.machine.heartbeat(hb, time.monotonic()))
        if self.on_peer is not None:
            self.on_peer(hb)

    def _apply(self, action: Action) -> None:
        """Record the transition, queue the hook and tell the peer at once on a change."""
        last = self.transitions[-1][1] if self.transitions else None
        if last != self.machine.state.label:
            self.transitions.append((time.monotonic(), self.machine.state.label,
                                     self.machine.reason))
            self._announce()
        if action is not Action.NONE:
            self._actions.put_nowait(action)

    async def _ticker(self) -> None:
        """Every keepalive: check links; also wake exactly at the dead time.

        The periodic heartbeat itself is the :class:`Beacon` thread's; state
        changes are announced from here at once.

        Waking at ``dead_at`` (not only on the keepalive grid) saves up to one
        keepalive on every takeover.
        """
        next_send = time.monotonic()
        while True:
            now = time.monotonic()
            self._apply(self.machine.tick(now, time.time_ns()))
            if now >= next_send:
                if self.links_ok is not None:
                    self._apply(self.machine.links(self.links_ok()))
                if self._beacon is None:
                    self._announce()
                next_send = now + self.keepalive
            wake = next_send
            if self.machine.state is HaState.STANDBY:
                wake = min(wake, self.machine.dead_at + 0.001)
            await asyncio.sleep(max(0.0, wake - time.monotonic()))

    async def _worker(self) -> None:
        """Run hooks in order, never two at once."""
        hooks = {Action.ACTIVATE: self.hooks.activate, Action.DEACTIVATE: self.hooks.deactivate,
                 Action.REANNOUNCE: self.hooks.reannounce}
        while True:
            action = await self._actions.get()
            try:
                await self._run(hooks[action], action.value)
            finally:
                self._actions.task_done()

    async def _run(self, hook: Callback, name: str) -> None:
        """Run one hook; a failing hook is logged so the daemon keeps heart-beating."""
        try:
            await hook()
        except Exception:   # noqa: BLE001 - a hook failure must not stop the heartbeat
            log.exception("%s hook failed", name)

    def status(self) -> dict[str, object]:
        """Role, reason, peer view and counters for the status JSON."""
        out: dict[str, object] = {
            "node_role": self.machine.role.name.lower(),
            "state": self.machine.state.label,
            "reason": self.machine.reason,
            "preempt": self.machine.preempt,
        }
        if self.endpoint is not None:
            out["peer"] = self.endpoint.peer.as_dict()
            out["heartbeat"] = dict(self.endpoint.stats)
        return out
