"""FAILOVER edit form (FOS mode; parse.php's $fail array)."""

from __future__ import annotations

from typing import ClassVar

from wtforms import SelectField, StringField

from .. import formkit as fk


class FailoverForm(fk.ConsoleForm):
    """Name, Address, Device, Netmask, Port, Timeout, Send, Expect, Start/Stop command."""

    name = StringField("Name")
    address = StringField("Address")
    device = StringField("Device")
    vip_nmask = SelectField("Netmask", choices=fk.netmasks(16), validate_choice=False)
    port = StringField("Port")
    timeout = StringField("Timeout (seconds)")
    reentry = StringField("Re-entry Time (seconds)")
    send = StringField("Send")
    expect = StringField("Expect")
    start_cmd = StringField("Start command")
    stop_cmd = StringField("Stop command")

    CONVERTERS: ClassVar[dict[str, fk.Converter]] = {
        "name": fk.required_text, "address": fk.text, "device": fk.text, "vip_nmask": fk.choice,
        "port": fk.integer, "timeout": fk.seconds, "reentry": fk.seconds, "send": fk.raw_text,
        "expect": fk.raw_text, "start_cmd": fk.text, "stop_cmd": fk.text,
    }
    FIELD_FOR: ClassVar[dict[str, str]] = {"failover": "name"}
