"""The key table is the one schema: the model, parser and writer agree with it."""

from __future__ import annotations

from dataclasses import MISSING, fields

import pytest

from piranha_web.lvscf import FailoverService, LvsConfig, RealServer, VirtualServer, keys
from piranha_web.lvscf.model import Director
from piranha_web.lvscf.parser import KEYWORDS

MODELS = {keys.GLOBAL: LvsConfig, keys.VIRTUAL: VirtualServer, keys.SERVER: RealServer,
          keys.FAILOVER: FailoverService, keys.DIRECTOR: Director}


def _model_fields(cls: type) -> set[str]:
    return {f.name for f in fields(cls) if not f.name.startswith("_")
            and f.name not in ("line", "servers", "virtuals", "failovers", "directors")}


@pytest.mark.parametrize("block", keys.BLOCKS)
def test_every_model_attribute_has_exactly_one_key(block: str) -> None:
    assert set(keys.fields(block)) == _model_fields(MODELS[block])
    assert len(keys.fields(block)) == len(set(keys.fields(block)))


@pytest.mark.parametrize("block", keys.BLOCKS)
def test_model_defaults_are_the_tables(block: str) -> None:
    for f in fields(MODELS[block]):
        if f.name in keys.fields(block) and f.default is not MISSING:
            assert f.default == keys.default(block, f.name), f.name


def test_parser_keywords_come_from_the_table() -> None:
    own = {b: {k.name for k in keys.of(b) if k.kind not in (keys.NAME, keys.DEVICE)} for b in keys.BLOCKS}
    assert KEYWORDS["global"] == own[keys.GLOBAL]
    assert KEYWORDS["server"] == own[keys.SERVER]
    assert KEYWORDS["director"] == own[keys.DIRECTOR]
    # virtual and failover blocks share a grammar: each checks and drops the other's keys
    assert KEYWORDS["virtual"] == KEYWORDS["failover"] == own[keys.VIRTUAL] | own[keys.FAILOVER]


def test_every_number_is_bounded() -> None:
    numeric = (keys.INT, keys.SECONDS, keys.PORT, keys.FWMARK)
    for k in keys.KEYS:
        if k.kind in numeric and k.field:
            assert k.low is not None and k.high is not None, (k.block, k.name)
            assert k.high <= 2 ** 63 - 1


def test_every_form_field_has_a_label_and_a_panel() -> None:
    for k in keys.KEYS:
        if k.form:
            assert k.label and k.panel, (k.block, k.name)


def test_redundancy_panel_and_api_list_the_same_keys() -> None:
    api = set(keys.api_fields(keys.GLOBAL, panel=keys.P_REDUNDANCY))
    form = {k.field for k in keys.panel_keys(keys.P_REDUNDANCY) if k.form}
    # backup_active is the panel's ENABLE/DISABLE; heartbeat has no field (the GUI always writes 1)
    assert api - form == {"backup_active", "heartbeat"}
    assert "heartbeat_key_file" in form
