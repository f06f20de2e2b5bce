"""The production Mosquitto config, password script and ACL, run against the real Mosquitto.

The broker gets deploy/mosquitto/mosquitto.conf with only its deployment-specific lines
(listener, paths, log destination) swapped for the test's; the ACL file is used as shipped
and the password file is built by deploy/mosquitto/make-passwd.sh, as compose does.
"""

from __future__ import annotations

import asyncio
import os
import queue
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from energy_core.deadletters import DeadLetter, DeadLetterStore
from energy_core.errors import Reason
from energy_core.influx import InfluxClient
from energy_core.replay import ReplayReport, publish_messages, replay
from energy_core.settings import MqttSettings
from energy_testing import services as local_services
from tests.helpers import ROOT

pytestmark = pytest.mark.integration

MOSQUITTO_DIR = ROOT / "deploy" / "mosquitto"
DEPLOYMENT_SPECIFIC = ("listener", "password_file", "acl_file", "persistence_location", "log_dest")
PASSWORDS = {
    "ingest": "ingest-pw-1",
    "simulator": "sim-pw-2",
    "sparkplug-host": "host-pw-3",
    "hm-a": "device-a-pw",
    "hm-b": "device-b-pw",
    "api": "api-pw-4",
}
ACCEPTED = 0  # PUBACK "success"; Mosquitto answers 0x10 "no matching subscribers" instead when none
NOT_AUTHORIZED = 0x87
WAIT_S = 30.0  # a deadline for answers that do come, generous for a loaded machine


@dataclass
class Broker:
    port: int


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A Mosquitto running the production conf + ACL with a password file from make-passwd.sh."""
    root = tmp_path_factory.mktemp("mosquitto-prod")
    devices = root / "devices.txt"
    devices.write_text(
        "# device_id:password\nhm-a:device-a-pw\n\nhm-b:device-b-pw\nsparkplug-host:host-pw-3\n"
    )
    passwd = root / "auth" / "passwd"
    subprocess.run(
        ["sh", str(MOSQUITTO_DIR / "make-passwd.sh")],
        check=True,
        capture_output=True,
        env={
            **os.environ,
            "MQTT_INGEST_PASSWORD": PASSWORDS["ingest"],
            "MQTT_SIMULATOR_PASSWORD": PASSWORDS["simulator"],
            "MQTT_API_PASSWORD": PASSWORDS["api"],
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
        yield Broker(running.port)
    finally:
        local_services.stop_pid(proc.pid)


@dataclass
class Client:
    """A paho MQTT 5 client on its own network thread, recording what the broker answers."""

    mqtt: paho.Client
    connack: queue.Queue[ReasonCode] = field(default_factory=queue.Queue)
    subacks: queue.Queue[list[ReasonCode]] = field(default_factory=queue.Queue)
    messages: queue.Queue[paho.MQTTMessage] = field(default_factory=queue.Queue)
    puback_codes: dict[int, int] = field(default_factory=dict)

    def subscribe(self, topic_filter: str) -> int:
        """Subscribe at QoS 1 and return the SUBACK's reason code value."""
        self.mqtt.subscribe(topic_filter, qos=1)
        return self.subacks.get(timeout=WAIT_S)[0].value

    def publish(self, topic: str, payload: bytes) -> int:
        """Publish at QoS 1 and return the PUBACK's reason code value (0 = accepted)."""
        info = self.mqtt.publish(topic, payload, qos=1)
        info.wait_for_publish(timeout=WAIT_S)
        assert info.is_published(), f"no PUBACK for {topic}"
        code = self.puback_codes.get(info.mid, ACCEPTED)
        return ACCEPTED if code == 0x10 else code


