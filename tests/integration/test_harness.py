"""The test harness keeps its promises: every process a test starts dies with the test run, and
an InfluxDB answer holding nulls reads as zero rather than crashing a poll.

A killed or failed run once left its ingest process running after the suite ended, and a count
row of nulls crashed `int(None)` in the middle of a reliability test.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from energy_testing import services as local_services
from energy_testing.world import Isolation, as_number
from tests.helpers import ROOT, IngestProcess, eventually

pytestmark = pytest.mark.integration


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie has died: nothing reaps orphans in some containers)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in {"Z", "X"}


def kill_if_alive(pid: int) -> None:
    if alive(pid):
        os.kill(pid, signal.SIGKILL)


def spawn_python(code: str, tmp_path: Path) -> subprocess.Popen[str]:
    """A Python child of this test (it dies with us too) running ``code`` from the repository."""
    return local_services.track(
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=(tmp_path / "child.log").open("w"),
            text=True,
            preexec_fn=local_services.child_preexec(signal.SIGKILL),
        )
    )


async def test_an_ingest_process_dies_when_the_test_run_running_it_is_killed_9(
    isolated: Isolation, tmp_path: Path
) -> None:
    """The middle process plays a test run: it starts ``python -m ingest`` and gets SIGKILL, which
    runs no cleanup at all; the kernel's parent-death signal must still end ingest."""
    env = IngestProcess.env_for(isolated, tmp_path / "ingest")
    log = tmp_path / "ingest.log"
    run = spawn_python(
        f"""
        import sys, time
        from pathlib import Path
        from tests.helpers import IngestProcess
        ingest = IngestProcess({env!r}, Path({str(log)!r}))
        ingest.start()
        print(ingest.proc.pid, flush=True)
        time.sleep(600)
        """,
        tmp_path,
    )
    ingest_pid = 0
    try:
        assert run.stdout is not None
        async with asyncio.timeout(60):
            line = await asyncio.to_thread(run.stdout.readline)
        assert line.strip().isdigit(), (tmp_path / "child.log").read_text()
        ingest_pid = int(line)
        subscribed = await eventually(lambda: log.exists() and '"mqtt_subscribed"' in log.read_text())
        assert subscribed, (tmp_path / "child.log").read_text()
        run.kill()
        run.wait()
        assert await eventually(lambda: not alive(ingest_pid), deadline_s=30), "ingest outlived its test run"
    finally:
        run.kill()
        if ingest_pid:
            kill_if_alive(ingest_pid)


INNER_TESTS = """
import os
import subprocess
from pathlib import Path

import pytest

from energy_testing import services as local_services

PIDS = Path(os.environ["HARNESS_PIDS"])


def alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in {"Z", "X"}


@pytest.fixture(scope="session")
def server():
    proc = local_services.track(subprocess.Popen(["sleep", "600"], preexec_fn=local_services.child_preexec()))
    (PIDS / "session").write_text(str(proc.pid))
    yield proc  # no cleanup of its own: the end of the run must stop it


def test_a_failing_test_that_leaves_a_child_running(server):
    proc = local_services.track(subprocess.Popen(["sleep", "600"]))
    (PIDS / "test").write_text(str(proc.pid))
    assert False, "fails before its own cleanup"


def test_the_child_is_gone_when_the_next_test_runs(server):
    assert not alive(int((PIDS / "test").read_text()))
    assert alive(server.pid), "the session's children live until the session ends"
"""


def test_children_left_by_a_failing_test_or_a_session_fixture_are_stopped(tmp_path: Path) -> None:
    """A pytest run of its own, with this suite's conftest as a plugin: the failing test's child
    is stopped when that test ends, the session fixture's child when the run ends."""
    (tmp_path / "test_inner.py").write_text(INNER_TESTS)
    pids = tmp_path / "pids"
    pids.mkdir()
    plugin = ["-p", "no:cacheprovider", "-p", "tests.conftest", "--rootdir", str(tmp_path)]
    inner = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *plugin, str(tmp_path / "test_inner.py")],
        cwd=ROOT,
        env={**os.environ, "HARNESS_PIDS": str(pids)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    started = [int((pids / name).read_text()) for name in ("test", "session") if (pids / name).exists()]
    try:
        assert "1 failed, 1 passed" in inner.stdout, inner.stdout + inner.stderr
        assert "fails before its own cleanup" in inner.stdout
        assert len(started) == 2
        assert not any(alive(pid) for pid in started)
    finally:
        for pid in started:
            kill_if_alive(pid)


def test_a_count_row_holding_nulls_reads_as_zero(isolated: Isolation) -> None:
    """InfluxDB answers `count(a), count(b)` with a null for a field without points in range."""
    httpx.post(
        f"{isolated.services.influx_url}/query", data={"q": f'CREATE DATABASE "{isolated.db}"'}
    ).raise_for_status()
    write = httpx.post(
        f"{isolated.services.influx_url}/write", params={"db": isolated.db}, content=b"m a=1 1000000000\n"
    )
    assert write.status_code == 204, write.text
    row = isolated.query('SELECT count("a"), count("b") FROM "m"')[0]
    assert row[2] is None
    assert (as_number(row[1]), as_number(row[2])) == (1.0, 0.0)
    assert isolated.count("m", "b") == 0
