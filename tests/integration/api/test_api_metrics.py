"""The API's Prometheus metrics: requests by route template and status."""

from __future__ import annotations

import re

import httpx
import pytest

pytestmark = pytest.mark.integration


def count(text: str, route: str, status: str) -> float:
    labels = f'method="GET",route="{re.escape(route)}",status="{status}"'
    pattern = rf"^api_request_seconds_count\{{{labels}\}} (\S+)$"
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_requests_are_counted_by_route_template_and_status(api_world):
    with api_world.client("tunabyggen") as client:
        assert client.get("/sites/tb-1/latest").status_code == 200
        assert client.get("/sites/tb-2/latest").status_code == 200
        assert client.get("/sites/ot-1/latest").status_code == 404  # another owner's site
    assert httpx.get(f"{api_world.url}/sites/tb-1/latest").status_code == 401

    text = httpx.get(f"{api_world.url}/metrics").text
    assert count(text, "/sites/{site_id}/latest", "200") >= 2
    assert count(text, "/sites/{site_id}/latest", "404") >= 1
    assert count(text, "/sites/{site_id}/latest", "401") >= 1
    assert "tb-1" not in text, "ids never become label values"
