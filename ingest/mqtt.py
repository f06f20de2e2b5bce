"""MQTT consumer: a hand-written asyncio Protocol with manual, batched acknowledgements.

Why not a library: acknowledging a QoS 1 message only after its points are durable needs
manual acks, which aiomqtt 2 lacks; paho-mqtt 2 has them but pays a ``recv`` per header
field, property objects and one ``send`` per PUBACK, and drained a persistent session at
15,000–18,000 msg/s on the 2-core CI machine, where this client drains 190,000–320,000 msg/s.
This is the allowed hot-path exception: packets are split from each socket read in bulk
(ingest/mqtt_codec.py) and a batch's PUBACKs go out in one write; bench/bench_ingest.py
measures both clients side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import structlog

from energy_core.schema import Message
from energy_core.settings import mqtt_endpoint
from ingest import mqtt_codec as codec
from ingest.flow import CALLER, FlowControl

log = structlog.get_logger("ingest.mqtt")

SESSION_EXPIRY_S = 7 * 24 * 3600  # a week: the broker keeps our queue through any outage we plan for
RECEIVE_MAXIMUM = 65_535  # unacked QoS 1 messages the broker may send us; batches are acked as a whole
MAX_PACKET_BYTES = codec.DEFAULT_MAX_PACKET_BYTES  # far above any payload the pipeline accepts
CONNECT_TIMEOUT_S = 30.0
SUBSCRIBE_QOS = 1  # at-least-once + idempotent writes; QoS 2 would add a round trip per message
_SUBSCRIBE_ID = 1  # one SUBSCRIBE per connection; the broker's PUBLISH ids are a separate space
SESSION_TAKEN_OVER = 0x8E  # MQTT 5 DISCONNECT: another client connected with our client id
TAKEOVER_BACKOFF_S = 60.0  # wait this long after a takeover instead of taking the session back at once
SHORT_SESSION_S = 30.0  # a broker close this soon after CONNACK, without a reason, may be a takeover
SHORT_SESSIONS_TAKEOVER = 2  # such closes in a row taken as a takeover (keep SHORT_SESSION_S < backoff)
_CLIENT_ID_FIX = (
    "give every ingest process its own INGEST_CLIENT_ID (the default, ingest-<hostname>, is the same "
    "for two processes on one host or for copied containers); replicas that share the work also set "
    "INGEST_SHARED_GROUP"
)


@dataclass(frozen=True, slots=True)
class AckToken:
    """Identifies a received QoS 1 message on the connection that received it."""

    generation: int
    mid: int


OnMessage = Callable[[Message, AckToken | None], None]


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection's protocol state; lives for a single generation.

    It knows nothing of the consumer: it is given the flow control it obeys, where messages go
    and whom to tell of the SUBACK; the consumer reads its state (``last_message``, ``closed``).
    """

    def __init__(
        self,
        generation: int,
        protocol: int,
        *,
        flow: FlowControl,
        on_message: OnMessage,
        on_suback: Callable[[list[int]], None],
    ) -> None:
        self.generation = generation
        self.protocol = protocol
        self.flow = flow
        self.on_message = on_message
        self.on_suback = on_suback
        self.reader = codec.PacketReader(MAX_PACKET_BYTES)
        self.transport: asyncio.Transport | None = None
        self.connack: asyncio.Future[tuple[bool, int, codec.Properties]] = (
            asyncio.get_running_loop().create_future()
        )
        self.closed = asyncio.Event()
        self.qos2_pending: set[int] = set()  # QoS 2 ids we owe a PUBREC (should never happen: we ask QoS 1)
        self.last_sent = self.last_received = time.monotonic()
        self.ping_sent_at: float | None = None
        self.last_message = self.last_sent  # when a PUBLISH last arrived (or reading resumed)
        # Packets read in the same socket read as the PUBLISH that paused the flow, and after:
        # dispatched, in order, when reading resumes.
        self.unread: list[tuple[int, bytes]] = []
        self.disconnect_reason: int | None = None  # the broker's DISCONNECT reason code, if it sent one
        self.closed_by_us = False

    # -- asyncio.Protocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.connack.done():
            self.connack.set_exception(ConnectionError("closed before CONNACK"))
            self.connack.exception()  # retrieved here: the caller may already have given up
        self.closed.set()

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        self.last_received = now
        self.ping_sent_at = None
        try:
            packets = self.reader.feed(data)
        except codec.PacketTooLarge as exc:
            log.error("mqtt_packet_too_large", size=exc.size, limit=exc.limit)
            self.close(reason=0x95)
            return
        except codec.MalformedPacket as exc:
            log.error("mqtt_malformed_packet", error=str(exc))
            self.close(reason=0x81)
            return
        if self.unread:
            self.unread.extend(packets)
            packets, self.unread = self.unread, []
        self.dispatch(packets, now)

    def dispatch(self, packets: list[tuple[int, bytes]], now: float) -> None:
        """Hand each packet on; while the flow is paused, keep PUBLISHes (and what follows) unread."""
        flow = self.flow
        on_message = self.on_message
        protocol, generation = self.protocol, self.generation
        received_ns = time.time_ns()  # one clock read per socket read, not per message
        published = False
        try:
            for index, (first_byte, body) in enumerate(packets):
                if first_byte >> 4 == codec.PUBLISH:
                    if flow.paused:
                        # Backpressure must bind now, not after the rest of a 256 KiB read.
                        self.unread = packets[index:]
                        break
                    topic, payload, qos, packet_id = codec.decode_publish(first_byte, body, protocol)
                    published = True
                    if qos == 2:
                        self.qos2_pending.add(packet_id)
                    token = AckToken(generation, packet_id) if qos else None
                    on_message(Message(topic, payload, received_ns), token)
                else:
                    self._control_packet(first_byte, body)
                if self.transport is None or self.transport.is_closing():
                    break
        except codec.MalformedPacket as exc:
            log.error("mqtt_malformed_packet", error=str(exc))
            self.close(reason=0x81)
        if published:
            self.last_message = now

    def flow_changed(self) -> None:
        """Pause or resume reading as the flow says; on resume, dispatch what was left unread."""
        transport = self.transport
        if transport is None:
            return
        if self.flow.paused:
            transport.pause_reading()
            return
        now = time.monotonic()
        self.last_message = now  # a pause is not silence
        self.ping_sent_at = None  # answered, unread, while paused; time the next one afresh
        if self.unread:
            unread, self.unread = self.unread, []
            self.dispatch(unread, now)  # may pause the flow again (a full batch)
        if not self.flow.paused and not transport.is_closing():
            transport.resume_reading()

    # -- packets other than PUBLISH ----------------------------------------------------

    def _control_packet(self, first_byte: int, body: bytes) -> None:
        kind = first_byte >> 4
        if kind == codec.PINGRESP:
            return
        if kind == codec.CONNACK:
            if not self.connack.done():
                self.connack.set_result(codec.decode_connack(body, self.protocol))
        elif kind == codec.SUBACK:
            _packet_id, reasons = codec.decode_suback(body, self.protocol)
            self.on_suback(reasons)
        elif kind == codec.PUBREL:  # QoS 2 step 3: the broker released the id; complete it at once
            self.write(codec.encode_acks(codec.PUBCOMP, [codec.decode_packet_id(body)]))
        elif kind == codec.DISCONNECT:
            self.disconnect_reason = codec.decode_disconnect_reason(body)
            log.warning("mqtt_broker_disconnect", reason=hex(self.disconnect_reason))
            self.transport_close()
        else:
            log.warning("mqtt_unexpected_packet", packet_type=kind)

    # -- writing -----------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)
            self.last_sent = time.monotonic()

    def ack(self, packet_ids: list[int]) -> None:
        """PUBACK (QoS 1) or PUBREC (QoS 2) every id, in one write."""
        if self.qos2_pending:
            rec = [i for i in packet_ids if i in self.qos2_pending]
            self.qos2_pending.difference_update(rec)
            packet_ids = [i for i in packet_ids if i not in rec]
            if rec:
                self.write(codec.encode_acks(codec.PUBREC, rec))
        if packet_ids:
            self.write(codec.encode_acks(codec.PUBACK, packet_ids))

    def close(self, *, send_disconnect: bool = True, reason: int = 0) -> None:
        """Send DISCONNECT (v5 with ``reason`` when not 0) and close; the session stays on the broker."""
        self.closed_by_us = True
        if send_disconnect:
            if reason and self.protocol == codec.MQTT_5:
                self.write(bytes((codec.DISCONNECT << 4, 1, reason)))
            else:
                self.write(codec.DISCONNECT_PACKET)
        self.transport_close()

    def transport_close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class MqttConsumer:
    """Subscribes to topic filters and hands each message to ``on_message`` with an AckToken.

    The caller acknowledges with :meth:`ack_many` once the message's data is
    durable. Tokens from an earlier connection are ignored: the broker redelivers those
    messages itself (with DUP set).
    """

    def __init__(
        self,
        url: str,
        client_id: str,
        topic_filters: list[str],
        on_message: OnMessage,
        *,
        shared_group: str | None = None,
        keepalive_s: int = 30,
        silence_timeout_s: float = 300.0,
        backoff_max_s: float = 30.0,
        ca_file: str | None = None,
        on_connected: Callable[[bool], None] | None = None,
        takeover_backoff_s: float = TAKEOVER_BACKOFF_S,
        flow: FlowControl | None = None,
    ) -> None:
        endpoint = mqtt_endpoint(url)
        self.host, self.port, self.tls = endpoint.host, endpoint.port, endpoint.tls
        self.username, self.password = endpoint.username, endpoint.password
        self.client_id = client_id
        self.topic_filters = [f"$share/{shared_group}/{f}" if shared_group else f for f in topic_filters]
        self.on_message = on_message
        self.keepalive_s = keepalive_s
        self.silence_timeout_s = silence_timeout_s
        self.backoff_max_s = backoff_max_s
        self.ca_file = ca_file
        self.on_connected = on_connected  # told True on CONNACK, False when the connection is gone
        self.protocol = codec.MQTT_5
        self.generation = 0
        self.connected = asyncio.Event()
        self.subscribed = asyncio.Event()
        # Whether reading is paused, and why: the service's (it pauses on a full batch and at
        # shutdown), or the consumer's own when none is given (pause() and resume()).
        self.flow = flow if flow is not None else FlowControl()
        self.flow.on_change(self._flow_changed)
        self._connection: _Connection | None = None
        self._accepted_v5 = False
        self.takeover_backoff_s = takeover_backoff_s
        self.takeovers = 0  # sessions the broker ended because another client took our client id
        self._taken_over = False  # the last session ended so (see _session_ended)
        self._short_sessions = 0  # consecutive sessions the broker closed right after CONNACK

    # -- public -------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, consume and reconnect with capped, jittered backoff until cancelled."""
        attempt = 0
        try:
            while True:
                self._taken_over = False
                try:
                    # A session the broker closed right after CONNACK does not reset the backoff:
                    # two clients with one id (3.1.1) then drift apart instead of fighting at once.
                    if await self._connect_once() and not self._short_sessions:
                        attempt = 0
                except OSError as exc:  # ssl.SSLError and ConnectionError are OSErrors
                    log.warning("mqtt_connect_failed", host=self.host, port=self.port, error=str(exc))
                    self._short_sessions = 0  # the broker is away (a restart), not held by another client
                self._teardown()
                attempt += 1
                if self._taken_over:  # the other client keeps the session for a while: no fighting
                    delay, why = self.takeover_backoff_s, "session_taken_over"
                else:
                    delay, why = random.uniform(0, min(self.backoff_max_s, 0.5 * 2**attempt)), "reconnect"
                log.info("mqtt_reconnect_wait", delay_s=round(delay, 2), attempt=attempt, reason=why)
                await asyncio.sleep(delay)
        finally:
            self._teardown(graceful=True)

    def pause(self) -> None:
        """Stop reading from the broker (``flow`` reason ``caller``): acks can still be sent."""
        self.flow.pause(CALLER)

    def resume(self) -> None:
        """Read from the broker again after :meth:`pause`, unless another reason still holds the flow."""
        self.flow.resume(CALLER)

    def _flow_changed(self) -> None:
        if (connection := self._connection) is not None:
            connection.flow_changed()

    def ack_many(self, tokens: Iterable[AckToken]) -> None:
        """Send the PUBACKs for many messages in one write; tokens of older connections are dropped."""
        connection = self._connection
        if connection is None:
            return
        generation = self.generation
        packet_ids = [token.mid for token in tokens if token.generation == generation]
        if packet_ids:
            connection.ack(packet_ids)

    # -- connection ---------------------------------------------------------------------

    async def _connect_once(self) -> bool:
        """One connection's life; returns whether the broker accepted it."""
        self.generation += 1
        loop = asyncio.get_running_loop()
        protocol = self.protocol
        log.info(
            "mqtt_connecting",
            host=self.host,
            port=self.port,
            tls=self.tls,
            protocol=_name(protocol),
            client_id=self.client_id,
        )
        connack: tuple[bool, int, codec.Properties] | None = None
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            _transport, connection = await loop.create_connection(
                lambda: self._make_connection(self.generation, protocol),
                self.host,
                self.port,
                ssl=ssl.create_default_context(cafile=self.ca_file) if self.tls else None,
            )
            self._connection = connection
            connection.write(self._connect_packet(protocol))
            with contextlib.suppress(ConnectionError):  # closed before CONNACK: decided below
                connack = await connection.connack
        if connack is None or connack[1] != 0:
            connack_code = None if connack is None else connack[1]
            if codec.v5_refused(protocol, connack_code, self._accepted_v5):
                log.warning("mqtt_v5_refused_falling_back_to_311", code=connack_code)
                self.protocol = codec.MQTT_311
            if connack_code is None:
                log.error("mqtt_connection_closed_before_connack")
            else:
                log.error("mqtt_connect_refused", reason=hex(connack_code))
            return False
        session_present, _code, props = connack
        if protocol == codec.MQTT_5:
            self._accepted_v5 = True
        keepalive_s = props.get(codec.PROP_SERVER_KEEP_ALIVE, self.keepalive_s)
        assert isinstance(keepalive_s, int)
        log.info("mqtt_connected", session_present=session_present, protocol=_name(protocol))
        connected_at = time.monotonic()
        self.connected.set()
        if self.on_connected is not None:
            self.on_connected(True)
        connection.last_message = time.monotonic()
        if self.flow.paused:
            connection.flow_changed()
        connection.write(
            codec.encode_subscribe(_SUBSCRIBE_ID, self.topic_filters, protocol=protocol, qos=SUBSCRIBE_QOS)
        )
        async with asyncio.TaskGroup() as tasks:
            watchdog = tasks.create_task(self._watchdog(connection, keepalive_s), name="mqtt-watchdog")
            await connection.closed.wait()
            watchdog.cancel()
        log.warning("mqtt_disconnected", generation=connection.generation)
        self._session_ended(connection, time.monotonic() - connected_at)
        return True

    def _session_ended(self, connection: _Connection, lived_s: float) -> None:
        """Recognise a session taken over by another client with our client id.

        Certain when the broker says so (MQTT 5 DISCONNECT reason 0x8E). Without a reason (MQTT
        3.1.1, or a broker that sends none: Mosquitto 2.0.11 just closes the socket) the sign is
        the broker closing the connection soon after accepting it, twice in a row: each of the
        two clients takes the session from the other as soon as it reconnects.
        """
        if connection.disconnect_reason == SESSION_TAKEN_OVER:
            self._session_taken_over(
                "the broker ended our session with MQTT 5 reason 0x8E (session taken over)"
            )
            return
        by_broker = not connection.closed_by_us and connection.disconnect_reason is None
        if not (by_broker and lived_s < SHORT_SESSION_S):
            self._short_sessions = 0
            return
        self._short_sessions += 1
        if self._short_sessions >= SHORT_SESSIONS_TAKEOVER:
            self._session_taken_over(
                f"the broker closed our connection {self._short_sessions} times in a row within "
                f"{SHORT_SESSION_S:g} s of accepting it, without a reason"
            )

    def _session_taken_over(self, evidence: str) -> None:
        """Back off (``takeover_backoff_s``) instead of taking the session back; say so once, loudly."""
        self._taken_over = True
        self.takeovers += 1
        if self.takeovers == 1:
            log.error(
                "mqtt_session_taken_over",
                client_id=self.client_id,
                evidence=evidence,
                problem="another client is connected with this client id: the broker keeps one "
                "session per id, so each reconnect would end the other's in turn",
                fix=_CLIENT_ID_FIX,
                backoff_s=self.takeover_backoff_s,
            )

    def _make_connection(self, generation: int, protocol: int) -> _Connection:
        return _Connection(
            generation, protocol, flow=self.flow, on_message=self.on_message, on_suback=self._on_suback
        )

    def _connect_packet(self, protocol: int) -> bytes:
        return codec.encode_connect(
            self.client_id,
            self.keepalive_s,
            protocol=protocol,
            username=self.username,
            password=self.password,
            session_expiry_s=SESSION_EXPIRY_S,
            receive_maximum=RECEIVE_MAXIMUM,
            max_packet_bytes=MAX_PACKET_BYTES,
        )

    def _on_suback(self, reasons: list[int]) -> None:
        failed = [hex(code) for code in reasons if code >= 0x80]
        if failed:
            log.error("mqtt_subscribe_refused", reasons=failed, filters=self.topic_filters)
            return
        log.info("mqtt_subscribed", filters=self.topic_filters)
        self.subscribed.set()

    async def _watchdog(self, connection: _Connection, keepalive_s: int) -> None:
        """Keepalive pings, a dead-peer check, and the watchdog for a connection gone silent."""
        tick = min(1.0, keepalive_s / 4) if keepalive_s else 1.0
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            if keepalive_s:
                # A paused reader cannot see the PINGRESP, so it never times a ping out, but it
                # keeps pinging: the broker drops a client silent for 1.5 keepalives, and a
                # commit (or a full spool) may hold reading for much longer than that.
                unanswered = (
                    connection.ping_sent_at is not None and now - connection.ping_sent_at > keepalive_s
                )
                if unanswered and not self.flow.paused:
                    log.warning("mqtt_ping_timeout", keepalive_s=keepalive_s)
                    connection.close(send_disconnect=False)
                elif now - connection.last_sent >= keepalive_s / 2:
                    connection.write(codec.PINGREQ_PACKET)
                    if connection.ping_sent_at is None:
                        connection.ping_sent_at = now
            silent = now - connection.last_message
            if self.connected.is_set() and not self.flow.paused and silent > self.silence_timeout_s:
                log.warning("mqtt_silent_reconnect", silent_s=round(silent, 1))
                connection.last_message = now  # said once: the close ends this watchdog soon
                connection.close()

    def _teardown(self, graceful: bool = False) -> None:
        connection, self._connection = self._connection, None
        if self.connected.is_set() and self.on_connected is not None:
            self.on_connected(False)
        self.connected.clear()
        self.subscribed.clear()
        if connection is not None:
            connection.close(send_disconnect=graceful)


def _name(protocol: int) -> str:
    return "MQTTv5" if protocol == codec.MQTT_5 else "MQTTv311"
