"""Dead letters: every message (or reading) that could not be stored, with its reason.

Kept durably in SQLite next to the spool; listable and replayable (the API and
``python -m ingest deadletters`` use this module). Replaying republishes the original
payload to its original topic, so a fixed registry or adapter processes it like new.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ingest.errors import Reason
from ingest.store import SqliteStore


@dataclass(frozen=True, slots=True)
class DeadLetter:
    topic: str
    payload: bytes
    reason: Reason
    detail: str
    received_ns: int
    device: str | None = None
    id: int = 0
    replayed_ns: int | None = None


class DeadLetterStore(SqliteStore):
    schema = """
        CREATE TABLE IF NOT EXISTS dead_letters (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            received_ns INTEGER NOT NULL,
            topic TEXT NOT NULL,
            payload BLOB NOT NULL,
            reason TEXT NOT NULL,
            detail TEXT NOT NULL,
            device TEXT,
            replayed_ns INTEGER
        );
        CREATE INDEX IF NOT EXISTS dead_letters_reason ON dead_letters (reason, id);
    """

    def __init__(self, path: Path) -> None:
        super().__init__(path)

    async def add_many(self, letters: list[DeadLetter]) -> None:
        rows = [(d.received_ns, d.topic, d.payload, d.reason.value, d.detail, d.device) for d in letters]

        def insert(db: sqlite3.Connection) -> None:
            with db:
                db.execute("BEGIN")
                db.executemany(
                    "INSERT INTO dead_letters (received_ns, topic, payload, reason, detail, device)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    rows,
                )

        await self.run(insert)

    def list(
        self, *, reason: str | None = None, after_id: int = 0, limit: int = 100, pending_only: bool = False
    ) -> list[DeadLetter]:
        """Oldest first, from ``after_id``; synchronous (used by the CLI, the API and tests)."""
        sql = "SELECT id, received_ns, topic, payload, reason, detail, device, replayed_ns FROM dead_letters"
        sql += " WHERE id > ?"
        args: list[object] = [after_id]
        if reason:
            sql += " AND reason = ?"
            args.append(reason)
        if pending_only:
            sql += " AND replayed_ns IS NULL"
        sql += " ORDER BY id LIMIT ?"
        args.append(limit)
        rows = self.run_sync(lambda db: db.execute(sql, args).fetchall())
        return [
            DeadLetter(
                id=r[0],
                received_ns=r[1],
                topic=r[2],
                payload=r[3],
                reason=Reason(r[4]),
                detail=r[5],
                device=r[6],
                replayed_ns=r[7],
            )
            for r in rows
        ]

    def counts(self) -> dict[str, int]:
        rows = self.run_sync(
            lambda db: db.execute("SELECT reason, COUNT(*) FROM dead_letters GROUP BY reason").fetchall()
        )
        return {reason: count for reason, count in rows}

    def mark_replayed(self, ids: Sequence[int]) -> None:
        now = time.time_ns()
        self.run_sync(
            lambda db: db.executemany(
                "UPDATE dead_letters SET replayed_ns = ? WHERE id = ?", [(now, i) for i in ids]
            )
        )
