"""Shared form machinery: raw text in, typed values out, lvscf problems back onto fields.

Forms do no rule checking of their own beyond "is this a number": they turn
what was typed into the values the lvs.cf model holds, the whole resulting
configuration is validated by ``piranha_web.lvscf``, and its problems come
back here keyed by lvs.cf key (= field name = element id).  Fields keep the
typed text, so a refused ACCEPT shows exactly what the user entered.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Callable, ClassVar

from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, StringField
from wtforms.fields.core import UnboundField

from .lvscf import keys
from .lvscf.model import CHECKS, DNS_QTYPES
from .lvscf.tokens import MAX_DIGITS
from .models import MAX_ROW_ID, row_id

Converter = Callable[[Any], Any]


def text(value: Any) -> str | None:
    """Optional free text: blank means "not set"."""
    value = (value or "").strip() if isinstance(value, str) or value is None else str(value)
    return value or None


def raw_text(value: Any) -> str | None:
    """Like :func:`text` but keeps inner/outer blanks (send strings may end in spaces)."""
    if value is None or value == "":
        return None
    return str(value)


def required_text(value: Any) -> str:
    """Text that must be present (names)."""
    out = text(value)
    if out is None:
        raise ValueError("this field is required")
    return out


def integer(value: Any) -> int:
    """A whole number (decimal)."""
    out = optional_integer(value)
    if out is None:
        raise ValueError("a number is required")
    return out


def optional_integer(value: Any) -> int | None:
    """A whole number, or blank for "not set"."""
    raw = text(value)
    if raw is None:
        return None
    if len(raw) > MAX_DIGITS:
        raise ValueError("too many digits: out of range")
    try:
        out = int(raw, 10)
    except ValueError:
        raise ValueError(f"'{raw}' is not a whole number") from None
    if not -MAX_ROW_ID - 1 <= out <= MAX_ROW_ID:  # SQLite's integer range
        raise ValueError(f"{out} is out of range")
    return out


def zero_if_blank(value: Any) -> int:
    """A whole number where blank means 0 (persistence, fwmark-like counters)."""
    out = optional_integer(value)
    return 0 if out is None else out


def seconds(value: Any) -> float:
    """A number of seconds (fractions allowed: our extension over Piranha)."""
    raw = text(value)
    if raw is None:
        raise ValueError("a number of seconds is required")
    if len(raw) > MAX_DIGITS:
        raise ValueError("too many digits: not a number of seconds")
    try:
        out = float(raw)
    except ValueError:
        raise ValueError(f"'{raw}' is not a number of seconds") from None
    if out != out or out in (float("inf"), float("-inf")):
        raise ValueError(f"'{raw}' is not a number of seconds")
    return out


def optional_seconds(value: Any) -> float | None:
    """A number of seconds, or blank for "not set" (inherit, or Piranha's meaning)."""
    return None if text(value) is None else seconds(value)


def optional_boolean(value: Any) -> bool | None:
    """A yes/no/unset drop-down: blank means "not set" (a real server inherits its virtual's)."""
    raw = text(value)
    return None if raw is None else boolean(raw)


def boolean(value: Any) -> bool:
    """Checkbox / yes-no radio."""
    return value in (True, "1", "y", "yes", "on", "true")


def choice(value: Any) -> str | None:
    """A drop-down value; blank ("Unused") means not set."""
    return text(value)


def int_boolean(value: Any) -> int:
    """A checkbox stored as the integer 0/1 (``monitor_links``)."""
    return int(boolean(value))


CONVERTERS: dict[str, Converter] = {
    "text": text, "raw_text": raw_text, "required_text": required_text, "integer": integer,
    "optional_integer": optional_integer, "zero_if_blank": zero_if_blank, "seconds": seconds,
    "boolean": boolean, "choice": choice, "int_boolean": int_boolean, "optional_seconds": optional_seconds,
    "optional_boolean": optional_boolean,
}


def converter(key: keys.Key) -> Converter:
    """The converter the key table names for ``key``'s form field."""
    if key.form == "integer_or_default":
        fallback = key.gui_default
        return lambda v: optional_integer(v) or fallback
    if key.form is None:
        raise KeyError(f"{key.block} {key.name} is not a form field")
    return CONVERTERS[key.form]


def field(block: str, name: str, field_class: type = StringField, **kwargs: Any) -> UnboundField:
    """The form field of lvs.cf key ``name`` in ``block``: its label and converter come from the key table.

    The field carries its converter (``.convert``); :class:`ConsoleForm` collects them.
    """
    key = keys.key(block, name)
    unbound: UnboundField = field_class(key.label, **kwargs)
    unbound.convert = converter(key)  # type: ignore[attr-defined]
    return unbound


try:  # WTForms >= 3.3 deprecates (value, label) tuples
    from wtforms.fields.choices import SelectChoice as _SelectChoice
except ImportError:  # pragma: no cover - older WTForms
    _SelectChoice = None


def options(pairs: list[tuple[str, str]]) -> list[Any]:
    """Choices for a SelectField/RadioField in the form this WTForms wants."""
    if _SelectChoice is None:
        return list(pairs)
    return [_SelectChoice(value=v, label=label) for v, label in pairs]


def choice_value(choice: Any) -> str:
    """The value of a choice, whatever its shape."""
    return choice.value if hasattr(choice, "value") else choice[0]


#: Prefix lengths offered for an IPv6 address (lvs.cf takes a length there, never a dotted mask).
IPV6_PREFIXES = (48, 56, 64, 96, 112, 120, 127, 128)


def netmasks(first_prefix: int = 16) -> list[Any]:
    """("", "Unused"), dotted masks from /first_prefix to /32 widest first, then IPv6 prefix lengths."""
    masks = [str(ipaddress.IPv4Network(f"0.0.0.0/{p}").netmask) for p in range(first_prefix, 33)]
    prefixes = [(str(p), f"/{p} (IPv6)") for p in IPV6_PREFIXES]
    return options([("", "Unused")] + [(m, m) for m in masks] + prefixes)


def with_current(choices: list[Any], current: Any) -> list[Any]:
    """Keep a value loaded from a file selectable even if it is not in the usual list."""
    if current and all(choice_value(c) != current for c in choices):
        return choices + options([(str(current), str(current))])
    return choices


class ConsoleForm(FlaskForm):
    """Base of every edit form: a ``version`` for optimistic locking and typed conversion."""

    version = HiddenField("version")

    # Field name -> converter, collected from the fields (in declaration order) by __init_subclass__.
    CONVERTERS: ClassVar[dict[str, Converter]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        found = [(name, value) for name in dir(cls)
                 if isinstance(value := getattr(cls, name, None), UnboundField) and hasattr(value, "convert")]
        found.sort(key=lambda item: item[1].creation_counter)
        cls.CONVERTERS = {name: value.convert for name, value in found}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.general_errors: list[str] = []
        self.conflict: dict[str, Any] | None = None

    def values(self) -> tuple[dict[str, Any], dict[str, list[str]]]:
        """(lvs.cf values, conversion errors keyed by field)."""
        out: dict[str, Any] = {}
        errors: dict[str, list[str]] = {}
        for name, convert in self.CONVERTERS.items():
            try:
                out[name] = convert(self[name].data)
            except ValueError as exc:
                errors[name] = [str(exc)]
        return out, errors

    def expected_version(self) -> int | None:
        """The version the form was loaded with (None for new objects)."""
        return row_id(self.version.data)

    def attach(self, fields: dict[str, list[str]], general: list[str] | None = None) -> None:
        """Put errors on the fields they name; anything else goes above the form."""
        for key, messages in fields.items():
            for message in messages:
                target = self._field_for(key, message)
                if target in self._fields and target not in ("csrf_token", "version"):
                    self[target].errors = list(self[target].errors or []) + [message]
                else:
                    self.general_errors.append(message if key == "_form" else f"{key}: {message}")
        self.general_errors.extend(general or [])

    FIELD_FOR: ClassVar[dict[str, str]] = {}
    # lvs.cf keys holding "IP DEVICE": a problem about the device token goes to the device field.
    DEVICE_FIELD: ClassVar[dict[str, str]] = {
        "address": "device", "nat_router": "nat_router_device", "nat_router6": "nat_router6_device"}

    def _field_for(self, key: str, message: str) -> str:
        """The form field an lvs.cf problem belongs on."""
        device = self.DEVICE_FIELD.get(key)
        if device and device in self._fields and message.startswith("invalid device name"):
            return device
        return self.FIELD_FOR.get(key, key)


YES_NO_UNSET = [("", "(unset)"), ("1", "Yes"), ("0", "No")]


def _tristate(value: Any) -> str:
    """A stored optional boolean as its drop-down value ("1", "0", "" for unset)."""
    if value is True or value is False:
        return "1" if value else "0"
    return "" if value is None else str(value)


def panel_health_keys(block: str, panel: str) -> tuple[str, ...]:
    """The health-check keys of ``block`` that ``panel`` edits, in table order."""
    return tuple(k.name for k in keys.of(block) if k.name in keys.HEALTH_KEYS and k.panel == panel)


def health_fields(block: str, names: tuple[str, ...]) -> dict[str, Any]:
    """Form fields of the health-check keys ``names`` of ``block`` (drop-downs for the enumerations).

    ``HEALTH_KEYS`` lists them for the template, in table order.
    """
    out: dict[str, Any] = {"HEALTH_KEYS": names}
    for name in names:
        key = keys.key(block, name)
        if name == "check":
            out[name] = field(block, name, SelectField, choices=options([("", "(derived)")] + [
                (c, c) for c in CHECKS]), validate_choice=False)
        elif name == "check_qtype":
            out[name] = field(block, name, SelectField, choices=options([("", "(A)")] + [
                (q, q) for q in DNS_QTYPES]), validate_choice=False)
        elif key.kind == keys.BOOL:
            out[name] = field(block, name, SelectField, choices=options(YES_NO_UNSET), coerce=_tristate,
                              validate_choice=False)
        else:
            out[name] = field(block, name)
    return out


def shown(value: Any) -> Any:
    """A stored value as a form shows it: None blank, 6.0 as "6"."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value


def row_data(row: Any, names: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Initial form data from a DB row (or defaults dict) for the given field names."""
    get = row.get if isinstance(row, dict) else (lambda k, d=None: getattr(row, k, d))
    data = {name: shown(get(name)) for name in names}
    for name in names:
        if isinstance(get(name), bool):
            data[name] = get(name)
    if not isinstance(row, dict) and hasattr(row, "version"):
        data["version"] = str(row.version)
    return data
