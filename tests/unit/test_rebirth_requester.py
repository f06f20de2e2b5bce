"""Sparkplug rebirth requests (NCMD) are published from the adapter, at most once per node per interval."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from pysparkplug import NCmd
from structlog.testing import capture_logs

from energy_core.errors import PayloadError, Reason
from energy_core.schema import Message
from ingest.adapters.sparkplug import SparkplugAdapter
from ingest.rebirth import Command, RebirthRequester
from tests.sample_data import sparkplug_messages

NOW_NS = 1_795_622_460 * 1_000_000_000
NODE_COMMAND = "spBv1.0/borlange-dh/NCMD/gw-17"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Outbox:
    """Collects what would be published; fails while ``down``."""

    def __init__(self) -> None:
        self.sent: list[list[Command]] = []
        self.down = False

    async def __call__(self, commands: Sequence[Command]) -> None:
        if self.down:
            raise OSError("broker unreachable")
        self.sent.append(list(commands))


def data_before_birth(adapter: SparkplugAdapter) -> None:
    _, (topic, payload) = sparkplug_messages()
    with pytest.raises(PayloadError) as raised:
        adapter.parse(Message(topic, payload, NOW_NS))
    assert raised.value.reason is Reason.SPARKPLUG_NO_BIRTH


async def test_a_node_whose_data_came_before_its_birth_is_asked_to_rebirth_once_per_interval() -> None:
    adapter, outbox, clock = SparkplugAdapter(), Outbox(), Clock()
    requester = RebirthRequester(adapter, outbox, per_node_s=30.0, clock=clock)
    assert await requester.request_once() == []  # nothing asked for: nothing published

    data_before_birth(adapter)
    [(topic, payload)] = await requester.request_once()
    assert topic == NODE_COMMAND
    assert {m.name: m.value for m in NCmd.decode(payload).metrics} == {"Node Control/Rebirth": True}
    assert outbox.sent == [[(topic, payload)]]

    clock.now += 29.0
    data_before_birth(adapter)
    assert await requester.request_once() == []  # asked 29 s ago: not again yet
    clock.now += 1.0
    data_before_birth(adapter)
    assert [t for t, _ in await requester.request_once()] == [NODE_COMMAND]
    assert len(outbox.sent) == 2


async def test_a_rebirth_that_could_not_be_published_is_tried_again_when_asked_again() -> None:
    adapter, outbox, clock = SparkplugAdapter(), Outbox(), Clock()
    requester = RebirthRequester(adapter, outbox, clock=clock)
    outbox.down = True
    data_before_birth(adapter)
    with capture_logs() as logs:
        assert await requester.request_once() == []
    assert [e["event"] for e in logs] == ["sparkplug_rebirth_request_failed"]
    outbox.down = False
    data_before_birth(adapter)  # the next DATA without a birth asks again, at once
    assert [t for t, _ in await requester.request_once()] == [NODE_COMMAND]
    assert outbox.sent == [[(NODE_COMMAND, outbox.sent[0][0][1])]]
