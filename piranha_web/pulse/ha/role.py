"""The node's role: standalone, active or backup.

pulse picks the starting role by Piranha's rules (piranha.md §4.1): no backup
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


def owns_address(address: str | None) -> bool:
    """Does this host carry ``address`` (lvs.cf ``primary``: am I the primary node)?"""
    if not address:
        return False
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((address, 0))
        return True
    except OSError:
        return False
