"""No parameter reaches InfluxQL unvalidated: injection attempts through each one get a 4xx."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.integration

PAYLOADS = [
    "tb-1' OR \"owner\"='stora-bo",
    "' OR 1=1 --",
    "tb-1\\' OR 'a'='a",
    '"power_kw") FROM "district_heating" --',
    '1h), "owner" fill(none',
    "tb-1; DROP DATABASE energy",
    "tb-1'",
    'mean("power_kw")',
    "",
    "ot-1",  # a well-formed id of another owner's site
]
SERIES = {"measurement": "district_heating", "field": "power_kw"}

# (path template, base parameters, where the payload goes: "path" or a parameter name)
TARGETS = [
    ("/sites/{p}", {}, "path"),
    ("/sites/{p}/latest", {}, "path"),
    ("/sites/{p}/series", SERIES, "path"),
    ("/sites/{p}/energy", {}, "path"),
    ("/sites/{p}/emissions", {}, "path"),
    ("/devices/{p}/latest", {}, "path"),
    ("/devices/{p}/series", {"field": "power_kw"}, "path"),
    ("/sites/tb-1/series", SERIES, "measurement"),
    ("/sites/tb-1/series", SERIES, "field"),
    ("/sites/tb-1/series", {**SERIES, "aggregate": "mean"}, "every"),
    ("/sites/tb-1/series", {**SERIES, "every": "1h"}, "aggregate"),
    ("/sites/tb-1/series", SERIES, "start"),
    ("/sites/tb-1/series", SERIES, "end"),
    ("/sites/tb-1/series", SERIES, "format"),
    ("/sites/tb-1/energy", {}, "every"),
    ("/sites/tb-1/emissions", {}, "every"),
    ("/emissions", {}, "start"),
    ("/devices", {}, "site"),
    ("/network/overview", {}, "network"),
    ("/stream", {}, "site"),
    ("/deadletters", {}, "reason"),
    ("/deadletters", {}, "after_id"),
]


def _request(client: httpx.Client, template: str, base: dict[str, str], where: str, payload: str):
    params = dict(base)
    if where == "path":
        path = template.format(p=payload) if payload else template.format(p="%20")
    else:
        path = template
        params[where] = payload
    return client.get(path, params=params)


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize(("template", "base", "where"), TARGETS)
def test_injection_attempts_are_refused_with_4xx(api_world, template, base, where, payload):
    who = "operator" if template.startswith("/deadletters") else "tunabyggen"
    with api_world.client(who) as client:
        r = _request(client, template, base, where, payload)
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    assert "error" in r.json()


def test_the_database_is_intact_after_the_attempts(api_world):
    """The attempts above ran first in this module; the data they targeted is still all there."""
    with api_world.client("tunabyggen") as client:
        energy = client.get(
            "/sites/tb-1/energy",
            params={"every": "month", "start": "2025-03-01T00:00:00Z", "end": "2025-05-01T00:00:00Z"},
        ).json()
    expected = sum(kwh for _, _, kwh in api_world.intervals)
    assert sum(b["kwh"] for b in energy["buckets"]) == pytest.approx(expected)


def test_a_stream_key_cannot_smuggle_a_scope(api_world):
    key = api_world.keys["tunabyggen"] + "' OR 1=1"
    with api_world.client() as client:
        assert client.get("/stream", params={"key": key}).status_code == 401
