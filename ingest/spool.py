"""The disk spool: line-protocol batches kept while InfluxDB is down, drained in order.

Bounded by bytes (``INGEST_SPOOL_MAX_BYTES``). When it is full the service stops
acknowledging, so the broker keeps the messages: backpressure, never loss.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ingest.store import SqliteStore


class SpoolFull(Exception):
    """Raised when appending a batch would exceed the spool's byte bound."""


class Spool(SqliteStore):
    schema = """
        CREATE TABLE IF NOT EXISTS batches (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            body BLOB NOT NULL,
            points INTEGER NOT NULL
        );
    """

    def __init__(self, path: Path, max_bytes: int) -> None:
        super().__init__(path)
        self.max_bytes = max_bytes
        self.bytes: int
        self.batches: int
        self.bytes, self.batches = self.run_sync(
            lambda db: db.execute("SELECT COALESCE(SUM(LENGTH(body)), 0), COUNT(*) FROM batches").fetchone()
        )

    @property
    def empty(self) -> bool:
        return bool(self.batches == 0)

    async def append(self, body: bytes, points: int) -> None:
        if self.bytes + len(body) > self.max_bytes:
            raise SpoolFull(f"spool holds {self.bytes} bytes; bound is {self.max_bytes}")

        def insert(db: sqlite3.Connection) -> None:
            db.execute("INSERT INTO batches (body, points) VALUES (?, ?)", (body, points))

        await self.run(insert)
        self.bytes += len(body)
        self.batches += 1

    async def oldest(self) -> tuple[int, bytes, int] | None:
        def select(db: sqlite3.Connection) -> tuple[int, bytes, int] | None:
            row = db.execute("SELECT id, body, points FROM batches ORDER BY id LIMIT 1").fetchone()
            return None if row is None else (row[0], row[1], row[2])

        return await self.run(select)

    async def remove(self, batch_id: int, size: int) -> None:
        await self.run(lambda db: db.execute("DELETE FROM batches WHERE id = ?", (batch_id,)))
        self.bytes -= size
        self.batches -= 1
