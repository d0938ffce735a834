"""IPVS connection synchronisation daemon control (lvs.cf ``syncdaemon``, ``syncd_iface``, ``syncd_id``).

The kernel's sync daemons multicast connection state from the active
director (``master``) to the standby (``backup``), so established connections
survive a failover.  Piranha ran ``ipvsadm --start-daemon``; here the daemons
are started and stopped over the IPVS generic netlink family
(``IPVS_CMD_NEW_DAEMON`` / ``IPVS_CMD_DEL_DAEMON`` / ``IPVS_CMD_GET_DAEMON``).
pyroute2's IPVS module knows the command numbers but declares the daemon
attribute as opaque ``hex``, so the nested attribute set is declared here.
If netlink fails for a reason other than "already in that state", the
``ipvsadm`` binary is tried with an argument list (never a shell string).

Multicast group: without one the kernel sends to its IPv4 group 224.0.0.81,
and the master then needs an IPv4 address on the sync interface (it binds to
it).  Directors that talk IPv6 may have none, so when the director addresses
are IPv6 pulse asks for the IPv6 link-local group :data:`GROUP6` on the same
interface and port (``IPVS_DAEMON_ATTR_MCAST_GROUP6``, kernels >= 4.3).  Both
nodes read the same lvs.cf, so both pick the same group.  The daemons carry
IPv4 and IPv6 connections over either transport.

Calls are blocking netlink round trips on a fresh socket each; the async
wrappers run them in a worker thread so heartbeats never wait on them.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import shutil
import subprocess
from typing import Any

from pyroute2.netlink import NLM_F_ACK, NLM_F_REQUEST, genlmsg, nla
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.generic import GenericNetlinkSocket
from pyroute2.netlink.generic import ipvs as genl_ipvs

log = logging.getLogger("pulse.syncd")

MASTER = 1   # IP_VS_STATE_MASTER
BACKUP = 2   # IP_VS_STATE_BACKUP
STATE_NAMES = {MASTER: "master", BACKUP: "backup"}
#: IPv6 sync group: link-local scope, group id 0x51 like the kernel's IPv4 224.0.0.81.
GROUP6 = "ff02::51"


class ipvs_daemon_msg(genlmsg):  # noqa: N801 - pyroute2 naming style
    """IPVS genetlink message with the daemon attribute decoded as a nested set."""

    prefix = "IPVS_CMD_ATTR_"
    nla_map = (
        ("IPVS_CMD_ATTR_UNSPEC", "none"),
        ("IPVS_CMD_ATTR_SERVICE", "hex"),
        ("IPVS_CMD_ATTR_DEST", "hex"),
        ("IPVS_CMD_ATTR_DAEMON", "daemon"),
        ("IPVS_CMD_ATTR_TIMEOUT_TCP", "uint32"),
        ("IPVS_CMD_ATTR_TIMEOUT_TCP_FIN", "uint32"),
        ("IPVS_CMD_ATTR_TIMEOUT_UDP", "uint32"),
    )

    class daemon(nla):  # noqa: N801
        prefix = "IPVS_DAEMON_ATTR_"
        nla_map = (
            ("IPVS_DAEMON_ATTR_UNSPEC", "none"),
            ("IPVS_DAEMON_ATTR_STATE", "uint32"),
            ("IPVS_DAEMON_ATTR_MCAST_IFN", "asciiz"),
            ("IPVS_DAEMON_ATTR_SYNC_ID", "uint32"),
            ("IPVS_DAEMON_ATTR_SYNC_MAXLEN", "uint16"),
            ("IPVS_DAEMON_ATTR_MCAST_GROUP", "ip4addr"),
            ("IPVS_DAEMON_ATTR_MCAST_GROUP6", "ip6addr"),
            ("IPVS_DAEMON_ATTR_MCAST_PORT", "uint16"),
            ("IPVS_DAEMON_ATTR_MCAST_TTL", "uint8"),
        )


def _request(cmd: int, attrs: list[tuple[str, Any]]) -> list[Any]:
    """One genetlink request on a fresh socket."""
    sock = GenericNetlinkSocket()
    try:
        sock.bind(genl_ipvs.GENL_NAME, ipvs_daemon_msg)
        msg = ipvs_daemon_msg()
        msg["cmd"] = cmd
        msg["version"] = genl_ipvs.GENL_VERSION
        msg["attrs"] = attrs
        return list(sock.nlm_request(msg, msg_type=sock.prid, msg_flags=NLM_F_REQUEST | NLM_F_ACK))
    finally:
        sock.close()


def daemon_attrs(state: int, iface: str, sync_id: int, group6: str | None = None) -> list[tuple[str, Any]]:
    """The daemon attribute set; ``group6`` switches the transport to that IPv6 group."""
    attrs: list[tuple[str, Any]] = [("IPVS_DAEMON_ATTR_STATE", state), ("IPVS_DAEMON_ATTR_MCAST_IFN", iface),
                                    ("IPVS_DAEMON_ATTR_SYNC_ID", sync_id)]
    if group6 is not None:
        attrs.append(("IPVS_DAEMON_ATTR_MCAST_GROUP6", group6))
    return attrs


def ipvsadm_start_args(state: int, iface: str, sync_id: int, group6: str | None = None) -> list[str]:
    """The same request as ``ipvsadm`` arguments (the fallback)."""
    args = ["--start-daemon", STATE_NAMES[state], "--mcast-interface", iface, "--syncid", str(sync_id)]
    return args + (["--mcast-group", group6] if group6 is not None else [])


def start(state: int, iface: str, sync_id: int, group6: str | None = None) -> None:
    """Start the master or backup daemon (already running in that state is fine)."""
    attrs = daemon_attrs(state, iface, sync_id, group6)
    try:
        _request(genl_ipvs.IPVS_CMD_NEW_DAEMON, [("IPVS_CMD_ATTR_DAEMON", {"attrs": attrs})])
    except NetlinkError as exc:
        if exc.code == errno.EEXIST:
            return
        log.warning("netlink start of %s sync daemon failed (%s); trying ipvsadm",
                    STATE_NAMES[state], exc)
        _ipvsadm(ipvsadm_start_args(state, iface, sync_id, group6))


def stop(state: int) -> None:
    """Stop the master or backup daemon (not running is fine)."""
    try:
        _request(genl_ipvs.IPVS_CMD_DEL_DAEMON,
                 [("IPVS_CMD_ATTR_DAEMON", {"attrs": [("IPVS_DAEMON_ATTR_STATE", state)]})])
    except NetlinkError as exc:
        if exc.code in (errno.ESRCH, errno.ENOENT, errno.EINVAL):
            return
        raise


def _ipvsadm(args: list[str]) -> None:
    """Last resort: the ipvsadm binary, argument list only."""
    binary = shutil.which("ipvsadm") or "/usr/sbin/ipvsadm"
    subprocess.run([binary, *args], check=True, capture_output=True, timeout=10)


class SyncdControl:
    """Keeps the kernel's sync daemon in step with the node's role."""

    def __init__(self, iface: str, sync_id: int = 0, group6: str | None = None) -> None:
        self.iface = iface
        self.sync_id = sync_id
        self.group6 = group6
        self.last_error: str | None = None
        self.state: str | None = None

    def set_role(self, active: bool) -> None:
        """Active: master daemon only; standby: backup daemon only."""
        want, other = (MASTER, BACKUP) if active else (BACKUP, MASTER)
        try:
            stop(other)
            start(want, self.iface, self.sync_id, self.group6)
        except (NetlinkError, OSError, subprocess.SubprocessError) as exc:
            self.last_error = f"{STATE_NAMES[want]}: {exc}"
            log.error("sync daemon: cannot switch to %s on %s: %s", STATE_NAMES[want],
                      self.iface, exc)
            return
        self.state, self.last_error = STATE_NAMES[want], None
        log.info("sync daemon: %s on %s (syncid %d, group %s)", self.state, self.iface, self.sync_id,
                 self.group6 or "IPv4 default")

    def stop_all(self) -> None:
        """Stop both daemons (pulse exiting)."""
        for state in (MASTER, BACKUP):
            try:
                stop(state)
            except (NetlinkError, OSError) as exc:
                log.warning("sync daemon: stop %s failed: %s", STATE_NAMES[state], exc)
        self.state = None

    async def aset_role(self, active: bool) -> None:
        """:meth:`set_role` in a worker thread."""
        await asyncio.to_thread(self.set_role, active)

    async def astop_all(self) -> None:
        """:meth:`stop_all` in a worker thread."""
        await asyncio.to_thread(self.stop_all)

    def status(self) -> dict[str, object]:
        """For the status JSON."""
        return {"iface": self.iface, "sync_id": self.sync_id, "group": self.group6, "state": self.state,
                "error": self.last_error}
