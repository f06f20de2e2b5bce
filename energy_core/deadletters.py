"""Dead letters: every message (or reading) that could not be stored, with its reason.

Kept durably in SQLite next to the spool; listable and replayable (the API and
``python -m ingest deadletters`` use this module; replaying is ``energy_core/replay.py``).

Two kinds of letter:

- ``message``: an MQTT message (topic and payload as received). Replaying republishes it to
  its topic, so a fixed registry or adapter processes it like new.
- ``line``: one line of line protocol that InfluxDB refused while the spool drained a batch
  without origins (spooled by an older version). Replaying writes the line to InfluxDB again.

The store is bounded (``INGEST_DEADLETTER_MAX_BYTES``, ``INGEST_DEADLETTER_MAX_AGE_DAYS``):
whenever ingest adds letters (and when it starts), those older than the age bound go, then the
oldest until the store fits its byte bound; each drop is counted
(``ingest_dead_letters_dropped_total``). Only ingest enforces them: the API and the CLI open
the store without knowing ingest's bounds, and never add letters.
A payload above ``STORED_PAYLOAD_MAX`` bytes is stored cut to that size, with its length and
the SHA-256 of the whole: enough to recognise it, no longer enough to replay it.
"""

from __future__ import annotations

import builtins
import hashlib
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import structlog

from energy_core.errors import Reason
from energy_core.store import SqliteStore
from energy_core.timeutil import NS

log = structlog.get_logger("energy_core.deadletters")

STORED_PAYLOAD_MAX = 64 * 1024
DETAIL_MAX = 2048
ROW_OVERHEAD = 64  # bytes counted per letter beyond its payload, topic and detail (ids, times, index)
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
DEFAULT_MAX_AGE_S = 30 * 86400.0

LetterKind = Literal["message", "line"]
DroppedCallback = Callable[[str, int], None]  # (reason "age" | "bytes", how many)


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
    kind: LetterKind = "message"
    payload_bytes: int | None = None  # the whole payload's length (None until stored)
    payload_sha256: str | None = None  # hex SHA-256 of the whole payload (None until stored)
    truncated: bool = False  # payload cut to STORED_PAYLOAD_MAX: cannot be replayed


_COLUMNS = (
    "id, received_ns, topic, payload, reason, detail, device, replayed_ns,"
    " kind, payload_bytes, payload_sha256, truncated"
)


