"""The query API over a test's database, served by a real uvicorn on a free loopback port.

It runs in a thread of the test process with its own event loop (so sync and async tests can
use it alike) and dies with the process; keys are made per test: one operator key and one key
per owner of the registry.
"""

from __future__ import annotations

import secrets
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import yaml

from energy_testing.world import Isolation


def serve_in_thread(
    app: Any, name: str, deadline_s: float = 60.0
) -> tuple[uvicorn.Server, threading.Thread, str]:
    """Start a real uvicorn for ``app`` on a free loopback port, in a daemon thread with its own
    event loop, and wait until it listens; returns the server, its thread and its base URL.
    Stop it with ``server.should_exit = True`` and ``thread.join()``."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + deadline_s
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the API exited during start-up (see the log above)")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the API did not start within {deadline_s:g} s")
        time.sleep(0.02)  # start-up poll: uvicorn offers no event to wait on from another thread
    return server, thread, f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"


class Api:
    """The ``api`` fixture: started on first use, so it loads the registry of the test's city.

    ``api.operator`` is a client with the operator key, ``api.owner("tunabyggen")`` one with that
    owner's key; ``api.keys`` holds the plain keys by name (``"operator"`` and each owner id).
    """

    def __init__(self, isolated: Isolation, folder: Path, assets_file: Path, ingest_data_dir: Path) -> None:
        self.isolated = isolated
        self.folder = folder
        self.assets_file = assets_file
        self.ingest_data_dir = ingest_data_dir
        self.keys: dict[str, str] = {}
        self._url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._clients: dict[str | None, httpx.Client] = {}

    @property
    def url(self) -> str:
        """The API's base URL (starts it if needed)."""
        self.start()
        return self._url

    @property
    def operator(self) -> httpx.Client:
        return self.client("operator")

    def owner(self, owner_id: str) -> httpx.Client:
        return self.client(owner_id)

    def client(self, key_name: str | None = None) -> httpx.Client:
        """A client sending the named key (none: no key, for 401 tests); closed at teardown."""
        self.start()
        if key_name not in self._clients:
            if key_name is not None and key_name not in self.keys:
                raise KeyError(f"no API key {key_name!r}: keys are {sorted(self.keys)}")
            headers = {"X-API-Key": self.keys[key_name]} if key_name else {}
            self._clients[key_name] = httpx.Client(base_url=self._url, headers=headers, timeout=30)
        return self._clients[key_name]

    def _write_keys(self) -> Path:
        from api.auth import hash_key  # here: the plugin loads in every pytest run, the API only when used

        owners: list[str] = []
        if self.assets_file.exists():
            document: dict[str, Any] = yaml.safe_load(self.assets_file.read_text(encoding="utf-8")) or {}
            owners = [str(owner["id"]) for owner in document.get("owners", [])]
        scopes = {"operator": "operator", **{owner: f"owner:{owner}" for owner in owners}}
        self.keys = {name: secrets.token_urlsafe(24) for name in scopes}
        entries = [{"name": n, "hash": hash_key(self.keys[n]), "scope": s} for n, s in scopes.items()]
        path = self.folder / "api_keys.yaml"
        path.write_text(yaml.safe_dump({"keys": entries}))
        return path

    def start(self) -> None:
        """Serve the API (if not yet serving) and wait until it listens."""
        if self._server is not None:
            return
        from api.app import create_app
        from api.settings import ApiSettings

        self.folder.mkdir(parents=True, exist_ok=True)
        settings = ApiSettings(
            influx_url=self.isolated.services.influx_url,
            influx_db=self.isolated.db,
            mqtt_url=self.isolated.services.mqtt_url,
            api_keys_file=self._write_keys(),
            assets_file=self.assets_file if self.assets_file.exists() else None,
            ingest_data_dir=self.ingest_data_dir,
            api_port=0,
        )
        self._server, self._thread, self._url = serve_in_thread(create_app(settings), "energy-testing-api")

    def stop(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=30)
        self._server = self._thread = None
