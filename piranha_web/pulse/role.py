"""The node's role: standalone, active or backup, as a tiny pure state machine.

Today pulse decides the role once at start (Piranha's rules, piranha.md §4.1):
no backup configured → STANDALONE (programs the table); ``--forceactive`` or
owning the ``primary`` address → ACTIVE; otherwise BACKUP (holds nothing).
Heartbeats (issue 7) will drive :func:`step` with the events below without
touching the daemon, which only asks :func:`programs_kernel`.
"""

from __future__ import annotations

import enum


class Role(enum.Enum):
    """What this director does with the table and the VIPs."""

    STANDALONE = "standalone"
    ACTIVE = "active"
    BACKUP = "backup"


class Event(enum.Enum):
    """Things that can move the role (most arrive with heartbeats)."""

    FORCE_ACTIVE = "force-active"
    PARTNER_DEAD = "partner-dead"
    PARTNER_STOPPED = "partner-stopped"
    PARTNER_ACTIVE_WE_MASTER = "partner-active-we-master"
    PARTNER_ACTIVE_WE_BACKUP = "partner-active-we-backup"
    CHILD_FAILED = "child-failed"


TRANSITIONS: dict[tuple[Role, Event], Role] = {
    (Role.BACKUP, Event.FORCE_ACTIVE): Role.ACTIVE,
    (Role.BACKUP, Event.PARTNER_DEAD): Role.ACTIVE,
    (Role.BACKUP, Event.PARTNER_STOPPED): Role.ACTIVE,
    (Role.BACKUP, Event.PARTNER_ACTIVE_WE_MASTER): Role.BACKUP,   # no pre-emption
    (Role.BACKUP, Event.PARTNER_ACTIVE_WE_BACKUP): Role.BACKUP,
    (Role.ACTIVE, Event.FORCE_ACTIVE): Role.ACTIVE,
    (Role.ACTIVE, Event.PARTNER_DEAD): Role.ACTIVE,
    (Role.ACTIVE, Event.PARTNER_STOPPED): Role.ACTIVE,
    (Role.ACTIVE, Event.PARTNER_ACTIVE_WE_MASTER): Role.ACTIVE,   # master re-ARPs, stays
    (Role.ACTIVE, Event.PARTNER_ACTIVE_WE_BACKUP): Role.BACKUP,   # backup yields
    (Role.ACTIVE, Event.CHILD_FAILED): Role.BACKUP,
    (Role.STANDALONE, Event.FORCE_ACTIVE): Role.STANDALONE,
}


class IllegalTransition(ValueError):
    """An event that makes no sense in the current role (a bug, not a network fault)."""


def step(role: Role, event: Event) -> Role:
    """The role after ``event``; raises :class:`IllegalTransition` for undefined pairs."""
    try:
        return TRANSITIONS[(role, event)]
    except KeyError:
        raise IllegalTransition(f"{event.value} while {role.value}") from None


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
