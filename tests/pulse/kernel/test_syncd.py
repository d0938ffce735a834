"""The sync daemon request: IPv4 default group, or the IPv6 group for IPv6 directors."""

from __future__ import annotations

import socket

from piranha_web.pulse.kernel import syncd


def test_ipv4_request_leaves_the_group_to_the_kernel() -> None:
    attrs = dict(syncd.daemon_attrs(syncd.MASTER, "eth2", 7))
    assert attrs == {"IPVS_DAEMON_ATTR_STATE": 1, "IPVS_DAEMON_ATTR_MCAST_IFN": "eth2",
                     "IPVS_DAEMON_ATTR_SYNC_ID": 7}
    assert syncd.ipvsadm_start_args(syncd.BACKUP, "eth2", 7) == [
        "--start-daemon", "backup", "--mcast-interface", "eth2", "--syncid", "7"]


def test_ipv6_request_names_the_ipv6_group_and_encodes() -> None:
    attrs = syncd.daemon_attrs(syncd.BACKUP, "eth2", 7, syncd.GROUP6)
    assert ("IPVS_DAEMON_ATTR_MCAST_GROUP6", "ff02::51") in attrs
    args = syncd.ipvsadm_start_args(syncd.MASTER, "eth2", 7, syncd.GROUP6)
    assert args[-2:] == ["--mcast-group", "ff02::51"]
    msg = syncd.ipvs_daemon_msg()
    msg["cmd"], msg["version"] = 1, 1
    msg["attrs"] = [("IPVS_CMD_ATTR_DAEMON", {"attrs": attrs})]
    msg.encode()
    # the 16 bytes of the group travel in the nested daemon attribute
    assert socket.inet_pton(socket.AF_INET6, "ff02::51") in bytes(msg.data)


def test_status_reports_the_group() -> None:
    assert syncd.SyncdControl("eth2", 7, syncd.GROUP6).status()["group"] == "ff02::51"
    assert syncd.SyncdControl("eth2", 7).status()["group"] is None
