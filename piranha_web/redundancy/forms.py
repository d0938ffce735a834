"""REDUNDANCY form (RH-VSA 4.5): the backup director and the heartbeat."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField

from .. import formkit as fk
from ..lvscf.keys import GLOBAL as G


class RedundancyForm(fk.ConsoleForm):
    """Backup addresses, heartbeat timing, link monitoring and the sync daemon."""

    backup = fk.field(G, "backup")
    backup_private = fk.field(G, "backup_private")
    keepalive = fk.field(G, "keepalive")
    deadtime = fk.field(G, "deadtime")
    heartbeat_port = fk.field(G, "heartbeat_port")
    heartbeat_key_file = fk.field(G, "heartbeat_key_file")
    monitor_links = fk.field(G, "monitor_links", BooleanField)
    syncdaemon = fk.field(G, "syncdaemon", BooleanField)
    syncd_iface = fk.field(G, "syncd_iface")
    syncd_id = fk.field(G, "syncd_id")


class ToggleForm(FlaskForm):
    """ENABLE / DISABLE of the backup: only the version it was shown with."""

    version = HiddenField("version")
