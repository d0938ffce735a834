"""FAILOVER edit form (FOS mode; parse.php's $fail array)."""

from __future__ import annotations

from typing import ClassVar

from wtforms import SelectField

from .. import formkit as fk
from ..lvscf.keys import FAILOVER as F


class FailoverForm(fk.ConsoleForm):
    """Name, Address, Device, Netmask, Port, Timeout, Send, Expect, Start/Stop command."""

    name = fk.field(F, "name")
    address = fk.field(F, "address")
    device = fk.field(F, "device")
    vip_nmask = fk.field(F, "vip_nmask", SelectField, choices=fk.netmasks(16), validate_choice=False)
    port = fk.field(F, "port")
    timeout = fk.field(F, "timeout")
    reentry = fk.field(F, "reentry")
    send = fk.field(F, "send")
    expect = fk.field(F, "expect")
    start_cmd = fk.field(F, "start_cmd")
    stop_cmd = fk.field(F, "stop_cmd")

    FIELD_FOR: ClassVar[dict[str, str]] = {"failover": "name"}
