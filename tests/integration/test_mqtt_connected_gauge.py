"""``ingest_mqtt_connected`` says what the Ingest health dashboard's "MQTT connected" panel shows:
1 while ingest holds a session with the broker, 0 while the broker is gone, 1 again once it is back.

Against a Mosquitto of this test's own (the session's is shared and must not be stopped).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from energy_testing import services as local_services
from energy_testing.world import Isolation
from tests.helpers import eventually, ingest_settings, running_ingest, sample

pytestmark = pytest.mark.integration


async def test_ingest_mqtt_connected_is_0_while_the_broker_is_down_and_1_again_when_it_returns(
    isolated: Isolation, tmp_path: Path
) -> None:
    running, proc = local_services.start_mosquitto(tmp_path / "broker")
    try:
        settings = ingest_settings(isolated, tmp_path / "data", mqtt_url=running.url)
        async with running_ingest(settings) as service:
            assert sample(service, "ingest_mqtt_connected") == 1
            local_services.stop_pid(proc.pid)
            assert await eventually(lambda: sample(service, "ingest_mqtt_connected") == 0)
            running, proc = local_services.start_mosquitto(tmp_path / "broker", port=running.port)
            assert await eventually(lambda: sample(service, "ingest_mqtt_connected") == 1)
        assert sample(service, "ingest_mqtt_connected") == 0  # stopped: no session held
    finally:
        local_services.stop_pid(proc.pid)
