"""The hand-written MQTT consumer against the real Mosquitto: auth, MQTT 3.1.1, redelivery, watchdog.

(The fallback from MQTT 5 to 3.1.1 cannot be triggered here: Mosquitto 2 always accepts v5.
The decision is unit-tested in tests/unit/test_mqtt_codec.py; the 3.1.1 wire path itself is
tested below by starting a consumer on 3.1.1.)
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

import ingest.mqtt
from energy_core.replay import publish_messages
from energy_core.schema import Message
from energy_core.settings import MqttSettings, mqtt_endpoint
from energy_testing import services as local_services
from energy_testing.world import Isolation
from ingest import mqtt_codec as codec
from ingest.mqtt import AckToken, MqttConsumer
from simulators.publisher import Publisher
from tests.helpers import eventually

pytestmark = pytest.mark.integration

USER, PASSWORD = "ingest", "s3cret:with@signs"


class Inbox:
    """Collects what a consumer receives; acks only when told to."""

    def __init__(self) -> None:
        self.received: list[tuple[Message, AckToken | None]] = []

    def __call__(self, message: Message, token: AckToken | None) -> None:
        self.received.append((message, token))

    def payloads(self) -> list[bytes]:
        return [message.payload for message, _ in self.received]


@contextlib.asynccontextmanager
async def consuming(consumer: MqttConsumer) -> AsyncIterator[MqttConsumer]:
    task = asyncio.create_task(consumer.run(), name="consumer-under-test")
    try:
        yield consumer
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def publish_now(url: str, messages: list[tuple[str, bytes]]) -> None:
    def run() -> None:
        with Publisher(url) as publisher:
            publisher.publish_many(messages)

    await asyncio.to_thread(run)


def reconnect(consumer: MqttConsumer) -> None:
    """Drop the consumer's current connection (it reconnects by itself)."""
    connection = consumer._connection
    assert connection is not None
    connection.close()


