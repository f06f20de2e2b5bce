"""Exhaustion over a real ``python -m api`` process: the key before any body, bounded bodies,
and connections that never finish their headers are closed (issue 12)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest

from energy_testing import services as local_services
from tests.helpers import ROOT
from tests.integration.api.conftest import write_world_files

pytestmark = pytest.mark.integration

HUGE = 200_000_000  # what the review sent; never actually transmitted here


@dataclass
class ApiProcess:
    url: str
    port: int
    pid: int
    keys: dict[str, str]

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")


@contextlib.contextmanager
def api_process(services: object, tmp: Path, **env: str) -> Iterator[ApiProcess]:
    """``python -m api`` configured through its environment, dying with the test run."""
    keys = write_world_files(tmp)
    port = local_services.free_port()
    environment = {
        **os.environ,
        "INFLUX_URL": services.influx_url,  # type: ignore[attr-defined]
        "INFLUX_DB": f"api_{uuid.uuid4().hex[:10]}",
        "MQTT_URL": services.mqtt_url,  # type: ignore[attr-defined]
        "API_KEYS_FILE": str(tmp / "api_keys.yaml"),
        "ASSETS_FILE": str(tmp / "assets.yaml"),
        "EMISSION_FACTORS_FILE": str(tmp / "factors.yaml"),
        "INGEST_DATA_DIR": str(tmp / "ingest"),
        "API_PORT": str(port),
        **env,
    }
    with open(tmp / "api.log", "ab") as log:
        proc = local_services.track(  # SIGKILLed if the run dies, stopped at exit otherwise
            subprocess.Popen(
                [sys.executable, "-m", "api"],
                env=environment,
                cwd=ROOT,
                stdout=log,
                stderr=log,
                preexec_fn=local_services.child_preexec(signal.SIGKILL),
            )
        )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp / "api.log").read_text()
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:
                    break
            assert time.monotonic() < deadline, "the API did not start"
            time.sleep(0.1)  # start-up poll
        yield ApiProcess(url, port, proc.pid, keys)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def api(services: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    with api_process(services, tmp_path_factory.mktemp("exhaustion"), API_HEADER_TIMEOUT_S="1") as running:
        yield running


def connect(api: ApiProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", api.port), timeout=30)


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length body, read from a raw socket (30 s deadline)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in header_lines)}
    while len(body) < int(headers.get("content-length", "0")):
        chunk = sock.recv(65536)
        assert chunk, "connection closed inside the body"
        body += chunk
    return int(status_line.split()[1]), headers, body


def replay_head(length_header: str, key: str | None) -> bytes:
    lines = ["POST /deadletters/replay HTTP/1.1", "Host: api", "Content-Type: application/json"]
    lines.append(length_header)
    if key is not None:
        lines.append(f"X-API-Key: {key}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def closed_by_server(sock: socket.socket, deadline: float) -> bool:
    """Whether the server closes ``sock`` (reads reach EOF) before ``deadline`` (monotonic)."""
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            if sock.recv(65536) == b"":
                return True
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True
    return False


@pytest.mark.parametrize("key", [None, "wrong"])
def test_a_body_without_a_valid_key_is_refused_with_401_before_a_byte_of_it_is_sent(api, key):
    with connect(api) as sock:
        sock.sendall(replay_head(f"Content-Length: {HUGE}", key))  # and no body at all
        status, headers, body = read_response(sock)
    assert status == 401
    assert orjson.loads(body)["error"] == ("missing_api_key" if key is None else "invalid_api_key")
    assert headers["connection"] == "close"


def test_a_chunked_body_without_a_key_is_refused_before_it_is_read(api):
    with connect(api) as sock:
        sock.sendall(replay_head("Transfer-Encoding: chunked", None))
        status, _, _ = read_response(sock)
    assert status == 401


def test_a_declared_body_above_the_bound_gets_413_with_a_valid_key_before_it_is_sent(api):
    with connect(api) as sock:
        sock.sendall(replay_head(f"Content-Length: {HUGE}", api.keys["operator"]))
        status, headers, body = read_response(sock)
    assert status == 413
    assert orjson.loads(body)["error"] == "body_too_large"
    assert headers["connection"] == "close"


def test_a_chunked_body_past_the_bound_gets_413_and_the_api_does_not_hold_it(api):
    # Warm up the route (imports, the dead-letter store) so RSS compares like with like.
    small = httpx.post(
        f"{api.url}/deadletters/replay", json={"ids": [1]}, headers={"X-API-Key": api.keys["operator"]}
    )
    assert small.status_code == 200, small.text
    before = api.rss_bytes()
    chunk = b"[" + b"1," * 32_000 + b"1]"  # 64 KiB of a valid-looking id list, sent 320 times: ~20 MB
    framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    with connect(api) as sock:
        sock.sendall(replay_head("Transfer-Encoding: chunked", api.keys["operator"]))
        sent = 0

        def send_body() -> None:
            nonlocal sent
            with contextlib.suppress(OSError):  # the server hangs up once it has answered
                for _ in range(320):
                    sock.sendall(framed)
                    sent += len(chunk)

        sender = threading.Thread(target=send_body, name="chunked-sender", daemon=True)
        sender.start()
        status, _, body = read_response(sock)
        sender.join(timeout=60)
    assert status == 413
    assert orjson.loads(body)["error"] == "body_too_large"
    growth = api.rss_bytes() - before
    assert growth < 8 * 1024 * 1024, f"RSS grew by {growth} bytes while refusing a 20 MB body"
    # And the API still answers.
    assert httpx.get(f"{api.url}/healthz", timeout=30).status_code == 200


def test_a_small_body_with_a_valid_key_is_served_as_before(api):
    r = httpx.post(
        f"{api.url}/deadletters/replay", json={"limit": 5}, headers={"X-API-Key": api.keys["operator"]}
    )
    assert r.status_code == 200, r.text
    assert r.json()["selected"] == 0


def test_connections_that_never_finish_their_headers_are_closed_and_real_requests_are_served(api):
    half_open = []
    try:
        for i in range(1100):  # the review's number; above API_MAX_CONNECTIONS (1000) on purpose
            sock = connect(api)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: api\r\nX-Slow-" + str(i).encode())  # never ends
            half_open.append(sock)
        # A real request is served soon (503s while 1,100 hang, until their header time is up).
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{api.url}/healthz", timeout=10).status_code == 200:
                    break
            assert time.monotonic() < deadline, "no real request got through"
        # The server closes every one of them after API_HEADER_TIMEOUT_S (1 s here).
        deadline = time.monotonic() + 60
        still_open = [s for s in half_open if not closed_by_server(s, deadline)]
        assert still_open == []
    finally:
        for sock in half_open:
            sock.close()


def test_a_client_trickling_header_bytes_is_cut_off_all_the_same(api):
    with connect(api) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        deadline = time.monotonic() + 60
        closed = False
        while not closed and time.monotonic() < deadline:
            try:
                sock.sendall(b"X")  # one byte at a time: each would reset a plain idle timer
            except OSError:
                closed = True
                break
            closed = closed_by_server(sock, time.monotonic() + 0.2)
    assert closed