def connect(port: int, username: str | None, password: str | None) -> tuple[Client, int]:
    """Connect over MQTT 5; returns the client and the CONNACK reason code value."""
    mqtt = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"{username or 'anon'}-{uuid.uuid4().hex[:8]}",
        protocol=MQTTProtocolVersion.MQTTv5,
    )
    client = Client(mqtt)
    if username is not None:
        mqtt.username_pw_set(username, password)
    mqtt.on_connect = lambda _c, _u, _f, reason, _p: client.connack.put(reason)
    mqtt.on_subscribe = lambda _c, _u, _mid, reasons, _p: client.subacks.put(list(reasons))
    mqtt.on_message = lambda _c, _u, message: client.messages.put(message)

    def on_publish(_c: object, _u: object, mid: int, reason: ReasonCode, _p: object) -> None:
        client.puback_codes[mid] = reason.value

    mqtt.on_publish = on_publish
    mqtt.connect("127.0.0.1", port)
    mqtt.loop_start()
    reason = client.connack.get(timeout=WAIT_S).value
    return client, reason


@pytest.fixture
def clients(broker: Broker) -> Iterator[list[Client]]:
    """Clients a test opens are closed after it."""
    opened: list[Client] = []
    yield opened
    for client in opened:
        client.mqtt.disconnect()
        client.mqtt.loop_stop()


def login(broker: Broker, clients: list[Client], username: str) -> Client:
    client, reason = connect(broker.port, username, PASSWORDS[username])
    clients.append(client)
    assert reason == 0, f"{username} was refused with reason {reason:#x}"
    return client


def receive_until(client: Client, topic: str) -> list[paho.MQTTMessage]:
    """Messages received up to and including the first one on ``topic``."""
    seen: list[paho.MQTTMessage] = []
    while True:
        message = client.messages.get(timeout=WAIT_S)
        seen.append(message)
        if message.topic == topic:
            return seen


def test_device_publishes_to_its_own_topic_and_ingest_receives_it(
    broker: Broker, clients: list[Client]
) -> None:
    ingest = login(broker, clients, "ingest")
    assert ingest.subscribe("energy/v1/+") == 1  # granted QoS 1
    device_a = login(broker, clients, "hm-a")

    assert device_a.publish("energy/v1/hm-a", b'{"values": {"power": 1.5}}') == 0

    (message,) = receive_until(ingest, "energy/v1/hm-a")
    assert message.payload == b'{"values": {"power": 1.5}}'


def test_device_publishing_to_another_devices_topic_is_refused_and_not_delivered(
    broker: Broker, clients: list[Client]
) -> None:
    ingest = login(broker, clients, "ingest")
    ingest.subscribe("energy/v1/+")
    device_a = login(broker, clients, "hm-a")

    assert device_a.publish("energy/v1/hm-b", b"forged") == NOT_AUTHORIZED
    # A later, allowed message from the same client marks the point by which the forged
    # one would have arrived: the broker handles one client's publishes in order.
    assert device_a.publish("energy/v1/hm-a", b"genuine") == 0

    seen = receive_until(ingest, "energy/v1/hm-a")
    assert [m.topic for m in seen] == ["energy/v1/hm-a"]


def test_device_cannot_publish_into_other_formats_under_foreign_ids(
    broker: Broker, clients: list[Client]
) -> None:
    device_a = login(broker, clients, "hm-a")
    assert device_a.publish("senml/hm-a", b"[]") == 0
    assert device_a.publish("wmbusmeters/hm-a", b"{}") == 0
    for topic in ("senml/hm-b", "wmbusmeters/hm-b", "application/1/device/0011/event/up", "energy/v1/hm-a/x"):
        assert device_a.publish(topic, b"{}") == NOT_AUTHORIZED, topic


@pytest.mark.parametrize(
    ("username", "password"),
    [(None, None), ("hm-a", "wrong-password"), ("nobody", "device-a-pw")],
    ids=["anonymous", "wrong-password", "unknown-user"],
)
def test_unauthenticated_clients_are_refused(
    broker: Broker, username: str | None, password: str | None
) -> None:
    client, reason = connect(broker.port, username, password)
    try:
        assert reason in (0x86, NOT_AUTHORIZED), f"connected with reason {reason:#x}"
    finally:
        client.mqtt.loop_stop()


