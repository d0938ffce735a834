"""REAL SERVER edit form (RH-VSA 4.6.2)."""

from __future__ import annotations

from typing import ClassVar

from wtforms import StringField

from .. import formkit as fk


class RealServerForm(fk.ConsoleForm):
    """Name, Address, Weight (+ an optional port: blank = the virtual server's port)."""

    name = StringField("Name")
    address = StringField("Address")
    port = StringField("Port")
    weight = StringField("Weight")

    CONVERTERS: ClassVar[dict[str, fk.Converter]] = {
        "name": fk.required_text, "address": fk.text, "port": fk.optional_integer, "weight": fk.integer,
    }
    FIELD_FOR: ClassVar[dict[str, str]] = {"server": "name"}
