"""GLOBAL SETTINGS form (RH-VSA 4.4): field names and ids are the lvs.cf keys."""

from __future__ import annotations

from typing import ClassVar

from wtforms import RadioField, SelectField, StringField

from .. import formkit as fk

NETWORK_CHOICES = [("nat", "NAT"), ("direct", "Direct Routing"), ("tunnel", "Tunneling")]
SERVICE_CHOICES = [("lvs", "LVS"), ("fos", "FOS (failover services)")]


class GlobalSettingsForm(fk.ConsoleForm):
    """Primary addresses, forwarding method and NAT router."""

    primary = StringField("Primary server public IP")
    primary_private = StringField("Primary server private IP")
    service = RadioField("Service type", choices=fk.options(SERVICE_CHOICES), default="lvs")
    network = RadioField("Use network type", choices=fk.options(NETWORK_CHOICES), default="nat")
    nat_router = StringField("NAT Router IP")
    nat_nmask = SelectField("NAT Router netmask", choices=fk.netmasks(16), validate_choice=False)
    nat_router_device = StringField("NAT Router device")

    CONVERTERS: ClassVar[dict[str, fk.Converter]] = {
        "primary": fk.text, "primary_private": fk.text, "service": fk.choice, "network": fk.choice,
        "nat_router": fk.text, "nat_nmask": fk.choice, "nat_router_device": fk.text,
    }
    FIELD_FOR: ClassVar[dict[str, str]] = {}