@pytest.fixture(scope="module")
def password_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A Mosquitto that only lets in USER with PASSWORD (file made by mosquitto_passwd)."""
    root: Path = tmp_path_factory.mktemp("mosquitto-auth")
    passwd = root / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwd), USER, PASSWORD], check=True)
    running, proc = local_services.start_mosquitto(
        root / "broker", extra_conf=f"password_file {passwd}", allow_anonymous=False
    )
    try:
        yield running.port
    finally:
        local_services.stop_pid(proc.pid)


@dataclass(frozen=True)
class TlsBroker:
    plain_url: str
    tls_url: str
    ca_file: str


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 it signed (openssl CLI)."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=directory)

    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl(
        "req",
        "-x509",
        *ec,
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=test-ca",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    )
    openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.crt", "-days", "2", "-extfile", "san.ext")  # fmt: skip
    return directory / "ca.crt", directory / "server.crt", directory / "server.key"


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsBroker]:
    """A Mosquitto with its usual plain listener plus a TLS listener (certificate for 127.0.0.1)."""
    root: Path = tmp_path_factory.mktemp("mosquitto-tls")
    ca, cert, key = make_certificates(root)
    tls_port = local_services.free_port()
    extra = f"listener {tls_port} 127.0.0.1\ncafile {ca}\ncertfile {cert}\nkeyfile {key}"
    running, proc = local_services.start_mosquitto(root / "broker", extra_conf=extra)
    try:
        yield TlsBroker(running.url, f"mqtts://127.0.0.1:{tls_port}", str(ca))
    finally:
        local_services.stop_pid(proc.pid)


async def test_mqtts_url_consumes_over_tls_verified_against_the_ca_file(tls_broker: TlsBroker) -> None:
    inbox = Inbox()
    consumer = MqttConsumer(tls_broker.tls_url, "tls-ok", ["tls/#"], inbox, ca_file=tls_broker.ca_file)
    async with consuming(consumer):
        async with asyncio.timeout(30):
            await consumer.subscribed.wait()
        await publish_now(tls_broker.plain_url, [("tls/a", b"over tls")])
        assert await eventually(lambda: inbox.payloads() == [b"over tls"], deadline_s=30)


async def test_mqtts_refuses_a_certificate_from_an_unknown_ca(tls_broker: TlsBroker) -> None:
    consumer = MqttConsumer(tls_broker.tls_url, "tls-unknown-ca", ["tls/#"], Inbox(), backoff_max_s=0.2)
    async with consuming(consumer):
        assert await eventually(lambda: consumer.generation >= 3, deadline_s=30)
        assert not consumer.connected.is_set()


async def test_username_and_password_from_the_url_are_accepted(password_broker: int) -> None:
    url = f"mqtt://{USER}:{quote(PASSWORD, safe='')}@127.0.0.1:{password_broker}"
    inbox = Inbox()
    consumer = MqttConsumer(url, "auth-ok", ["auth/#"], inbox)
    async with consuming(consumer):
        async with asyncio.timeout(30):
            await consumer.subscribed.wait()
        await publish_now(url, [("auth/a", b"hello")])
        assert await eventually(lambda: inbox.payloads() == [b"hello"], deadline_s=30)


async def test_a_wrong_password_is_refused_and_does_not_downgrade_the_protocol(password_broker: int) -> None:
    consumer = MqttConsumer(
        f"mqtt://{USER}:wrong@127.0.0.1:{password_broker}", "auth-bad", ["auth/#"], Inbox()
    )
    consumer.backoff_max_s = 0.2
    async with consuming(consumer):
        assert await eventually(lambda: consumer.generation >= 3, deadline_s=30)
        assert not consumer.subscribed.is_set()
        assert consumer.protocol == codec.MQTT_5  # 0x86 is bad credentials, not "no MQTT 5"


async def test_mqtt_311_session_keeps_messages_published_while_away(isolated: Isolation) -> None:
    url = isolated.services.mqtt_url
    client_id = f"v311-{isolated.db}"
    topic = f"{isolated.prefix}/v311"
    inbox = Inbox()
    consumer = MqttConsumer(url, client_id, [topic], inbox)
    consumer.protocol = codec.MQTT_311
    async with consuming(consumer):
        async with asyncio.timeout(30):
            await consumer.subscribed.wait()
        await publish_now(url, [(topic, b"first")])
        assert await eventually(lambda: inbox.payloads() == [b"first"], deadline_s=30)
        consumer.ack_many([token for _, token in inbox.received if token is not None])

    await publish_now(url, [(topic, b"while-away-1"), (topic, b"while-away-2")])
    again = Inbox()
    returning = MqttConsumer(url, client_id, [topic], again)
    returning.protocol = codec.MQTT_311
    async with consuming(returning):
        assert await eventually(lambda: again.payloads() == [b"while-away-1", b"while-away-2"], deadline_s=30)
        assert returning.protocol == codec.MQTT_311


async def test_unacked_messages_come_back_after_a_reconnect_and_stale_acks_are_dropped(
    isolated: Isolation,
) -> None:
    url = isolated.services.mqtt_url
    topic = f"{isolated.prefix}/redeliver"
    inbox = Inbox()
    consumer = MqttConsumer(url, f"redeliver-{isolated.db}", [topic], inbox, backoff_max_s=0.2)
    sent = [(topic, f"m{i}".encode()) for i in range(50)]
    async with consuming(consumer):
        async with asyncio.timeout(30):
            await consumer.subscribed.wait()
        await publish_now(url, sent)
        assert await eventually(lambda: len(inbox.received) == 50, deadline_s=30)
        stale = [token for _, token in inbox.received if token is not None]
        assert {token.generation for token in stale} == {1}
        reconnect(consumer)  # nothing acked: the broker must send all 50 again
        assert await eventually(lambda: len(inbox.received) >= 100, deadline_s=30)
        redelivered = inbox.received[50:100]
        assert sorted(m.payload for m, _ in redelivered) == sorted(p for _, p in sent)
        assert all(token is not None and token.generation == 2 for _, token in redelivered)

        consumer.ack_many(stale)  # generation 1's tokens: must not ack generation 2's packet ids
        reconnect(consumer)
        assert await eventually(lambda: len(inbox.received) >= 150, deadline_s=30)
        third = inbox.received[100:150]
        assert sorted(m.payload for m, _ in third) == sorted(p for _, p in sent)


async def test_a_connection_silent_past_the_timeout_is_replaced(isolated: Isolation) -> None:
    consumer = MqttConsumer(
        isolated.services.mqtt_url,
        f"silent-{isolated.db}",
        [f"{isolated.prefix}/nothing"],
        Inbox(),
        silence_timeout_s=1.0,
        backoff_max_s=0.2,
    )
    async with consuming(consumer):
        assert await eventually(
            lambda: consumer.generation >= 2 and consumer.subscribed.is_set(), deadline_s=30
        )


async def test_a_qos_2_message_acked_with_pubrec_is_not_redelivered(
    isolated: Isolation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """QoS 2 never happens in production (we subscribe at QoS 1); here the subscription asks for
    it so that the PUBREC/PUBREL/PUBCOMP handling meets the real broker."""
    monkeypatch.setattr(ingest.mqtt, "SUBSCRIBE_QOS", 2)
    url = isolated.services.mqtt_url
    topic = f"{isolated.prefix}/qos2"
    inbox = Inbox()
    consumer = MqttConsumer(url, f"qos2-{isolated.db}", [topic], inbox, backoff_max_s=0.2)
    async with consuming(consumer):
        async with asyncio.timeout(30):
            await consumer.subscribed.wait()
        await asyncio.to_thread(publish_qos2, url, topic, b"exactly-once")
        assert await eventually(lambda: inbox.payloads() == [b"exactly-once"], deadline_s=30)
        [(_, token)] = inbox.received
        assert token is not None
        consumer.ack_many([token])  # PUBREC: the broker now owes us a PUBREL, not the message
        reconnect(consumer)
        assert await eventually(lambda: consumer.generation >= 2 and consumer.subscribed.is_set())
        await publish_now(url, [(topic, b"marker")])
        assert await eventually(lambda: len(inbox.received) >= 2, deadline_s=30)
        assert inbox.payloads() == [b"exactly-once", b"marker"]


def publish_qos2(url: str, topic: str, payload: bytes) -> None:
    endpoint = mqtt_endpoint(url)
    client = paho.Client(CallbackAPIVersion.VERSION2)
    client.connect(endpoint.host, endpoint.port)
    client.loop_start()
    try:
        client.publish(topic, payload, qos=2).wait_for_publish(timeout=10)
    finally:
        client.disconnect()
        client.loop_stop()


async def test_the_replay_publisher_connects_over_tls_with_the_ca_file_and_with_the_urls_credentials(
    tls_broker: TlsBroker, password_broker: int
) -> None:
    """energy_core.mqttclient.paho_client's set-up, as the dead-letter replay uses it (MQTT 5)."""
    over_tls = MqttSettings(mqtt_url=tls_broker.tls_url, mqtt_ca_file=Path(tls_broker.ca_file))
    [result] = await asyncio.to_thread(publish_messages, over_tls, [("tls/replay", b"x")], "replay-tls")
    assert result.accepted, result.reason()
    with pytest.raises(ssl.SSLCertVerificationError):  # without the private CA: the certificate is refused
        await asyncio.to_thread(
            publish_messages, MqttSettings(mqtt_url=tls_broker.tls_url), [("tls/r", b"x")]
        )
    url = f"mqtt://{USER}:{quote(PASSWORD, safe='')}@127.0.0.1:{password_broker}"
    [result] = await asyncio.to_thread(publish_messages, MqttSettings(mqtt_url=url), [("auth/replay", b"x")])
    assert result.accepted, result.reason()
