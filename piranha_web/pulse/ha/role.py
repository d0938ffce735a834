"""The failover vocabulary: the node's role, its side of the pair and its failover state.

pulse picks the starting role by Piranha's pulse rules: no backup
configured → STANDALONE (programs the table); ``--forceactive`` or owning the
``primary`` address → ACTIVE; otherwise BACKUP (holds nothing).  After that,
heartbeats move it through ``failover.RoleMachine``; the daemon only asks
:func:`programs_kernel`.
"""

from __future__ import annotations

import enum
import socket


class Role(enum.Enum):
    """What this director does with the table and the VIPs."""

    STANDALONE = "standalone"
    ACTIVE = "active"
    BACKUP = "backup"


class Side(enum.IntEnum):
    """Which node of the pair this is, per lvs.cf's primary/backup addresses (value: heartbeat code)."""

    PRIMARY = 1
    BACKUP = 2


class HaState(enum.IntEnum):
    """A node's failover state: where its role machine is and what its heartbeats advertise.

    The value is the heartbeat wire code.  ACTIVE is the state in which the
    daemon's role is :attr:`Role.ACTIVE`; in every other state it is BACKUP.
    """

    STANDBY = 1    # alive, not serving (Piranha's "inactive")
    ACTIVE = 2     # owns the VIPs
    STOPPED = 3    # shutting down: the peer takes over now, without waiting for deadtime
    FAULT = 4      # alive but unable to serve (a monitored link is down): the peer takes over now

    @property
    def label(self) -> str:
        """Lower-case name, for logs and the status file."""
        return self.name.lower()

    @property
    def advertised(self) -> str:
        """How the state reads when a peer advertises it (a peer shutting down is "stopping")."""
        return "stopping" if self is HaState.STOPPED else self.label


def initial_role(backup_active: bool, forceactive: bool, is_primary: bool) -> Role:
    """Role at start: standalone without a backup, else active if forced or primary, else backup."""
    if not backup_active:
        return Role.STANDALONE
    if forceactive or is_primary:
        return Role.ACTIVE
    return Role.BACKUP


def programs_kernel(role: Role) -> bool:
    """Does this role own the IPVS table, VIPs and mark rules?"""
    return role in (Role.STANDALONE, Role.ACTIVE)


def holds_table(role: Role, paired: bool) -> bool:
    """Does this node keep the IPVS table (and mark rules) programmed?

    Every node that programs the kernel, and a hot standby: a BACKUP with a
    peer (``paired``) keeps the table in step with its own health checks,
    only without the VIPs, so that taking over is bringing up addresses and
    announcing them (keepalived programs IPVS on both nodes, too).
    """
    return programs_kernel(role) or (role is Role.BACKUP and paired)


def owns_address(address: str | None) -> bool:
    """Does this host carry ``address`` (lvs.cf ``primary``: am I the primary node)?"""
    if not address:
        return False
    try:
        with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((address, 0))
        return True
    except OSError:
        return False
