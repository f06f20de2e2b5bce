"""The local days waiting to be analysed, on disk (``INGEST_DATA_DIR/analysis.sqlite``).

The analysis runner adds a (analyser, day) here when a roll-up round rewrote one of the day's
inputs, BEFORE the roll-up maintainer forgets those buckets (so a crash between the two loses
no day), and deletes it after the day's results were written to InfluxDB. At start the runner
loads what is left. Today's clock analysis is not stored: the clock repeats it anyway.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterable

from energy_core.store import SqliteStore

DayKey = tuple[str, dt.date]  # (analyser name, local day)


class DayStore(SqliteStore):
    schema = """
        CREATE TABLE IF NOT EXISTS dirty_days (
            analyser TEXT NOT NULL,
            day TEXT NOT NULL,
            PRIMARY KEY (analyser, day)
        ) WITHOUT ROWID;
    """

    async def add(self, keys: Iterable[DayKey]) -> None:
        rows = [(name, day.isoformat()) for name, day in keys]

        def insert(db: sqlite3.Connection) -> None:
            with db:
                db.execute("BEGIN")
                db.executemany("INSERT OR IGNORE INTO dirty_days (analyser, day) VALUES (?, ?)", rows)

        if rows:
            await self.run(insert)

    async def remove(self, keys: Iterable[DayKey]) -> None:
        rows = [(name, day.isoformat()) for name, day in keys]

        def delete(db: sqlite3.Connection) -> None:
            with db:
                db.execute("BEGIN")
                db.executemany("DELETE FROM dirty_days WHERE analyser = ? AND day = ?", rows)

        if rows:
            await self.run(delete)

    def load(self) -> list[DayKey]:
        """Every day left waiting by the last run (called at start)."""
        rows = self.run_sync(lambda db: db.execute("SELECT analyser, day FROM dirty_days").fetchall())
        return [(str(name), dt.date.fromisoformat(str(day))) for name, day in rows]
