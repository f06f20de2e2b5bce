"""The disk spool: line-protocol batches kept while InfluxDB is down, drained in order.

Bounded by bytes (``INGEST_SPOOL_MAX_BYTES``). When it is full the service stops
acknowledging, so the broker keeps the messages: backpressure, never loss.

Each batch keeps, next to its lines, the message every line came from (topic, payload,
receive time), so that a line InfluxDB refuses while the spool drains is dead-lettered
exactly as it would have been without the spool: with its original topic and payload,
replayable. Batches spooled by an older version have no origins; their refused lines
become ``line`` letters, replayed by writing the line again.
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from energy_core.errors import StorageError
from energy_core.schema import Message
from energy_core.store import SqliteStore

# One run of lines from the same message: line count, received_ns, topic length, payload length.
_RUN = struct.Struct("<IqII")
_SIZE = "SELECT COALESCE(SUM(LENGTH(body) + COALESCE(LENGTH(origins), 0)), 0), COUNT(*) FROM batches"


class SpoolFull(StorageError):
    """Raised when appending a batch would exceed the spool's byte bound."""


class SpooledBatch(NamedTuple):
    id: int
    body: bytes
    points: int
    origins: list[Message] | None  # the message of each line, or None (spooled by an older version)
    size: int  # bytes it holds in the spool (lines and origins)


def encode_origins(origins: Sequence[Message]) -> bytes:
    """The message of each line, run-length encoded: a message's lines are consecutive."""
    parts: list[bytes] = []
    i = 0
    while i < len(origins):
        message = origins[i]
        j = i + 1
        while j < len(origins) and origins[j] is message:
            j += 1
        topic = message.topic.encode()
        parts += [
            _RUN.pack(j - i, message.received_ns, len(topic), len(message.payload)),
            topic,
            message.payload,
        ]
        i = j
    return b"".join(parts)


def decode_origins(blob: bytes) -> list[Message]:
    origins: list[Message] = []
    offset = 0
    while offset < len(blob):
        lines, received_ns, topic_len, payload_len = _RUN.unpack_from(blob, offset)
        offset += _RUN.size
        topic = blob[offset : offset + topic_len].decode()
        offset += topic_len
        message = Message(topic, blob[offset : offset + payload_len], received_ns)
        offset += payload_len
        origins.extend([message] * lines)
    return origins


class Spool(SqliteStore):
    schema = """
        CREATE TABLE IF NOT EXISTS batches (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            body BLOB NOT NULL,
            points INTEGER NOT NULL,
            origins BLOB
        );
    """

    def __init__(self, path: Path, max_bytes: int) -> None:
        super().__init__(path)
        self.max_bytes = max_bytes
        self.bytes: int
        self.batches: int
        try:
            self.run_sync(_add_origins_column)
            self.bytes, self.batches = self.run_sync(lambda db: db.execute(_SIZE).fetchone())
        except BaseException:
            self.close()  # its thread too: a store that failed to open leaves nothing running
            raise

    @property
    def empty(self) -> bool:
        return bool(self.batches == 0)

    async def append(self, body: bytes, points: int, origins: Sequence[Message] | None = None) -> None:
        blob = encode_origins(origins) if origins else None
        size = len(body) + (len(blob) if blob is not None else 0)
        if self.bytes + size > self.max_bytes:
            raise SpoolFull(f"spool holds {self.bytes} bytes; bound is {self.max_bytes}")

        def insert(db: sqlite3.Connection) -> None:
            db.execute("INSERT INTO batches (body, points, origins) VALUES (?, ?, ?)", (body, points, blob))

        await self.run(insert)
        self.bytes += size
        self.batches += 1

    async def oldest(self) -> SpooledBatch | None:
        def select(db: sqlite3.Connection) -> tuple[int, bytes, int, bytes | None] | None:
            row = db.execute("SELECT id, body, points, origins FROM batches ORDER BY id LIMIT 1").fetchone()
            return None if row is None else (row[0], row[1], row[2], row[3])

        row = await self.run(select)
        if row is None:
            return None
        batch_id, body, points, blob = row
        origins = decode_origins(blob) if blob else None
        if origins is not None and len(origins) != points:
            origins = None  # not this version's: the lines alone are still exact
        return SpooledBatch(batch_id, body, points, origins, len(body) + (len(blob) if blob else 0))

    async def remove(self, batch_id: int, size: int) -> None:
        await self.run(lambda db: db.execute("DELETE FROM batches WHERE id = ?", (batch_id,)))
        self.bytes -= size
        self.batches -= 1


def _add_origins_column(db: sqlite3.Connection) -> None:
    """Spools written before origins were kept lack the column: add it (their rows stay NULL)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(batches)")}
    if "origins" not in columns:
        db.execute("ALTER TABLE batches ADD COLUMN origins BLOB")
