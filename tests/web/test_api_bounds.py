"""The API refuses, with 422 naming the key, every value pulse could not run."""

from __future__ import annotations

from typing import Any

import pytest

from .test_api import Api, api, seed  # noqa: F401  (the api fixture)


@pytest.mark.parametrize(("body", "key"), [
    ({"use_regex": True, "expect": "HTTP/1.[01] (200"}, "expect"),
    ({"send_program": '/bin/echo "unbalanced'}, "send_program"),
    ({"timeout": 1e-320}, "timeout"),
    ({"reentry": 1e300}, "reentry"),
    ({"timeout": 1e-300}, "timeout"),
    ({"reentry": 1e308}, "reentry"),
    ({"port": 2 ** 64}, "port"),
    ({"persistent": 2 ** 32}, "persistent"),
    ({"fwmark": 2 ** 32}, "fwmark"),
])
def test_crashing_virtual_values_are_422_by_key(
        api: Api, body: dict[str, Any], key: str) -> None:  # noqa: F811
    vid, _ = seed(api)
    before = api.get(f"/virtual-servers/{vid}").get_json()
    r = api.patch(f"/virtual-servers/{vid}", body)
    assert r.status_code == 422, r.get_json()
    assert key in {f["field"] for f in r.get_json()["fields"]}
    assert api.get(f"/virtual-servers/{vid}").get_json() == before


@pytest.mark.parametrize(("body", "key"), [
    ({"keepalive": 1e-320}, "keepalive"),
    ({"deadtime": 1e308}, "deadtime"),
    ({"heartbeat_port": 65535}, "heartbeat_port"),
])
def test_redundancy_bounds_are_422_by_key(api: Api, body: dict[str, Any], key: str) -> None:  # noqa: F811
    r = api.patch("/redundancy", body)
    assert r.status_code == 422, r.get_json()
    assert key in {f["field"] for f in r.get_json()["fields"]}


def test_real_server_weight_beyond_the_kernel_is_422(api: Api) -> None:  # noqa: F811
    vid, rids = seed(api)
    r = api.patch(f"/virtual-servers/{vid}/real-servers/{rids[0]}", {"weight": 2 ** 64})
    assert r.status_code == 422 and r.get_json()["fields"][0]["field"] == "weight"


def test_openapi_documents_the_bounds(api: Api) -> None:  # noqa: F811
    schemas = api.get("/openapi.json").get_json()["components"]["schemas"]
    port = schemas["VirtualServerInput"]["properties"]["port"]
    assert (port["minimum"], port["maximum"]) == (0, 65535)
    assert "heartbeat_key_file" in schemas["RedundancyInput"]["properties"]
    assert schemas["RedundancyInput"]["properties"]["keepalive"]["maximum"] == 604800
