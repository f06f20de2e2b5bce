"""``scripts/demo``'s runner: stops on SIGINT even when started with SIGINT ignored (as a background
job of a script is), and leaves no process behind; its banner says how many sites and which key."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from energy_testing import services as local_services
from tests.helpers import ROOT

pytestmark = pytest.mark.integration


def marked(mark: str) -> list[int]:
    """Live processes whose environment carries ``mark``: the runner and everything it started."""
    needle = f"DEMO_TEST_MARK={mark}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    pids.append(int(entry.name))
    return pids


def poll(check: Callable[[], object], *, deadline_s: float) -> object:
    """``check()`` until truthy or the deadline passes (a sync test: no event loop to yield to)."""
    deadline = time.monotonic() + deadline_s
    while not (value := check()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return value


def sigint_ignored(then: Callable[[], None] | None) -> Callable[[], None]:
    """What a non-interactive shell does for a background job: SIGINT ignored on entry."""

    def preexec() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if then is not None:
            then()

    return preexec


def test_the_demo_started_with_sigint_ignored_stops_on_sigint_and_leaves_no_process(tmp_path):
    mark = uuid.uuid4().hex
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("INFLUX_", "MQTT_", "INGEST_", "API_", "ASSETS_"))
    }
    env.update(
        DEMO_TEST_MARK=mark,
        DEMO_DIR=str(tmp_path / "demo"),
        API_PORT=str(local_services.free_port()),
        ENERGY_ENV_FILE=str(tmp_path / "none.env"),
    )
    log_path = tmp_path / "demo.log"
    with open(log_path, "wb") as log:
        runner = local_services.track(
            subprocess.Popen(
                [sys.executable, "scripts/demo.py", "--sites", "3", "--rate", "3"],
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=log,
                preexec_fn=sigint_ignored(local_services.child_preexec(signal.SIGKILL)),
            )
        )
    try:
        running = poll(lambda: "Demo running" in log_path.read_text(), deadline_s=180)
        banner = log_path.read_text()
        assert running, banner
        started = marked(mark)
        assert len(started) >= 6, (started, banner)  # runner, mosquitto, influxd, ingest, api, simulators
        assert "city             4 sites (3 buildings, 1 weather station)" in banner
        assert f"/live?key={_key(tmp_path, 'operator')}" in banner
        assert f"operator={_key(tmp_path, 'operator')}" in banner

        runner.send_signal(signal.SIGINT)
        assert runner.wait(timeout=120) == 0, log_path.read_text()
        assert poll(lambda: not marked(mark), deadline_s=30), marked(mark)
    finally:
        for pid in marked(mark):  # whatever is left of this test's demo, and only of it
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "energy_testing.services",
                "stop",
                "--dir",
                str(tmp_path / "demo" / "services"),
            ],
            cwd=ROOT,
            capture_output=True,
            check=False,
        )


def _key(tmp_path: Path, name: str) -> str:
    keys = dict(line.partition("=")[::2] for line in (tmp_path / "demo" / "api_keys.txt").read_text().split())
    return keys[name]
