"""A connection obeys the flow control it is given: nothing is handed on while paused, nothing lost.

The connection is built on its own, from a flow control and two callbacks (no consumer), over a
real socket pair; the test writes the broker's bytes into the other end.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Iterator

import pytest

from energy_core.schema import Message
from ingest import mqtt_codec as codec
from ingest.flow import BACKPRESSURE, FlowControl
from ingest.mqtt import AckToken, _Connection


async def until(check: Callable[[], bool], deadline_s: float = 30.0) -> bool:
    deadline = time.monotonic() + deadline_s
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


@pytest.fixture
def socket_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, broker = socket.socketpair()
    try:
        yield ours, broker
    finally:
        broker.close()


async def test_publishes_read_while_the_flow_is_paused_are_handed_on_in_order_once_it_resumes(
    socket_pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, broker = socket_pair
    flow = FlowControl()
    received: list[tuple[bytes, bool]] = []  # (payload, was the flow paused when it was handed on)
    subacks: list[list[int]] = []

    def on_message(message: Message, token: AckToken | None) -> None:
        received.append((message.payload, flow.paused))
        if message.payload == b"2":
            flow.pause(BACKPRESSURE)  # as a full batch does

    connection = _Connection(1, codec.MQTT_5, flow=flow, on_message=on_message, on_suback=subacks.append)
    flow.on_change(connection.flow_changed)
    transport, _ = await asyncio.get_running_loop().create_connection(lambda: connection, sock=ours)
    try:
        suback = bytes((codec.SUBACK << 4, 4, 0, 1, 0, 1))  # packet id 1, no properties, granted QoS 1
        publishes = [codec.encode_publish("t", f"{i}".encode(), qos=1, packet_id=i) for i in range(1, 6)]
        broker.sendall(suback + b"".join(publishes))
        assert await until(lambda: len(received) >= 2)
        assert subacks == [[1]]
        assert flow.paused

        flow.resume(BACKPRESSURE)  # the committer took the batch
        assert await until(lambda: len(received) == 5)
        assert received == [(f"{i}".encode(), False) for i in range(1, 6)]
        assert connection.unread == []
    finally:
        transport.close()
