"""The demo runner (``scripts/demo`` installs, then hands over to this): real Mosquitto and
InfluxDB, a simulated city, ingest and the API, until Ctrl-C, ``kill -INT`` or ``kill -TERM``.
Everything it starts, it stops.

Why Python and not the shell: a non-interactive shell starts background jobs with SIGINT
ignored, and a shell cannot trap a signal ignored on entry, so ``scripts/demo &`` from a script
used to ignore Ctrl-C and ``kill -INT``. Python can always install its own handler.

Ports: the API on ``API_PORT`` (default 8000); ingest's /metrics, /healthz and /readyz on
``INGEST_HTTP_PORT`` or a free port (the readiness check asks the port ingest was given).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ["-m", "energy_testing.services"]  # the local Mosquitto and InfluxDB (docs/testing.md)
STOP_TIMEOUT_S = 15.0  # ingest flushes and acks within INGEST_SHUTDOWN_TIMEOUT_S (10 s)
READY_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _die_with_us() -> None:
    """In each child: SIGTERM when this runner dies, however it dies (PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


class Demo:
    def __init__(self, directory: Path, env: dict[str, str]) -> None:
        self.directory = directory
        self.env = env
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.services_started = False

    def output(self, argv: list[str], *, stream: str = "stdout") -> str:
        """Run a step to its end; what it wrote on ``stream`` (the other goes to our stderr)."""
        pipe, other = subprocess.PIPE, sys.stderr
        done = subprocess.run(
            argv,
            env=self.env,
            cwd=ROOT,
            text=True,
            check=True,
            stdout=pipe if stream == "stdout" else other,
            stderr=pipe if stream == "stderr" else other,
        )
        return done.stdout if stream == "stdout" else done.stderr

    def start(self, name: str, *args: str) -> None:
        # Own session: Ctrl-C reaches this runner only, which stops the rest in order.
        proc = subprocess.Popen(
            [sys.executable, "-m", name, *args],
            env=self.env,
            cwd=ROOT,
            start_new_session=True,
            preexec_fn=_die_with_us,
        )
        self.children.append((name, proc))

    def start_services(self) -> None:
        self.services_started = True
        out = self.output([sys.executable, *SERVICES, "start", "--dir", str(self.directory / "services")])
        for line in out.splitlines():
            key, _, value = line.partition("=")
            if key in ("MQTT_URL", "INFLUX_URL"):
                self.env[key] = value

    def exited(self) -> str | None:
        for name, proc in self.children:
            if proc.poll() is not None:
                return f"{name} exited with {proc.returncode}"
        return None

    def stop(self) -> None:
        for _name, proc in self.children:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for _name, proc in self.children:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.services_started:
            subprocess.run(
                [sys.executable, *SERVICES, "stop", "--dir", str(self.directory / "services")],
                cwd=ROOT,
                stdout=sys.stderr,
                check=False,
            )


def wait_ready(url: str, demo: Demo) -> bool:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline and demo.exited() is None:
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 (our own loopback URL)
                return True
        except OSError:
            time.sleep(0.2)
    return False


def banner(env: dict[str, str], city: str, keys: dict[str, str], keys_file: Path) -> str:
    api = f"http://127.0.0.1:{env['API_PORT']}"
    operator, owner = keys.get("operator", "<operator key>"), keys.get("tunabyggen", "<tunabyggen key>")
    return f"""
  Demo running — Ctrl-C (or kill -INT / -TERM {os.getpid()}) stops everything.
    city             {city}
    MQTT broker      {env["MQTT_URL"]}
                     (native energy/v1/<device>, SenML, ChirpStack, TTS, Sparkplug, wmbusmeters)
    InfluxDB         {env["INFLUX_URL"]} (database {env["INFLUX_DB"]})
    ingest metrics   http://127.0.0.1:{env["INGEST_HTTP_PORT"]}/metrics
    API docs         {api}/docs   (Authorize with a key below; send it as X-API-Key: <key>)
    live page        {api}/live?key={operator}
                     {api}/live?key={owner}   (Tunabyggen's view: one owner)
    API keys         operator={operator}
                     tunabyggen={owner}
                     (shown once when made, kept in {keys_file}; new ones: python -m api keys add)
    try: curl -s -H "X-API-Key: {operator}" {api}/sites | head -c 300
"""


def main(argv: list[str] | None = None) -> int:
    # Explicitly, whatever was inherited: a background job of a non-interactive shell starts with
    # SIGINT ignored, and Python then leaves it ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    parser = argparse.ArgumentParser(prog="scripts/demo", description=__doc__)
    parser.add_argument("--sites", type=int, default=60, help="buildings in the city (default 60)")
    parser.add_argument("--seed", type=int, default=7, help="same seed, same city (default 7)")
    parser.add_argument("--rate", type=float, default=30, help="simulated messages per second (default 30)")
    args = parser.parse_args(argv)

    directory = Path(os.environ.get("DEMO_DIR", "var/demo"))
    if not directory.is_absolute():
        directory = ROOT / directory
    directory.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        INFLUX_DB="energy",
        ASSETS_FILE=str(directory / "assets.yaml"),
        INGEST_DATA_DIR=str(directory / "ingest"),
        API_KEYS_FILE=str(directory / "api_keys.yaml"),
    )
    env.setdefault("API_PORT", "8000")
    env.setdefault("INGEST_HTTP_PORT", str(free_port()))
    demo = Demo(directory, env)
    try:
        demo.start_services()
        city = demo.output(
            [
                sys.executable,
                "-m",
                "simulators",
                *("--sites", str(args.sites), "--seed", str(args.seed)),
                "--assets-out",
                env["ASSETS_FILE"],
            ],
            stream="stderr",
        ).strip()
        print(city, file=sys.stderr)
        keys_file, keys_text = Path(env["API_KEYS_FILE"]), directory / "api_keys.txt"
        if not (keys_file.exists() and keys_text.exists()):
            keys_text.write_text(
                demo.output([sys.executable, "-m", "api", "keys", "demo", "--out", str(keys_file)])
            )
        keys = dict(line.partition("=")[::2] for line in keys_text.read_text().split())

        demo.start("ingest")
        demo.start("api")
        # Subscribed before the simulator's Sparkplug births, so they are not missed.
        ready = f"http://127.0.0.1:{env['INGEST_HTTP_PORT']}/readyz"
        if not wait_ready(ready, demo):
            print(f"warning: ingest not ready at {ready}: {demo.exited() or 'timed out'}", file=sys.stderr)
        demo.start(
            "simulators",
            *("--sites", str(args.sites), "--seed", str(args.seed), "--rate", f"{args.rate:g}"),
            *("--faults", "realistic", "--quiet"),
        )
        print(banner(env, city.partition(": ")[2] or city, keys, keys_text), file=sys.stderr, flush=True)
        while (problem := demo.exited()) is None:
            time.sleep(0.5)
        print(f"error: {problem}; stopping the demo", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopping the demo…", file=sys.stderr)
        return 0
    except subprocess.CalledProcessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        # A second Ctrl-C must not cut the clean-up short: it is bounded (STOP_TIMEOUT_S) anyway.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        demo.stop()


if __name__ == "__main__":
    sys.exit(main())