def _letter(r: tuple[Any, ...]) -> DeadLetter:
    return DeadLetter(
        id=r[0],
        received_ns=r[1],
        topic=r[2],
        payload=r[3],
        reason=Reason(r[4]),
        detail=r[5],
        device=r[6],
        replayed_ns=r[7],
        kind="line" if r[8] == "line" else "message",
        payload_bytes=r[9],
        payload_sha256=r[10],
        truncated=bool(r[11]),
    )


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
    """

    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_age_s: float = DEFAULT_MAX_AGE_S,
        on_dropped: DroppedCallback | None = None,
    ) -> None:
        super().__init__(path)
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self.on_dropped = on_dropped
        try:
            self.run_sync(_migrate)
        except BaseException:
            self.close()  # the store's thread must not outlive a store that failed to open
            raise

    async def add_many(self, letters: Sequence[DeadLetter]) -> None:
        """Store letters (payloads above STORED_PAYLOAD_MAX cut, hashed), then enforce the bounds."""
        cutoff_ns = time.time_ns() - int(self.max_age_s * NS)

        def insert(db: sqlite3.Connection) -> dict[str, int]:
            rows = [_row(d) for d in letters]  # hashing here, on the store's thread, not the loop's
            with db:
                db.execute("BEGIN")
                db.executemany(
                    "INSERT INTO dead_letters (received_ns, topic, payload, reason, detail, device,"
                    " kind, payload_bytes, payload_sha256, truncated, stored_bytes)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
                db.execute("UPDATE dead_letter_totals SET bytes = bytes + ?", (sum(r[-1] for r in rows),))
                return _enforce_bounds(db, cutoff_ns, self.max_bytes)

        dropped = await self.run(insert)
        self._report(dropped)

    def prune(self) -> dict[str, int]:
        """Enforce the age and byte bounds now (also done on every add); returns drops by reason."""
        cutoff_ns = time.time_ns() - int(self.max_age_s * NS)

        def prune(db: sqlite3.Connection) -> dict[str, int]:
            with db:
                db.execute("BEGIN")
                return _enforce_bounds(db, cutoff_ns, self.max_bytes)

        dropped = self.run_sync(prune)
        self._report(dropped)
        return dropped

    def _report(self, dropped: dict[str, int]) -> None:
        for reason, count in dropped.items():
            if count:
                log.warning("dead_letters_dropped", reason=reason, letters=count)
                if self.on_dropped is not None:
                    self.on_dropped(reason, count)

    def stored_bytes(self) -> int:
        """Bytes the letters hold, as counted against ``max_bytes``."""
        return int(self.run_sync(lambda db: db.execute("SELECT bytes FROM dead_letter_totals").fetchone()[0]))

    def get_many(self, ids: Sequence[int]) -> builtins.list[DeadLetter]:
        """The letters with these ids (those that exist), in id order."""
        wanted = sorted(set(ids))

        def select(db: sqlite3.Connection) -> builtins.list[tuple[object, ...]]:
            found: builtins.list[tuple[object, ...]] = []
            for start in range(0, len(wanted), 500):  # SQLite's bound on host parameters
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                found += db.execute(
                    f"SELECT {_COLUMNS} FROM dead_letters WHERE id IN ({marks}) ORDER BY id",  # noqa: S608 (only '?')
                    chunk,
                ).fetchall()
            return found

        return [_letter(r) for r in self.run_sync(select)]

    def list(
        self, *, reason: str | None = None, after_id: int = 0, limit: int = 100, pending_only: bool = False
    ) -> builtins.list[DeadLetter]:
        """Oldest first, from ``after_id``; synchronous (used by the CLI, the API and tests)."""
        return self.page(reason=reason, after_id=after_id, limit=limit, pending_only=pending_only)[0]

    def page(
        self,
        *,
        reason: str | None = None,
        after_id: int = 0,
        limit: int = 100,
        pending_only: bool = False,
        max_payload_bytes: int | None = None,
    ) -> tuple[builtins.list[DeadLetter], int | None]:
        """A page of letters oldest first after ``after_id``, and the ``after_id`` of the next page
        (None when there is none).

        At most ``limit`` letters, and no more once their payloads add up to
        ``max_payload_bytes`` (the first letter always comes): a page of bounded size.
        """
        sql = f"SELECT {_COLUMNS} FROM dead_letters WHERE id > ?"  # noqa: S608 (constant columns)
        args: builtins.list[object] = [after_id]
        if reason:
            sql += " AND reason = ?"
            args.append(reason)
        if pending_only:
            sql += " AND replayed_ns IS NULL"
        sql += " ORDER BY id LIMIT ?"
        args.append(limit + 1)  # one more tells whether a next page exists

        def select(db: sqlite3.Connection) -> tuple[builtins.list[tuple[object, ...]], bool]:
            rows: builtins.list[tuple[object, ...]] = []
            total = 0
            for row in db.execute(sql, args):
                total += len(row[3])
                full = len(rows) == limit or (max_payload_bytes is not None and total > max_payload_bytes)
                if rows and full:
                    return rows, True
                rows.append(row)
            return rows, False

        rows, more = self.run_sync(select)
        letters = [_letter(r) for r in rows]
        return letters, letters[-1].id if more else None

    def counts(self) -> dict[str, int]:
        rows = self.run_sync(
            lambda db: db.execute("SELECT reason, COUNT(*) FROM dead_letters GROUP BY reason").fetchall()
        )
        return {reason: count for reason, count in rows}

    def mark_replayed(self, ids: Sequence[int]) -> None:
        """Mark letters replayed: call it only for those really delivered (see energy_core/replay.py)."""
        now = time.time_ns()
        self.run_sync(
            lambda db: db.executemany(
                "UPDATE dead_letters SET replayed_ns = ? WHERE id = ? AND replayed_ns IS NULL",
                [(now, i) for i in ids],
            )
        )


def _row(letter: DeadLetter) -> tuple[Any, ...]:
    payload = letter.payload
    truncated = len(payload) > STORED_PAYLOAD_MAX
    stored = payload[:STORED_PAYLOAD_MAX] if truncated else payload
    detail = letter.detail[:DETAIL_MAX]
    size = len(stored) + len(letter.topic.encode()) + len(detail.encode()) + ROW_OVERHEAD
    return (
        letter.received_ns,
        letter.topic,
        stored,
        letter.reason.value,
        detail,
        letter.device,
        letter.kind,
        len(payload),
        hashlib.sha256(payload).hexdigest(),
        int(truncated),
        size,
    )


def _enforce_bounds(db: sqlite3.Connection, cutoff_ns: int, max_bytes: int) -> dict[str, int]:
    """Drop letters received before ``cutoff_ns``, then the oldest until the rest fit ``max_bytes``."""
    (aged_bytes,) = db.execute(
        "SELECT COALESCE(SUM(stored_bytes), 0) FROM dead_letters WHERE received_ns < ?", (cutoff_ns,)
    ).fetchone()
    by_age = db.execute("DELETE FROM dead_letters WHERE received_ns < ?", (cutoff_ns,)).rowcount
    freed = int(aged_bytes)
    excess = int(db.execute("SELECT bytes FROM dead_letter_totals").fetchone()[0]) - freed - max_bytes
    by_bytes = 0
    if excess > 0:
        last_id = None
        for letter_id, size in db.execute("SELECT id, stored_bytes FROM dead_letters ORDER BY id"):
            excess -= size
            freed += size
            last_id = letter_id
            if excess <= 0:
                break
        if last_id is not None:
            by_bytes = db.execute("DELETE FROM dead_letters WHERE id <= ?", (last_id,)).rowcount
    if freed:
        db.execute("UPDATE dead_letter_totals SET bytes = bytes - ?", (freed,))
    return {"age": by_age, "bytes": by_bytes}


def _migrate(db: sqlite3.Connection) -> None:
    """Add what older stores lack (kinds, payload hashes, sizes) and the running byte total.

    The total changes only where letters are added or dropped (``add_many``, the bounds), in
    the same transaction; marking letters replayed (the API, the CLI) leaves sizes alone.
    """
    columns = {row[1] for row in db.execute("PRAGMA table_info(dead_letters)")}
    added = {
        "kind": "TEXT NOT NULL DEFAULT 'message'",
        "payload_bytes": "INTEGER",
        "payload_sha256": "TEXT",
        "truncated": "INTEGER NOT NULL DEFAULT 0",
        "stored_bytes": "INTEGER NOT NULL DEFAULT 0",
    }
    with db:
        db.execute("BEGIN IMMEDIATE")
        for name, definition in added.items():
            if name not in columns:
                db.execute(f"ALTER TABLE dead_letters ADD COLUMN {name} {definition}")
        if "kind" not in columns:
            # Older versions dead-lettered a point refused while the spool drained as a message
            # with an empty topic and the line as payload, and "replayed" it by publishing
            # nothing: it is a line letter, and was never replayed.
            db.execute(
                "UPDATE dead_letters SET kind = 'line', replayed_ns = NULL WHERE topic = '' AND reason = ?",
                (Reason.REJECTED_BY_DB.value,),
            )
        if "stored_bytes" not in columns:
            db.execute(
                "UPDATE dead_letters SET payload_bytes = LENGTH(payload), stored_bytes = LENGTH(payload)"
                " + LENGTH(CAST(topic AS BLOB)) + LENGTH(CAST(detail AS BLOB)) + ?",
                (ROW_OVERHEAD,),
            )
        for statement in _SCHEMA_AFTER_COLUMNS:
            db.execute(statement)


_SCHEMA_AFTER_COLUMNS = (
    "CREATE INDEX IF NOT EXISTS dead_letters_reason ON dead_letters (reason, id)",
    "CREATE INDEX IF NOT EXISTS dead_letters_received ON dead_letters (received_ns)",
    "CREATE TABLE IF NOT EXISTS dead_letter_totals"
    " (only INTEGER PRIMARY KEY CHECK (only = 1), bytes INTEGER NOT NULL)",
    "INSERT OR IGNORE INTO dead_letter_totals (only, bytes)"
    " SELECT 1, COALESCE(SUM(stored_bytes), 0) FROM dead_letters",
)
