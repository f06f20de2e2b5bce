"""``python -m ingest`` as a child process bound to a test's isolation, dying with the test run.

A subprocess rather than an in-process ``IngestService``: it works the same from sync and async
tests (no event loop of the test's is needed), runs exactly as deployed (configured through its
environment), and a test that kills it cannot take the test run down with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from energy_testing import services as local_services
from energy_testing.city import COUNTED_FIELD, Expected
from energy_testing.world import Isolation, wait_until


class IngestProcess:
    """``python -m ingest`` as a child process, configured through its environment (as in production)."""

    def __init__(self, settings_env: dict[str, str], log_path: Path, *, cwd: Path | None = None) -> None:
        self.env = {**os.environ, **settings_env}
        self.log_path = log_path
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    @staticmethod
    def env_for(isolated: Any, data_dir: Path, **overrides: str) -> dict[str, str]:
        """The environment binding ingest to ``isolated``'s broker prefix and database."""
        env = {
            "MQTT_URL": isolated.services.mqtt_url,
            "MQTT_TOPIC_PREFIX": isolated.prefix,
            "INFLUX_URL": isolated.services.influx_url,
            "INFLUX_DB": isolated.db,
            "INGEST_CLIENT_ID": f"ingest-{isolated.db}",
            "INGEST_DATA_DIR": str(data_dir),
            "INGEST_HTTP_PORT": "0",
            "INGEST_UNKNOWN_DEVICES": "accept",
        }
        env.update(overrides)
        return env

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        """Start it; it is SIGKILLed if the test run dies, and stopped when the test ends (plugin)."""
        assert not self.running, "already running"
        local_services.die_with_this_process()  # also outside pytest: a harness's ingest never outlives it
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.proc = local_services.track(
                subprocess.Popen(
                    [sys.executable, "-m", "ingest"],
                    env=self.env,
                    stderr=log,
                    cwd=self.cwd,
                    preexec_fn=local_services.child_preexec(signal.SIGKILL),
                )
            )

    def stop(self) -> None:
        """Kill it if it still runs (for ``finally``: whatever the test did, nothing outlives it)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")[self._log_offset :]

    def wait_until_subscribed(self, deadline_s: float = 120.0) -> None:
        """Block until ingest has subscribed (messages published from now on reach it)."""

        def subscribed() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"ingest exited with {self.proc.returncode}:\n{self.log_text()[-3000:]}")
            return '"mqtt_subscribed"' in self.log_text()

        ok = wait_until(subscribed, deadline_s=deadline_s)
        assert ok, f"ingest did not subscribe within {deadline_s:g} s:\n{self.log_text()[-3000:]}"

    async def wait_subscribed(self, deadline_s: float = 30.0) -> None:
        await asyncio.to_thread(self.wait_until_subscribed, deadline_s)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def terminate(self, deadline_s: float = 30.0) -> int:
        """SIGTERM and wait; returns the exit code (raises if it does not exit in time)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=deadline_s)


class Ingest:
    """The ``ingest`` fixture: ingest bound to the test's prefix and database, started on first use.

    It starts when the test's city first publishes (or on :meth:`start`), so it loads the
    registry of the city the test built.
    """

    def __init__(self, isolated: Isolation, folder: Path, assets_file: Path, **env: str) -> None:
        self.isolated = isolated
        self.data_dir = folder / "data"
        self.assets_file = assets_file
        self.extra_env = env
        self.process = IngestProcess({}, folder / "ingest.log")

    def start(self) -> None:
        """Start ingest (if not running) and wait until it has subscribed."""
        if self.process.running:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = IngestProcess.env_for(self.isolated, self.data_dir, INGEST_UNKNOWN_DEVICES="reject")
        if self.assets_file.exists():
            env["ASSETS_FILE"] = str(self.assets_file)
        env.update(self.extra_env)
        self.process.env = {**os.environ, **env}
        self.process.start()
        self.process.wait_until_subscribed()

    def stop(self) -> None:
        self.process.stop()

    def dead_letters(self) -> dict[str, int]:
        """Dead letters kept so far, per reason (read from ingest's store, ``dead_letters.sqlite``)."""
        path = self.data_dir / "dead_letters.sqlite"
        if not path.exists():
            return {}
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as db:
            try:
                rows = db.execute("SELECT reason, COUNT(*) FROM dead_letters GROUP BY reason").fetchall()
            except sqlite3.OperationalError:
                return {}  # the table is created when ingest opens the store
        return {str(reason): int(count) for reason, count in rows}

    def log_text(self) -> str:
        return self.process.log_text()

    def stored_points(self, measurements: Iterable[str] = COUNTED_FIELD) -> dict[str, int]:
        """Points stored per measurement in the test's database (counted on a field all have)."""
        return {m: self.isolated.count(m, COUNTED_FIELD[m]) for m in measurements}

    def wait_for(self, expected: Expected, *, deadline_s: float = 120.0) -> None:
        """Block until every expected point is stored and every expected dead letter kept (exact
        counts); fails with both sides when the deadline passes first."""
        points, letters = dict(expected.points), dict(expected.dead_letters)

        def done() -> bool:
            return self.stored_points(points) == points and self.dead_letters() == letters

        if not wait_until(done, deadline_s=deadline_s, interval_s=0.5):
            raise AssertionError(
                f"after {deadline_s:g} s ingest stored {self.stored_points(points)} (expected {points}) "
                f"and dead-lettered {self.dead_letters()} (expected {letters}); log tail:\n"
                + self.log_text()[-2000:]
            )
