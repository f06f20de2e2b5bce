"""Forgery through the shipped ACL: a device's own credentials on its own topic cannot report for a
meter of another owner by naming it in the payload. Real Mosquitto (production conf, ACL and
password script), real ingest, real InfluxDB."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from energy_core.registry import AssetFile, Registry
from energy_testing import services as local_services
from simulators.publisher import Publisher
from tests.helpers import ROOT, eventually, ingest_settings, running_ingest

pytestmark = pytest.mark.integration

MOSQUITTO_DIR = ROOT / "deploy" / "mosquitto"
DEPLOYMENT_SPECIFIC = ("listener", "password_file", "acl_file", "persistence_location", "log_dest")
INGEST_PASSWORD = "ingest-pw-identity"
DEVICES = {"gw-17": "gw-pw", "tb-hm-1": "tb-pw", "TB-W-1": "tbw-pw"}
TS = "2026-11-26T10:00:00Z"
TS_S = 1_795_658_400
REGISTRY = Registry(
    AssetFile.model_validate(
        {
            "owners": [
                {"id": "borlange-energi", "name": "Borlänge Energi"},
                {"id": "tunabyggen", "name": "Tunabyggen"},
            ],
            "sites": [
                {"id": "SS-17", "name": "Substation 17", "owner": "borlange-energi"},
                {"id": "TB-1", "name": "Trapphus 1", "owner": "tunabyggen"},
            ],
            "devices": [
                {
                    "id": "KAM-66666666",
                    "site": "SS-17",
                    "kind": "heat_meter",
                    "external_ids": ["urn:dev:mbus:KAM-66666666:", "66666666"],
                    "gateways": ["gw-17"],
                },
                {
                    "id": "tb-hm-1",
                    "site": "TB-1",
                    "kind": "heat_meter",
                    "external_ids": ["urn:dev:mbus:TB-1:"],
                },
                {"id": "TB-W-1", "site": "TB-1", "kind": "heat_meter"},
            ],
        }
    )
)


@pytest.fixture(scope="module")
def broker_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """Mosquitto with the production conf and ACL, users made by make-passwd.sh as compose does."""
    root = tmp_path_factory.mktemp("mosquitto-identity")
    devices = root / "devices.txt"
    devices.write_text("".join(f"{user}:{password}\n" for user, password in DEVICES.items()))
    passwd = root / "auth" / "passwd"
    subprocess.run(
        ["sh", str(MOSQUITTO_DIR / "make-passwd.sh")],
        check=True,
        capture_output=True,
        env={
            **os.environ,
            "MQTT_INGEST_PASSWORD": INGEST_PASSWORD,
            "DEVICES_FILE": str(devices),
            "DEVICES_HASHED_FILE": str(root / "none.passwd"),
            "PASSWD_FILE": str(passwd),
        },
    )
    production = [
        line
        for line in (MOSQUITTO_DIR / "mosquitto.conf").read_text().splitlines()
        if not line.startswith(DEPLOYMENT_SPECIFIC)
    ]
    extra = "\n".join([*production, f"password_file {passwd}", f"acl_file {MOSQUITTO_DIR / 'acl'}"])
    running, proc = local_services.start_mosquitto(root / "broker", extra_conf=extra, allow_anonymous=False)
    try:
        yield running.port
    finally:
        local_services.stop_pid(proc.pid)


def publish_as(port: int, user: str, messages: list[tuple[str, object]]) -> None:
    """Publish at QoS 1 with the user's own credentials and wait for every PUBACK."""
    with Publisher(f"mqtt://{user}:{DEVICES[user]}@127.0.0.1:{port}") as publisher:
        publisher.publish_many([(topic, orjson.dumps(body)) for topic, body in messages])


def senml(base_name: str, power_w: float) -> list[dict[str, object]]:
    return [{"bn": base_name, "bt": TS_S, "n": "power", "u": "W", "v": power_w}]


def wmbus(name: str, power_kw: float) -> dict[str, object]:
    return {"name": name, "power_kw": power_kw, "timestamp": TS}


async def test_a_sensors_own_credentials_cannot_write_another_owners_meter(
    broker_port: int, isolated, tmp_path: Path
) -> None:
    settings = ingest_settings(
        isolated,
        tmp_path,
        mqtt_url=f"mqtt://ingest:{INGEST_PASSWORD}@127.0.0.1:{broker_port}",
        mqtt_topic_prefix="energy",  # the ACL grants ingest the shipped topics only
        ingest_unknown_devices="reject",
        ingest_max_age_days=100 * 365,
        ingest_raw_retention_days=0,  # raw kept for ever, as the samples are old
    )
    async with running_ingest(settings, REGISTRY) as service:
        # Tunabyggen's meters, each on a topic the ACL lets it publish on, naming Borlänge Energi's meter.
        await asyncio.to_thread(
            publish_as,
            broker_port,
            "tb-hm-1",
            [("senml/tb-hm-1", senml("urn:dev:mbus:KAM-66666666:", 987_000.0)),
             ("senml/tb-hm-1/KAM-66666666", senml("urn:dev:mbus:KAM-66666666:", 987_000.0)),
             ("senml/tb-hm-1", senml("urn:dev:mbus:TB-1:", 11_000.0))],
        )  # fmt: skip
        await asyncio.to_thread(
            publish_as,
            broker_port,
            "TB-W-1",
            [
                ("wmbusmeters/TB-W-1", wmbus("KAM-66666666", 987.0)),
                ("wmbusmeters/TB-W-1", wmbus("TB-W-1", 12.0)),
            ],
        )
        # Borlänge Energi's own gateway reports its meter.
        await asyncio.to_thread(
            publish_as, broker_port, "gw-17", [("senml/gw-17", senml("urn:dev:mbus:KAM-66666666:", 2200.0))]
        )

        def settled() -> bool:
            return (
                service.dead_letters.counts().get("device_not_allowed") == 3
                and len(power_by_device(isolated)) == 3
            )

        assert await eventually(settled), (service.dead_letters.counts(), power_by_device(isolated))
        assert power_by_device(isolated) == {"KAM-66666666": [2.2], "tb-hm-1": [11.0], "TB-W-1": [12.0]}
        letters = service.dead_letters.list(reason="device_not_allowed")
        assert sorted(letter.topic for letter in letters) == [
            "senml/tb-hm-1",
            "senml/tb-hm-1/KAM-66666666",
            "wmbusmeters/TB-W-1",
        ]
        for letter in letters:
            assert letter.topic in letter.detail
            assert "'KAM-66666666'" in letter.detail
        assert service.dead_letters.counts() == {"device_not_allowed": 3}


def power_by_device(isolated) -> dict[str, list[float]]:
    """Every stored power value per device tag."""
    out: dict[str, list[float]] = {}
    r = isolated.query('SELECT "power_kw", "device" FROM "district_heating" ORDER BY time')
    for _, power, device in r:
        if power is not None:
            out.setdefault(str(device), []).append(float(power))
    return out
