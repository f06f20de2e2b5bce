"""Property-based requests from the OpenAPI document: no 5xx, responses match their schema.

Bounded (few examples per operation) so it stays a few seconds. ``/stream`` never ends, so it
is left out here and tested over a socket in test_api_stream.py.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from api.app import create_app
from api.settings import ApiSettings

pytestmark = pytest.mark.integration

# The document only: create_app reads no files and opens nothing until its lifespan runs.
schema = schemathesis.openapi.from_dict(
    create_app(ApiSettings(influx_url="http://127.0.0.1:9")).openapi()
).exclude(path="/stream")


@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@pytest.mark.parametrize("who", ["operator", "tunabyggen"])
def test_no_server_errors_and_responses_match_the_schema(api_world, who, case):
    response = case.call(base_url=api_world.url, headers={"X-API-Key": api_world.keys[who]}, timeout=30)
    case.validate_response(
        response, checks=[not_a_server_error, response_schema_conformance, status_code_conformance]
    )
