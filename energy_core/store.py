"""A small SQLite-backed durable store, used by the spool, the dead letters and the energy history.

SQLite (stdlib) rather than hand-rolled segment files: it gives atomic appends, ordered
reads and crash safety for free. Each store owns one connection on one worker thread, so
the event loop never blocks on fsync.

Failure model:

- a damaged file (not a database, or failing ``PRAGMA quick_check``) found at open is moved
  aside, renamed ``<name>.corrupt-<UTC time>`` with its ``-wal``/``-shm``, logged at error level
  (``store_quarantined``) and replaced by an empty store; ``quarantined`` says where it went.
  Crash-looping on it would lose everything the broker holds for us; the moved file is kept for
  an operator to salvage (``sqlite3 … .recover``);
- a store that cannot be opened for any other reason (an unwritable or missing folder) raises
  :class:`StoreError` naming the file, and the service refuses to start in one line;
- any SQLite or OS error afterwards (disk full, I/O error) raises :class:`StoreError` from
  :meth:`run`; the caller must not ack what it could not store, and retries.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import structlog

from energy_core.errors import StoreError

_T = TypeVar("_T")

log = structlog.get_logger("energy_core.store")

# What a damaged file answers (sqlite3 exceptions carry the name from Python 3.11 on).
_DAMAGED = frozenset({"SQLITE_CORRUPT", "SQLITE_NOTADB"})


class SqliteStore:
    """Runs every statement on one dedicated thread; ``synchronous=FULL`` makes commits durable."""

    schema: str = ""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.quarantined: Path | None = None  # where a damaged file found at open was moved
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(str(path), f"cannot create its folder: {exc.strerror or exc}") from exc
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=path.stem)
        try:
            self._db = self._executor.submit(self._open_or_quarantine).result()
        except BaseException:
            self._executor.shutdown()
            raise

    @property
    def name(self) -> str:
        """The store's label in metrics and logs: its file name without the suffix."""
        return self.path.stem

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            problems = [row[0] for row in db.execute("PRAGMA quick_check").fetchall()]
            if problems != ["ok"]:
                raise _Damaged("; ".join(problems)[:500])
            db.executescript(self.schema)
        except BaseException:
            db.close()
            raise
        return db

    def _open_or_quarantine(self) -> sqlite3.Connection:
        try:
            return self._open()
        except _Damaged as exc:
            problem = str(exc)
        except sqlite3.DatabaseError as exc:
            if getattr(exc, "sqlite_errorname", None) not in _DAMAGED:
                raise StoreError(str(self.path), f"cannot open: {exc}") from exc
            problem = str(exc)
        except OSError as exc:
            raise StoreError(str(self.path), f"cannot open: {exc}") from exc
        self.quarantined = self._move_aside()
        log.error(
            "store_quarantined",
            store=self.name,
            path=str(self.path),
            moved_to=str(self.quarantined),
            error=problem,
            consequence="starting with an empty store; what the damaged file held is not used",
        )
        try:
            return self._open()
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(
                str(self.path), f"cannot open after moving the damaged file aside: {exc}"
            ) from exc

    def _move_aside(self) -> Path:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        try:
            for suffix in ("-wal", "-shm", ""):  # the database last: a crash midway leaves it in place
                part = self.path.with_name(self.path.name + suffix)
                if part.exists():
                    part.rename(target.with_name(target.name + suffix))
        except OSError as exc:
            raise StoreError(str(self.path), f"damaged, and cannot be moved aside: {exc}") from exc
        return target

    async def run(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``fn`` on the store's thread; raises StoreError when SQLite or the disk fails."""
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, self._db)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(str(self.path), str(exc)) from exc

    def run_sync(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        """:meth:`run` for callers outside the event loop (start-up, the CLI, the API)."""
        try:
            return self._executor.submit(fn, self._db).result()
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(str(self.path), str(exc)) from exc

    def close(self) -> None:
        self._executor.submit(self._db.close).result()
        self._executor.shutdown()


class _Damaged(Exception):
    """Raised inside :meth:`SqliteStore._open` when ``PRAGMA quick_check`` finds damage."""
