"""REDUNDANCY form (RH-VSA 4.5): the backup director and the heartbeat."""

from __future__ import annotations

from typing import ClassVar

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, StringField

from .. import formkit as fk


class RedundancyForm(fk.ConsoleForm):
    """Backup addresses, heartbeat timing, link monitoring and the sync daemon."""

    backup = StringField("Redundant server public IP")
    backup_private = StringField("Redundant server private IP")
    keepalive = StringField("Heartbeat Interval (seconds)")
    deadtime = StringField("Assume dead after (seconds)")
    heartbeat_port = StringField("Heartbeat runs on port")
    monitor_links = BooleanField("Monitor NIC links for failures")
    syncdaemon = BooleanField("Syncdaemon")
    syncd_iface = StringField("Sync daemon interface")
    syncd_id = StringField("Sync daemon id")

    CONVERTERS: ClassVar[dict[str, fk.Converter]] = {
        "backup": fk.text, "backup_private": fk.text, "keepalive": fk.seconds, "deadtime": fk.seconds,
        "heartbeat_port": lambda v: fk.optional_integer(v) or 539,
        "monitor_links": lambda v: int(fk.boolean(v)), "syncdaemon": fk.boolean,
        "syncd_iface": fk.text, "syncd_id": fk.optional_integer,
    }


class ToggleForm(FlaskForm):
    """ENABLE / DISABLE of the backup: only the version it was shown with."""

    version = HiddenField("version")