@pytest.mark.parametrize(
    "topic_filter", ["energy/v1/hm-a", "energy/v1/+", "energy/v1/#", "#", "$share/spy/energy/v1/#"]
)
def test_device_cannot_subscribe_to_other_devices_data(
    broker: Broker, clients: list[Client], topic_filter: str
) -> None:
    """Mosquitto 2.0 may grant the SUBACK but checks `read` on every delivery: nothing arrives."""
    device_b = login(broker, clients, "hm-b")
    device_b.subscribe(topic_filter)
    own_commands = "spBv1.0/plant/NCMD/hm-b"
    assert device_b.subscribe(own_commands) == 1
    device_a = login(broker, clients, "hm-a")
    host = login(broker, clients, "sparkplug-host")

    assert device_a.publish("energy/v1/hm-a", b"private reading") == ACCEPTED
    # Mosquitto handles publishes on one thread and queues to subscribers before it sends
    # the PUBACK, so the command published after that PUBACK reaches hm-b after anything
    # of hm-a's would have: receiving the command first proves hm-a's reading never came.
    assert host.publish(own_commands, b"rebirth") == ACCEPTED

    seen = receive_until(device_b, own_commands)
    assert [m.topic for m in seen] == [own_commands]


def test_ingest_subscribes_to_every_format_in_a_shared_group(broker: Broker, clients: list[Client]) -> None:
    ingest = login(broker, clients, "ingest")
    filters = [
        "energy/v1/+",
        "senml/#",
        "application/+/device/+/event/up",
        "v3/+/devices/+/up",
        "spBv1.0/#",
        "wmbusmeters/#",
    ]
    for topic_filter in filters:
        assert ingest.subscribe(f"$share/ingest/{topic_filter}") == 1, topic_filter


def test_simulator_writes_only_native_topics(broker: Broker, clients: list[Client]) -> None:
    simulator = login(broker, clients, "simulator")
    assert simulator.publish("energy/v1/hm-00001", b"{}") == 0
    assert simulator.publish("senml/hm-00001", b"[]") == NOT_AUTHORIZED


@pytest.mark.parametrize("username", ["ingest", "api"])
def test_services_that_replay_write_only_the_topics_ingest_consumes(
    broker: Broker, clients: list[Client], username: str
) -> None:
    service = login(broker, clients, username)
    for topic in (
        "energy/v1/hm-a",
        "senml/hm-a/ch1",
        "wmbusmeters/hm-a",
        "application/1/device/0011/event/up",
        "v3/app@tenant/devices/dev/up",
        "spBv1.0/plant/NDATA/hm-a",
        "spBv1.0/plant/DDATA/hm-a/meter-1",
    ):
        assert service.publish(topic, b"{}") == ACCEPTED, topic
    for topic in ("spBv1.0/plant/DCMD/hm-a/meter-1", "spBv1.0/STATE/host", "elsewhere/x", "$SYS/x"):
        assert service.publish(topic, b"{}") == NOT_AUTHORIZED, topic
    expected = ACCEPTED if username == "ingest" else NOT_AUTHORIZED  # rebirth requests are ingest's
    assert service.publish("spBv1.0/plant/NCMD/hm-a", b"rebirth") == expected


def _letter_store(tmp_path: Path, topic: str, payload: bytes) -> tuple[DeadLetterStore, int]:
    store = DeadLetterStore(tmp_path / "dead_letters.sqlite")
    asyncio.run(store.add_many([DeadLetter(topic, payload, Reason.UNKNOWN_DEVICE, "late", time.time_ns())]))
    (letter,) = store.list()
    return store, letter.id


def _replay_as(broker: Broker, username: str, store: DeadLetterStore) -> ReplayReport:
    mqtt = MqttSettings(mqtt_url=f"mqtt://{username}:{PASSWORDS[username]}@127.0.0.1:{broker.port}")

    async def run() -> ReplayReport:
        async with InfluxClient("http://127.0.0.1:9", "unused") as influx:  # message letters only
            return await replay(store, mqtt, influx, client_id=f"{username}-replay-{uuid.uuid4().hex[:6]}")

    return asyncio.run(run())


