"""``/stream`` options for clients that need less than every reading: ``readings=count|none``,
``once``, and the ``scope`` event that names what a stream covers."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import orjson
import pytest

from tests.integration.api.conftest import heat_point

pytestmark = pytest.mark.integration


def events(response: httpx.Response) -> Iterator[tuple[str, dict]]:
    """(event, data) pairs of a text/event-stream, until the server ends it."""
    event, data = "message", []
    for line in response.iter_lines():
        if line == "":
            if data:
                yield event, orjson.loads("\n".join(data))
            event, data = "message", []
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())


def test_a_stream_first_names_its_scope_for_an_owner_and_for_an_operator(api_world):
    for who, expected in (
        ("tunabyggen", {"scope": "owner", "owner": "tunabyggen", "owner_name": "Tunabyggen"}),
        ("operator", {"scope": "operator", "owner": None, "owner_name": None}),
    ):
        with api_world.client(who) as client, client.stream("GET", "/stream", params={"once": "true"}) as r:
            assert r.status_code == 200
            event, data = next(events(r))
        assert event == "scope"
        assert data == {**expected, "site": None, "site_name": None}


def test_a_site_stream_names_the_site(api_world):
    with (
        api_world.client("tunabyggen") as client,
        client.stream("GET", "/stream", params={"site": "tb-1", "once": "true"}) as r,
    ):
        event, data = next(events(r))
    assert event == "scope"
    assert (data["site"], data["site_name"]) == ("tb-1", "Tunabyggen Jakobsgårdarna 1")


def test_readings_count_sends_counts_after_overviews_and_never_a_reading(api_world):
    seen: list[str] = []
    counted = 0
    with (
        api_world.client("operator") as client,
        client.stream("GET", "/stream", params={"readings": "count"}) as r,
    ):
        for event, data in events(r):
            seen.append(event)
            if event == "overview" and seen.count("overview") == 1:
                api_world.write([heat_point("hm-tb-2", time.time_ns(), 81.0, 85.0, 45.0)])
            elif event == "count":
                assert seen[-2] == "overview"  # each poll: its overview, then its count
                counted += data["readings"]
                if counted >= 1:
                    break
            assert seen.count("overview") < 200, "the new reading was never counted"
    assert counted >= 1
    assert "reading" not in seen
    assert seen[0] == "scope"


def test_readings_none_sends_overviews_only(api_world):
    with (
        api_world.client("operator") as client,
        client.stream("GET", "/stream", params={"readings": "none"}) as r,
    ):
        seen = []
        for event, _ in events(r):
            seen.append(event)
            if len(seen) == 4:
                break
    assert seen == ["scope", "overview", "overview", "overview"]


def test_once_ends_the_stream_after_the_first_overview(api_world):
    # The backlog of the last minute is there (the world's newest points are 5 s old).
    seen: list[str] = []
    with (
        api_world.client("operator") as client,
        client.stream("GET", "/stream", params={"once": "true"}) as r,
    ):
        for event, _ in events(r):  # ends because the server ends the stream…
            seen.append(event)
            if seen.count("overview") > 1:
                break  # …or fails here, not by waiting forever
    assert seen[:2] == ["scope", "overview"]
    assert seen.count("overview") == 1
    assert set(seen[2:]) <= {"reading"}


def test_an_unknown_readings_mode_is_a_422(api_world):
    with (
        api_world.client("operator") as client,
        client.stream("GET", "/stream", params={"readings": "some"}) as r,
    ):
        assert r.status_code == 422
