"""Committing batches: make each durable, then acknowledge it, acks strictly in arrival order.

The rule, and why it is one: MQTT requires a client to "send PUBACK packets in the order in
which the corresponding PUBLISH packets were received" (MQTT 3.1.1 §4.6, MQTT 5.0 §4.6,
[MQTT-4.6.0-2]). It also makes an ack mean more than its own message: when a batch is acked,
every batch before it is durable too. :class:`CommitSequencer` owns the rule: up to
``COMMITS_IN_FLIGHT`` commits make their batches durable at once (InfluxDB writes one batch
while the next one's history and dead letters are saved), and each commit's ack waits until
every earlier commit has acked. A commit that fails never acks, nor does any after it.

:class:`Committer` is the loop around it: it takes the batch in hand when it is full or old
and commits it as points (InfluxDB or spool: ingest/sink.py), then the energy register history,
then the dead letters, and only then the acks.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import structlog

from energy_core.deadletters import DeadLetter, DeadLetterStore
from energy_core.schema import Message
from energy_core.timeutil import NS
from ingest.batch import Batch, Batcher
from ingest.metrics import IngestMetrics
from ingest.mqtt import AckToken
from ingest.problems import Problems

log = structlog.get_logger("ingest.commits")

COMMITS_IN_FLIGHT = 2
ENERGY_STORE = "energy"  # the register history's store name (ingest.derive: energy.sqlite)

_T = TypeVar("_T")


class LineSink(Protocol):
    """Where a batch's points go (:class:`ingest.sink.Sink`): durable on return, or it raises."""

    async def store(
        self,
        lines: list[str],
        origins: list[Message] | None,
        *,
        before_spooling: Callable[[], Awaitable[object]] | None = None,
    ) -> list[DeadLetter]: ...


@dataclass(frozen=True, slots=True)
class Turn:
    """A commit's place in the sequence, for work that must also keep arrival order (spooling)."""

    _earlier: asyncio.Task[None] | None

    async def earlier_done(self) -> None:
        """Until the commit before this one has finished (acked, or failed)."""
        if self._earlier is not None:
            await asyncio.wait([self._earlier])


class CommitSequencer:
    """Runs commits in ``tasks``, up to ``limit`` at once, and acks them in the order they started."""

    def __init__(self, tasks: asyncio.TaskGroup, limit: int = COMMITS_IN_FLIGHT) -> None:
        self._tasks = tasks
        self.limit = limit
        self._in_flight: deque[asyncio.Task[None]] = deque()

    @property
    def in_flight(self) -> int:
        while self._in_flight and self._in_flight[0].done():
            self._in_flight.popleft()
        return len(self._in_flight)

    async def wait_for_slot(self) -> None:
        """Until fewer than ``limit`` commits are in flight (raises what a finished one raised)."""
        while self.in_flight >= self.limit:
            await self._in_flight.popleft()

    def start(self, durable: Callable[[Turn], Awaitable[_T]], ack: Callable[[_T], None]) -> None:
        """Start a commit: ``durable(turn)`` at once; ``ack(what durable returned)`` once every
        commit started before this one has acked. Call after :meth:`wait_for_slot`."""
        if self.in_flight >= self.limit:
            raise RuntimeError("no free commit slot: await wait_for_slot() first")
        earlier = self._in_flight[-1] if self._in_flight else None
        self._in_flight.append(self._tasks.create_task(self._commit(durable, ack, earlier), name="commit"))

    @staticmethod
    async def _commit(
        durable: Callable[[Turn], Awaitable[_T]],
        ack: Callable[[_T], None],
        earlier: asyncio.Task[None] | None,
    ) -> None:
        done = await durable(Turn(earlier))
        if earlier is not None:
            await earlier  # raises if it failed: then this one must not ack either
        ack(done)


@dataclass(frozen=True, slots=True)
class _Durable:
    """When a batch's parts became durable (perf_counter seconds), for its log line."""

    started: float
    stored: float
    history: float


class Committer:
    """Takes batches from the batcher as they fill (or age) and commits them through a sequencer."""

    def __init__(
        self,
        batcher: Batcher,
        sink: LineSink,
        dead_letters: DeadLetterStore,
        history: Callable[[], Awaitable[None]],
        ack: Callable[[list[AckToken]], None],
        metrics: IngestMetrics,
        problems: Problems,
        *,
        max_age_s: float,
        in_flight: int = COMMITS_IN_FLIGHT,
    ) -> None:
        self.batcher = batcher
        self.sink = sink
        self.dead_letters = dead_letters
        self.history = history  # saves the energy register history (ingest.derive.Deriver.commit)
        self.ack = ack
        self.metrics = metrics
        self.problems = problems
        self.max_age_s = max_age_s
        self.in_flight = in_flight

    async def run(self, stopping: asyncio.Event) -> None:
        """Commit until ``stopping`` is set, then commit what is in hand and wait for every commit."""
        async with asyncio.TaskGroup() as tasks:
            commits = CommitSequencer(tasks, self.in_flight)
            while not stopping.is_set():
                await self.batcher.full_or_older_than(self.max_age_s)
                if not self.batcher.batch.messages:
                    continue
                await commits.wait_for_slot()
                self._start(commits, self.batcher.take())
            # Shutdown: what arrived before reading paused, after the commits in flight.
            await commits.wait_for_slot()
            self._start(commits, self.batcher.take())

    def _start(self, commits: CommitSequencer, batch: Batch) -> None:
        if not batch.messages:
            return

        async def durable(turn: Turn) -> _Durable:
            return await self._make_durable(batch, turn)

        commits.start(durable, lambda done: self._acknowledge(batch, done))

    async def _make_durable(self, batch: Batch, turn: Turn) -> _Durable:
        """Points (InfluxDB, else spool), then the register history, then the dead letters."""
        started = time.perf_counter()
        if batch.lines:
            refused = await self.sink.store(batch.lines, batch.origins, before_spooling=turn.earlier_done)
            batch.dead.extend(refused)
        stored = time.perf_counter()
        # History durable after the points, before the acks.
        await self.problems.until_stored(ENERGY_STORE, self.history)
        history = time.perf_counter()
        if batch.dead:
            dead = batch.dead
            await self.problems.until_stored(self.dead_letters.name, lambda: self.dead_letters.add_many(dead))
            for letter in dead:
                self.metrics.dead_letters.labels(letter.reason.value).inc()
        return _Durable(started, stored, history)

    def _acknowledge(self, batch: Batch, done: _Durable) -> None:
        self.ack(batch.tokens)  # one write for the whole batch's PUBACKs
        self.metrics.acked.inc(len(batch.tokens))
        self.metrics.batch_messages.observe(batch.messages)
        elapsed = time.perf_counter() - done.started
        self.metrics.batch_seconds.observe(elapsed)
        self.metrics.lag_seconds.set((time.time_ns() - batch.first_received_ns) / NS)
        log.debug(
            "batch_committed",
            messages=batch.messages,
            points=len(batch.lines),
            dead_letters=len(batch.dead),
            seconds=round(elapsed, 4),
            store_s=round(done.stored - done.started, 4),
            history_s=round(done.history - done.stored, 4),
        )
