"""The dirty roll-up buckets on disk (``INGEST_DATA_DIR/rollups.sqlite``), so a crash forgets none.

The service adds a bucket here when it first becomes dirty, after the raw write and before the
MQTT acks of that batch (so a crash in between redelivers the batch, which marks it again), and
deletes it after its roll-up was written. Only NEW buckets are written (a live hour is added
once, not per batch), so this costs one small SQLite transaction per measurement and hour,
plus one per batch of back-filled history. At start the service loads what is left.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from energy_core.store import SqliteStore
from ingest.rollup.keys import Key


class DirtyStore(SqliteStore):
    schema = """
        CREATE TABLE IF NOT EXISTS dirty (
            measurement TEXT NOT NULL,
            hour_ns INTEGER NOT NULL,
            PRIMARY KEY (measurement, hour_ns)
        ) WITHOUT ROWID;
    """

    async def add(self, keys: Iterable[Key]) -> None:
        rows = list(keys)

        def insert(db: sqlite3.Connection) -> None:
            with db:
                db.execute("BEGIN")
                db.executemany("INSERT OR IGNORE INTO dirty (measurement, hour_ns) VALUES (?, ?)", rows)

        if rows:
            await self.run(insert)

    async def remove(self, keys: Iterable[Key]) -> None:
        rows = list(keys)

        def delete(db: sqlite3.Connection) -> None:
            with db:
                db.execute("BEGIN")
                db.executemany("DELETE FROM dirty WHERE measurement = ? AND hour_ns = ?", rows)

        if rows:
            await self.run(delete)

    def load(self) -> list[Key]:
        """Every bucket left dirty by the last run (called at start, before the event loop needs it)."""
        rows = self.run_sync(lambda db: db.execute("SELECT measurement, hour_ns FROM dirty").fetchall())
        return [(str(m), int(h)) for m, h in rows]
