"""The commit sequencer: commits overlap, acks go out strictly in arrival order (MQTT §4.6)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from ingest.commits import CommitSequencer, Turn


class Commits:
    """Commits whose durable step each waits for its own gate; records the order of acks."""

    def __init__(self) -> None:
        self.gates: dict[int, asyncio.Event] = {}
        self.durable_done: list[int] = []
        self.acked: list[int] = []

    def durable(self, n: int, fails: bool = False) -> Callable[[Turn], Awaitable[int]]:
        gate = self.gates[n] = asyncio.Event()

        async def make_durable(turn: Turn) -> int:
            await gate.wait()
            if fails:
                raise OSError(f"commit {n} failed")
            self.durable_done.append(n)
            return n

        return make_durable

    def ack(self, n: int) -> None:
        self.acked.append(n)


async def settle() -> None:
    """Let every runnable task run until none can (no timing: the gates decide)."""
    for _ in range(20):
        await asyncio.sleep(0)


async def test_a_later_commit_made_durable_first_acks_only_after_the_earlier_one() -> None:
    commits = Commits()
    async with asyncio.TaskGroup() as tasks:
        sequencer = CommitSequencer(tasks, limit=3)
        for n in (1, 2, 3):
            await sequencer.wait_for_slot()
            sequencer.start(commits.durable(n), commits.ack)
        commits.gates[3].set()
        await settle()
        commits.gates[2].set()
        await settle()
        assert commits.durable_done == [3, 2]  # durable out of order, at once ...
        assert commits.acked == []  # ... but nothing acks before commit 1 has
        commits.gates[1].set()
    assert commits.acked == [1, 2, 3]


async def test_no_more_than_the_limit_are_in_flight_and_a_slot_frees_when_one_finishes() -> None:
    commits = Commits()
    async with asyncio.TaskGroup() as tasks:
        sequencer = CommitSequencer(tasks, limit=2)
        for n in (1, 2):
            await sequencer.wait_for_slot()
            sequencer.start(commits.durable(n), commits.ack)
        assert sequencer.in_flight == 2
        with pytest.raises(RuntimeError, match="no free commit slot"):
            sequencer.start(commits.durable(99), commits.ack)
        waiting = tasks.create_task(sequencer.wait_for_slot())
        await settle()
        assert not waiting.done()
        commits.gates[1].set()
        await waiting
        assert commits.acked == [1]
        sequencer.start(commits.durable(3), commits.ack)
        commits.gates[2].set()
        commits.gates[3].set()
    assert commits.acked == [1, 2, 3]


async def test_when_a_commit_fails_no_later_commit_acks() -> None:
    commits = Commits()

    async def commit_two() -> None:
        async with asyncio.TaskGroup() as tasks:
            sequencer = CommitSequencer(tasks, limit=2)
            sequencer.start(commits.durable(1, fails=True), commits.ack)
            sequencer.start(commits.durable(2), commits.ack)
            commits.gates[2].set()
            await settle()
            commits.gates[1].set()

    with pytest.raises(ExceptionGroup) as raised:
        await commit_two()
    assert {str(e) for e in raised.value.exceptions} == {"commit 1 failed"}
    assert commits.durable_done == [2]
    assert commits.acked == []


async def test_a_turn_waits_for_the_commit_before_it_to_finish() -> None:
    order: list[str] = []
    first_gate = asyncio.Event()

    async def first(turn: Turn) -> None:
        await first_gate.wait()
        order.append("first durable")

    async def second(turn: Turn) -> None:
        order.append("second durable, before spooling")
        await turn.earlier_done()
        order.append("second spools")

    async with asyncio.TaskGroup() as tasks:
        sequencer = CommitSequencer(tasks, limit=2)
        sequencer.start(first, lambda _: order.append("first acked"))
        sequencer.start(second, lambda _: order.append("second acked"))
        await settle()
        assert order == ["second durable, before spooling"]
        first_gate.set()
    assert order == [
        "second durable, before spooling",
        "first durable",
        "first acked",
        "second spools",
        "second acked",
    ]
