"""Auth and tenant isolation: 401 without a valid key, 404 for another owner's site everywhere."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration

# Every endpoint that names a site or device, with valid parameters otherwise.
SITE_ENDPOINTS = [
    ("/sites/{site}", {}),
    ("/sites/{site}/latest", {}),
    ("/sites/{site}/series", {"measurement": "district_heating", "field": "power_kw"}),
    ("/sites/{site}/series", {"measurement": "district_heating", "field": "power_kw", "format": "csv"}),
    ("/sites/{site}/energy", {"every": "day"}),
    ("/sites/{site}/energy", {"every": "day", "format": "csv"}),
    ("/sites/{site}/emissions", {"every": "month"}),
    ("/sites/{site}/emissions", {"every": "month", "format": "csv"}),
    ("/devices", {"site": "{site}"}),
    ("/stream", {"site": "{site}", "key": "{key}"}),
]
DEVICE_ENDPOINTS = [
    ("/devices/{device}", {}),
    ("/devices/{device}/latest", {}),
    ("/devices/{device}/series", {"field": "power_kw"}),
    ("/devices/{device}/series", {"field": "power_kw", "format": "csv"}),
]
UNAUTHENTICATED = ["/owners", "/sites", "/devices", "/sites/tb-1/latest", "/network/overview", "/emissions",
                   "/deadletters", "/stream"]  # fmt: skip


def _fill(params: dict[str, str], **values: str) -> dict[str, str]:
    return {k: v.format(**values) for k, v in params.items()}


@pytest.mark.parametrize("path", UNAUTHENTICATED)
def test_missing_or_wrong_key_is_401_with_a_json_error(api_world, path):
    with api_world.client() as anonymous:
        missing = anonymous.get(path)
        wrong = anonymous.get(path, headers={"X-API-Key": "not-a-key"})
        wrong_bearer = anonymous.get(path, headers={"Authorization": "Bearer not-a-key"})
    assert missing.status_code == 401
    assert missing.json()["error"] == "missing_api_key"
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_api_key"
    assert wrong_bearer.status_code == 401


def test_a_key_in_the_query_string_is_accepted_only_by_the_stream(api_world):
    with api_world.client() as anonymous:
        assert anonymous.get("/sites", params={"key": api_world.keys["operator"]}).status_code == 401


def test_bearer_header_works_like_x_api_key(api_world):
    with api_world.client() as anonymous:
        r = anonymous.get("/owners", headers={"Authorization": f"Bearer {api_world.keys['tunabyggen']}"})
    assert r.status_code == 200
    assert [o["id"] for o in r.json()] == ["tunabyggen"]


@pytest.mark.parametrize(
    ("who", "owners", "sites", "devices"),
    [
        ("operator", {"borlange-energi", "tunabyggen", "stora-bo"}, {"sub-1", "tb-1", "tb-2", "ot-1"}, 6),
        ("tunabyggen", {"tunabyggen"}, {"tb-1", "tb-2"}, 4),
        ("stora", {"stora-bo"}, {"ot-1"}, 1),
    ],
)
def test_listings_show_exactly_the_scope(api_world, who, owners, sites, devices):
    with api_world.client(who) as client:
        assert {o["id"] for o in client.get("/owners").json()} == owners
        assert {s["id"] for s in client.get("/sites").json()} == sites
        listed = client.get("/devices").json()
    assert len(listed) == devices
    assert {d["site"] for d in listed} <= sites


@pytest.mark.parametrize(("path", "params"), SITE_ENDPOINTS)
@pytest.mark.parametrize(
    ("who", "site"),
    [("tunabyggen", "ot-1"), ("tunabyggen", "sub-1"), ("stora", "tb-1"), ("operator", "no-such-site")],
)
def test_another_owners_site_is_404_like_an_unknown_one(api_world, path, params, who, site):
    key = api_world.keys[who]
    with api_world.client(who) as client:
        r = client.get(path.format(site=site), params=_fill(params, site=site, key=key))
    assert r.status_code == 404, r.text
    assert r.json() == {"error": "unknown_site", "message": f"no site {site!r}"}


@pytest.mark.parametrize(("path", "params"), DEVICE_ENDPOINTS)
@pytest.mark.parametrize(
    ("who", "device"), [("tunabyggen", "hm-ot-1"), ("stora", "hm-tb-1"), ("operator", "nope")]
)
def test_another_owners_device_is_404_like_an_unknown_one(api_world, path, params, who, device):
    with api_world.client(who) as client:
        r = client.get(path.format(device=device), params=params)
    assert r.status_code == 404, r.text
    assert r.json()["error"] == "unknown_device"


@pytest.mark.parametrize(("path", "params"), [p for p in SITE_ENDPOINTS if p[0] != "/stream"])
@pytest.mark.parametrize(("who", "site"), [("tunabyggen", "tb-1"), ("operator", "ot-1"), ("stora", "ot-1")])
def test_own_sites_answer_200(api_world, path, params, who, site):
    with api_world.client(who) as client:
        r = client.get(path.format(site=site), params=_fill(params, site=site, key=""))
    assert r.status_code == 200, r.text


def test_dead_letters_are_for_operators_only(api_world):
    with api_world.client("tunabyggen") as tenant, api_world.client("operator") as operator:
        assert tenant.get("/deadletters").status_code == 403
        assert tenant.post("/deadletters/replay", json={}).json()["error"] == "operator_only"
        assert operator.get("/deadletters").status_code == 200


def test_an_owners_scope_wide_emissions_and_overview_leave_out_other_owners(api_world):
    with api_world.client("stora") as stora:
        emissions = stora.get("/emissions", params={"every": "day", "start": "2025-03-28T00:00:00+01:00",
                                                    "end": "2025-04-01T00:00:00+02:00"}).json()  # fmt: skip
        overview = stora.get("/network/overview").json()
    assert emissions["buckets"] == []  # all the energy data belongs to tunabyggen
    assert overview["devices_registered"] == 1
    assert overview["devices_reporting"] == 1
    assert overview["total_heat_load_mw"] == pytest.approx((200.0 - 5) / 1000)
