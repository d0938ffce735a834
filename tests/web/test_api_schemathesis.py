"""Property-based run of the live API against its own OpenAPI document (schemathesis).

Every documented operation is called with generated inputs (a few examples
each, so the whole run stays well under a minute) on a console holding the
seed configuration; each response must not be a server error and must match
the documented status codes, content type and body schema.

(Driven through ``APIOperation.as_strategy`` and Hypothesis directly: the
schemathesis pytest fixture loader does not support pytest 9 yet.)
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (content_type_conformance, not_a_server_error,
                                 response_schema_conformance, status_code_conformance)

from piranha_web.api.openapi import document

from .test_api import Api, make_token, seed

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
SCHEMA = schemathesis.openapi.from_dict(document())
OPERATIONS = [(path, method.upper()) for path, ops in document()["paths"].items() for method in ops]


@pytest.fixture
def api_app(app: Flask) -> tuple[Flask, str]:
    token = make_token(app)
    seed(Api(app.test_client(), token))
    return app, token


def test_every_operation_is_exercised() -> None:
    assert len(OPERATIONS) == sum(len(ops) for ops in SCHEMA.values())


@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_api_conforms_to_its_openapi_document(api_app: tuple[Flask, str], path: str, method: str) -> None:
    app, token = api_app
    SCHEMA.app = app
    operation = SCHEMA[path][method]

    @given(case=operation.as_strategy())
    @settings(max_examples=6, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)

    run()