@pytest.mark.parametrize("username", ["api", "ingest"])
def test_a_dead_letter_replayed_with_the_api_or_ingest_credentials_reaches_ingest_and_is_marked(
    broker: Broker, clients: list[Client], tmp_path: Path, username: str
) -> None:
    """The API replays as `api`; `python -m ingest deadletters replay` as `ingest` (its MQTT_URL)."""
    ingest = login(broker, clients, "ingest")
    assert ingest.subscribe("energy/v1/+") == 1
    payload = f'{{"values": {{"power": 2.5}}, "by": "{username}"}}'.encode()
    store, letter_id = _letter_store(tmp_path, "energy/v1/hm-a", payload)
    try:
        report = _replay_as(broker, username, store)
        assert (report.replayed, report.skipped) == ([letter_id], [])
        assert store.list(pending_only=True) == []
    finally:
        store.close()
    (message,) = receive_until(ingest, "energy/v1/hm-a")
    assert message.payload == payload


def test_a_replay_the_broker_refuses_is_reported_and_stays_pending(
    broker: Broker, clients: list[Client], tmp_path: Path
) -> None:
    """With MQTT 3.1.1 Mosquitto PUBACKs a refused publish as if it were taken; over MQTT 5 the
    0x87 shows, and the letter is not marked replayed."""
    ingest = login(broker, clients, "ingest")
    ingest.subscribe("energy/v1/+")
    store, letter_id = _letter_store(tmp_path, "energy/v1/hm-b", b'{"values": {"power": 1}}')
    try:
        report = _replay_as(broker, "hm-a", store)  # a device's credentials may not write hm-b's topic
        assert report.replayed == []
        assert report.skipped == [(letter_id, "refused_by_broker: Not authorized")]
        assert [d.id for d in store.list(pending_only=True)] == [letter_id]
    finally:
        store.close()


def test_ingests_sparkplug_rebirth_request_reaches_the_edge_node(
    broker: Broker, clients: list[Client]
) -> None:
    node = login(broker, clients, "hm-b")
    command = "spBv1.0/plant/NCMD/hm-b"
    assert node.subscribe(command) == 1
    ingest_url = f"mqtt://ingest:{PASSWORDS['ingest']}@127.0.0.1:{broker.port}"

    (result,) = publish_messages(
        MqttSettings(mqtt_url=ingest_url), [(command, b"rebirth")], "ingest-cmd-test"
    )

    assert result.delivered, result.reason()
    (message,) = receive_until(node, command)
    assert message.payload == b"rebirth"


def test_a_device_cannot_command_another_node_or_write_its_topics(
    broker: Broker, clients: list[Client]
) -> None:
    device_a = login(broker, clients, "hm-a")
    for topic in ("spBv1.0/plant/NCMD/hm-b", "spBv1.0/plant/NDATA/hm-b", "energy/v1/hm-b", "senml/hm-b/x"):
        assert device_a.publish(topic, b"{}") == NOT_AUTHORIZED, topic


def test_over_mqtt_3_1_1_a_refused_publish_is_acknowledged_all_the_same(broker: Broker) -> None:
    """Why replay speaks MQTT 5: to a 3.1.1 client the broker's refusal looks like success."""
    legacy = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"legacy-{uuid.uuid4().hex[:8]}")
    legacy.username_pw_set("hm-a", PASSWORDS["hm-a"])
    connack: queue.Queue[ReasonCode] = queue.Queue()
    legacy.on_connect = lambda _c, _u, _f, reason, _p: connack.put(reason)
    legacy.connect("127.0.0.1", broker.port)
    legacy.loop_start()
    try:
        assert connack.get(timeout=WAIT_S).value == 0
        info = legacy.publish("energy/v1/hm-b", b"forged", qos=1)
        info.wait_for_publish(timeout=WAIT_S)
        assert info.is_published()  # PUBACKed, though the ACL dropped it
    finally:
        legacy.disconnect()
        legacy.loop_stop()
