"""Replaying dead letters (used by the CLI and the API), and publishing commands.

A letter counts as replayed only once it was really delivered, and only then is it marked:

- a ``message`` letter is republished to its topic over MQTT 5 at QoS 1, and is delivered
  when the broker's PUBACK carries a success reason code. MQTT 5 matters: a broker that
  refuses a publish (ACL) still PUBACKs a 3.1.1 client, silently; to a 5.0 client it answers
  0x87 "not authorized". "No matching subscribers" (0x10) is not delivery either: nobody
  (not even ingest's persistent session) would process the message.
- a ``line`` letter is written to InfluxDB again, and is delivered on a 2xx.
- a truncated letter (payload cut on storing) cannot be replayed: it is skipped, and said so.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import paho.mqtt.client as paho
import structlog
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from energy_core.deadletters import DeadLetter, DeadLetterStore
from energy_core.errors import InfluxFailure
from energy_core.influx import InfluxClient
from energy_core.mqttclient import paho_client
from energy_core.settings import MqttSettings, mqtt_endpoint

log = structlog.get_logger("energy_core.replay")

NO_MATCHING_SUBSCRIBERS = 0x10
MAX_REPLAY = 1000  # letters per replay request
PUBACK_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class Published:
    """What the broker answered to one QoS 1 publish: its PUBACK reason code, or why there is none."""

    topic: str
    code: int | None  # None: no PUBACK (not sent, connection lost, timed out)
    problem: str = ""

    @property
    def accepted(self) -> bool:
        """The broker took it (success reason code, < 0x80)."""
        return self.code is not None and self.code < 0x80

    @property
    def delivered(self) -> bool:
        """Accepted and matched a subscription, so someone (ingest) will process it."""
        return self.accepted and self.code != NO_MATCHING_SUBSCRIBERS

    def reason(self) -> str:
        if self.code is None:
            return self.problem or "no_puback"
        if self.code == NO_MATCHING_SUBSCRIBERS:
            return "no_matching_subscribers"
        return f"refused_by_broker: {ReasonCode(PacketTypes.PUBACK, identifier=self.code).getName()}"


def publish_messages(
    settings: MqttSettings, messages: Sequence[tuple[str, bytes]], client_id: str = "ingest-publisher"
) -> list[Published]:
    """Publish (topic, payload) pairs at QoS 1 over MQTT 5, waiting for each PUBACK.

    Returns one :class:`Published` per message, in order. Raises OSError when the broker
    cannot be reached or refuses the connection. A short-lived paho client of its own: these
    are rare, small publishes (replays, Sparkplug rebirth requests), kept off the consumer's
    connection and its hot path. Why it is not the simulator's publisher: energy_core.mqttclient.
    """
    endpoint = mqtt_endpoint(settings.mqtt_url)
    client = paho_client(endpoint, client_id, mqtt5=True, ca_file=settings.mqtt_ca_file)
    connected = threading.Event()
    connack: list[ReasonCode] = []
    codes: dict[int, int] = {}

    def on_connect(
        _c: paho.Client, _u: object, _f: object, reason: ReasonCode, _p: Properties | None
    ) -> None:
        connack.append(reason)
        connected.set()

    def on_publish(_c: paho.Client, _u: object, mid: int, reason: ReasonCode, _p: Properties) -> None:
        codes[mid] = reason.value  # set before paho marks the message published

    client.on_connect = on_connect
    client.on_publish = on_publish
    client.connect(endpoint.host, endpoint.port)
    client.loop_start()
    try:
        if not connected.wait(PUBACK_TIMEOUT_S):
            raise TimeoutError(f"no CONNACK from {endpoint.host}:{endpoint.port}")
        if connack[0].is_failure:
            raise ConnectionRefusedError(f"broker refused the connection: {connack[0].getName()}")
        sent: list[tuple[str, paho.MQTTMessageInfo | None, str]] = []
        for topic, payload in messages:
            try:
                info = client.publish(topic, payload, qos=1)
            except ValueError as exc:  # empty or wildcard topic, oversized payload
                sent.append((topic, None, f"not_publishable: {exc}"))
                continue
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:  # e.g. the connection dropped meanwhile
                sent.append((topic, None, f"not_sent: {paho.error_string(info.rc)}"))
                continue
            sent.append((topic, info, ""))
        deadline = time.monotonic() + PUBACK_TIMEOUT_S
        results: list[Published] = []
        for topic, pending, problem in sent:
            if pending is not None:
                pending.wait_for_publish(timeout=max(0.0, deadline - time.monotonic()))
                if pending.is_published():
                    results.append(Published(topic, codes.get(pending.mid, 0)))
                    continue
                problem = "no_puback"
            results.append(Published(topic, None, problem))
    finally:
        client.disconnect()
        client.loop_stop()
    for result in results:
        if not result.accepted:
            log.warning("mqtt_publish_not_accepted", topic=result.topic, reason=result.reason())
    return results


@dataclass(slots=True)
class ReplayReport:
    """What a replay did: letters selected, those delivered (and marked), and why the rest were not."""

    selected: int = 0
    replayed: list[int] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)


def select_letters(
    store: DeadLetterStore,
    *,
    ids: Sequence[int] | None = None,
    reason: str | None = None,
    after_id: int = 0,
    limit: int = MAX_REPLAY,
) -> tuple[list[DeadLetter], list[tuple[int, str]]]:
    """The letters a replay asks for, and those asked for that cannot be replayed (id, why).

    With ``ids``: exactly those (each missing, already replayed or of another reason is
    reported). Without: pending letters oldest first after ``after_id``, up to ``limit``.
    """
    if ids is None:
        return store.list(reason=reason, after_id=after_id, limit=limit, pending_only=True), []
    found = {d.id: d for d in store.get_many(ids)}
    letters: list[DeadLetter] = []
    skipped: list[tuple[int, str]] = []
    for letter_id in sorted(set(ids)):
        letter = found.get(letter_id)
        if letter is None:
            skipped.append((letter_id, "not_found"))
        elif letter.replayed_ns is not None:
            skipped.append((letter_id, "already_replayed"))
        elif reason is not None and letter.reason != reason:
            skipped.append((letter_id, f"other_reason: {letter.reason}"))
        else:
            letters.append(letter)
    return letters, skipped


async def replay(
    store: DeadLetterStore,
    mqtt: MqttSettings,
    influx: InfluxClient,
    *,
    ids: Sequence[int] | None = None,
    reason: str | None = None,
    after_id: int = 0,
    limit: int = MAX_REPLAY,
    client_id: str = "ingest-replay",
) -> ReplayReport:
    """Replay the selected letters and mark replayed exactly those delivered.

    Raises OSError when the broker cannot be reached (then nothing is marked).
    """
    letters, skipped = await asyncio.to_thread(
        select_letters, store, ids=ids, reason=reason, after_id=after_id, limit=limit
    )
    report = ReplayReport(selected=len(letters) + len(skipped), skipped=skipped)
    to_publish: list[DeadLetter] = []
    to_write: list[DeadLetter] = []
    for letter in letters:
        if letter.truncated:
            report.skipped.append((letter.id, "truncated: the stored payload is incomplete"))
        elif letter.kind == "line":
            to_write.append(letter)
        elif not letter.topic:
            report.skipped.append((letter.id, "no_topic"))
        else:
            to_publish.append(letter)
    if to_publish:
        results = await asyncio.to_thread(
            publish_messages, mqtt, [(d.topic, d.payload) for d in to_publish], client_id
        )
        for letter, result in zip(to_publish, results, strict=True):
            if result.delivered:
                report.replayed.append(letter.id)
            else:
                report.skipped.append((letter.id, result.reason()))
    for letter in to_write:
        try:
            await influx.write(letter.payload)
        except InfluxFailure as exc:
            report.skipped.append((letter.id, f"influx_write_failed: {str(exc)[:300]}"))
        else:
            report.replayed.append(letter.id)
    await asyncio.to_thread(store.mark_replayed, report.replayed)
    report.replayed.sort()
    report.skipped.sort()
    log.info(
        "dead_letters_replayed",
        selected=report.selected,
        replayed=len(report.replayed),
        skipped=len(report.skipped),
    )
    return report
