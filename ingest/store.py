"""A small SQLite-backed durable store, used by the spool and the dead letters.

SQLite (stdlib) rather than hand-rolled segment files: it gives atomic appends, ordered
reads and crash safety for free. Each store owns one connection on one worker thread, so
the event loop never blocks on fsync.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

_T = TypeVar("_T")


class SqliteStore:
    """Runs every statement on one dedicated thread; ``synchronous=FULL`` makes commits durable."""

    schema: str = ""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=path.stem)
        self._db = self._executor.submit(self._open).result()

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(self.schema)
        return db

    async def run(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, self._db)

    def run_sync(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        return self._executor.submit(fn, self._db).result()

    def close(self) -> None:
        self._executor.submit(self._db.close).result()
        self._executor.shutdown()
