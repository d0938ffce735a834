"""JSON mirrors the model exactly: lossless both ways, strict on the way in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from piranha_web.convert import from_dict, from_json, to_dict, to_json
from piranha_web.lvscf import LvsCfError, LvsConfig, RealServer, VirtualServer, load


def test_corpus_round_trips_losslessly(corpus_file: Path) -> None:
    cfg = load(corpus_file.read_text())
    assert from_json(to_json(cfg)) == cfg


def test_document_is_tagged_and_complete(seed_file: Path) -> None:
    data = json.loads(to_json(load(seed_file.read_text())))
    assert data["format"] == "piranha-web/lvs.cf"
    assert data["format_version"] == 1
    assert data["virtuals"][0]["name"] == "www"
    assert data["virtuals"][0]["servers"][1]["address"] == "192.168.1.2"
    assert data["heartbeat_port"] == 539          # defaults are written too
    assert "line" not in data["virtuals"][0]      # parser bookkeeping is not


def test_short_documents_take_piranha_defaults() -> None:
    cfg = from_json('{"virtuals": [{"name": "v", "servers": [{"name": "r"}]}]}')
    assert cfg.virtuals[0].scheduler == "wlc"
    assert cfg.virtuals[0].servers[0].weight == 1


@pytest.mark.parametrize(("doc", "key", "fragment"), [
    ({"bogus": 1}, "bogus", "unknown key"),
    ({"virtuals": [{"name": "v", "prot": "tcp"}]}, "virtuals[0].prot", "unknown key"),
    ({"virtuals": [{"name": "v", "port": "80"}]}, "virtuals[0].port", "expected integer"),
    ({"virtuals": [{"name": "v", "port": True}]}, "virtuals[0].port", "got boolean"),
    ({"virtuals": [{"name": "v", "port": 8.5}]}, "virtuals[0].port", "fraction"),
    ({"virtuals": [{"name": "v", "servers": [{"weight": 1}]}]}, "virtuals[0].servers[0].name",
     "required"),
    ({"virtuals": {"name": "v"}}, "virtuals", "expected an array"),
    ({"primary": 5}, "primary", "expected string or null"),
    ({"active": 1}, "active", "unknown key"),
    ({"format": "something-else"}, "format", "not a piranha-web configuration"),
    ({"format_version": 99}, "format_version", "unsupported"),
])
def test_bad_documents_name_the_path(doc: dict, key: str, fragment: str) -> None:
    with pytest.raises(LvsCfError) as info:
        from_dict(doc)
    assert info.value.problems[0].key == key
    assert fragment in info.value.message


def test_invalid_json_names_the_line() -> None:
    with pytest.raises(LvsCfError) as info:
        from_json('{\n  "serial_no": 1,\n  oops\n}')
    assert info.value.line == 3
    assert "invalid JSON" in info.value.message


def test_top_level_must_be_an_object() -> None:
    with pytest.raises(LvsCfError, match="expected an object"):
        from_json("[]")


def test_fractional_seconds_survive() -> None:
    cfg = LvsConfig(keepalive=1.5, virtuals=[VirtualServer(name="v", timeout=2.5)])
    assert from_dict(to_dict(cfg)) == cfg


_names = st.text("abcdefghij_-0123456789", min_size=1, max_size=8)
_servers = st.builds(RealServer, name=_names, address=st.sampled_from(["192.0.2.1", "2001:db8::1"]),
                     active=st.booleans(), weight=st.integers(0, 65535),
                     port=st.none() | st.integers(0, 65535))
_virtuals = st.builds(VirtualServer, name=_names, active=st.booleans(),
                      address=st.none() | st.just("198.51.100.7"),
                      send=st.none() | st.text(max_size=20), timeout=st.floats(0.1, 100),
                      servers=st.lists(_servers, max_size=3))


@settings(max_examples=60, deadline=None)
@given(st.builds(LvsConfig, serial_no=st.integers(0, 2 ** 31), keepalive=st.floats(0.1, 60),
                 primary=st.none() | st.just("203.0.113.1"), virtuals=st.lists(_virtuals, max_size=3)))
def test_any_model_round_trips(cfg: LvsConfig) -> None:
    assert from_json(to_json(cfg)) == cfg
