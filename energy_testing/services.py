"""Start and stop real Mosquitto and InfluxDB without containers, as the current user.

    python -m energy_testing.services start [--dir var/local] [--mqtt-port N] [--influx-port N]
    python -m energy_testing.services stop  [--dir var/local]
    python -m energy_testing.services status|env [--dir var/local]

(``python3 deploy/local/services.py …`` runs the same from a checkout, before anything is installed.)

Config and data live in the given folder; both listen on loopback only, on the given
ports or free ones. ``start`` waits until each answers and prints the MQTT_URL and
INFLUX_URL to use; started twice, it reports the running pair instead of starting another.
``stop`` stops only the processes recorded in the folder's state file.

Stdlib only: the pytest plugin (``energy_testing.plugin``) imports it, and it runs before the
project is installed. ``start`` installs missing binaries from Debian's packages (``mosquitto``,
``influxdb``) when running as root; the plugin never installs anything, it fails with one line
naming the package (:class:`~energy_testing.errors.NotInstalled`). ``MOSQUITTO_BIN`` and
``INFLUXD_BIN`` name the binaries to use instead of looking them up on ``PATH`` and in /usr/sbin.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import ctypes
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from energy_testing.errors import NotInstalled

STATE_FILE = "services.json"


@dataclass
class Running:
    name: str
    pid: int
    port: int
    url: str


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# binary -> (the variable naming it, the Debian package that ships it)
BINARIES = {"mosquitto": ("MOSQUITTO_BIN", "mosquitto"), "influxd": ("INFLUXD_BIN", "influxdb")}
SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin")  # Debian puts mosquitto here, off a user's PATH


def find_binary(name: str, environ: Mapping[str, str] | None = None) -> str:
    """The path of ``mosquitto`` or ``influxd``: ``$MOSQUITTO_BIN``/``$INFLUXD_BIN`` if set (a path
    or a name on PATH), else PATH, else /usr/sbin. Raises :class:`NotInstalled` (one line, naming
    the Debian package) when there is none."""
    env = os.environ if environ is None else environ
    variable, package = BINARIES[name]
    override = env.get(variable, "")
    if override:
        found = shutil.which(override, path=env.get("PATH", os.defpath))
        if found:
            return found
        raise NotInstalled(name, package, f"{variable}={override} is not an executable")
    found = shutil.which(name, path=os.pathsep.join([env.get("PATH", os.defpath), *SBIN_DIRS]))
    if found:
        return found
    raise NotInstalled(name, package, f"not on PATH nor in {', '.join(SBIN_DIRS)}")


def require_installed() -> None:
    """Raise :class:`NotInstalled` for the first of ``mosquitto`` and ``influxd`` that is missing."""
    for name in BINARIES:
        find_binary(name)


def ensure_installed() -> None:
    """Install the missing Debian packages when root (the ``start`` command); exit otherwise."""
    missing = []
    for binary in BINARIES:
        try:
            find_binary(binary)
        except NotInstalled as exc:
            missing.append(exc.package)
    if not missing:
        return
    if os.geteuid() != 0:
        sys.exit(f"missing Debian packages {missing}: run `sudo apt-get install -y {' '.join(missing)}`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", *missing], check=True, env=env, stdout=subprocess.DEVNULL
    )
    # Debian's packages start system-wide services where an init system runs; ours are separate.


def _wait(check: object, what: str, log: Path, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{tail}")
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not answer within {timeout:.0f} s (log: {log})")


_DIE_WITH_PARENT = False
# Every child started through this module (or handed to track()) since die_with_this_process().
_STARTED: list[subprocess.Popen[bytes]] = []


def die_with_this_process() -> None:
    """Children started from now on die when this process dies, however it dies.

    For the test suite and the benchmarks, so a killed run leaves no servers behind; not for
    ``start`` from the command line, whose servers must outlive it. Two mechanisms, because
    neither covers every case alone:

    - ``PR_SET_PDEATHSIG`` (see :func:`child_preexec`): the kernel signals the child when the
      thread that started it ends, which covers ``kill -9`` of this process;
    - an ``atexit`` hook stopping every child still running (:func:`stop_started`), which covers
      a normal exit or Ctrl-C, and children started from a thread other than the main one.
    """
    global _DIE_WITH_PARENT
    if not _DIE_WITH_PARENT:
        atexit.register(stop_started)
    _DIE_WITH_PARENT = True


def child_preexec(signum: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A ``preexec_fn`` giving the child ``signum`` when its parent dies (None when not asked for).

    The death signal fires when the *thread* that forked the child ends, not the process: a
    child started from a short-lived thread (``asyncio.to_thread``) would be killed with that
    thread. So it is only set up from the main thread; other children rely on the atexit hook.
    """
    if not _DIE_WITH_PARENT or threading.current_thread() is not threading.main_thread():
        return None
    parent = os.getpid()

    def preexec() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signum)  # PR_SET_PDEATHSIG = 1
        if os.getppid() != parent:  # the parent died before prctl: the signal will never come
            os._exit(1)

    return preexec


def track(proc: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
    """Remember a child so :func:`stop_started` stops it; returns it."""
    _STARTED.append(proc)
    return proc


def started() -> list[subprocess.Popen[bytes]]:
    """Children started (or tracked) so far that have not exited yet."""
    _STARTED[:] = [proc for proc in _STARTED if proc.poll() is None]
    return list(_STARTED)


def stop_started(only: list[subprocess.Popen[bytes]] | None = None) -> list[int]:
    """Stop every child still running (or those of ``only``); returns their pids."""
    leftovers = [proc for proc in (started() if only is None else only) if proc.poll() is None]
    for proc in leftovers:
        stop_pid(proc.pid)
    return [proc.pid for proc in leftovers]


def _spawn(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    """Start a server in its own session (Ctrl-C in the terminal is ours to handle), stderr to log."""
    with open(log, "ab") as stderr:
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
            preexec_fn=child_preexec(),
        )
    return track(proc) if _DIE_WITH_PARENT else proc


def _tcp_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _influx_ping(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=0.5) as r:
            return bool(r.status == 204)
    except OSError:
        return False


def start_mosquitto(
    directory: Path, port: int | None = None, extra_conf: str = "", *, allow_anonymous: bool = True
) -> tuple[Running, subprocess.Popen[bytes]]:
    """Start Mosquitto with persistence on, unbounded queues for persistent sessions, loopback only.

    ``allow_anonymous=False`` makes every client authenticate; pass the ``password_file`` and
    ``acl_file`` lines in ``extra_conf`` (later lines override the defaults written here).
    """
    port = port or free_port()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "data").mkdir(exist_ok=True)
    conf = directory / "mosquitto.conf"
    log = directory / "mosquitto.log"
    user = pwd.getpwuid(os.geteuid()).pw_name
    conf.write_text(
        f"""# written by energy_testing/services.py
user {user}
listener {port} 127.0.0.1
allow_anonymous {"true" if allow_anonymous else "false"}
persistence true
persistence_location {directory / "data"}/
autosave_interval 30
# The ingest service acks in batches after writing, and a persistent session must keep
# everything published while ingest is away: no caps on in-flight or queued messages.
max_inflight_messages 0
max_queued_messages 0
max_queued_bytes 0
set_tcp_nodelay true
log_dest file {log}
log_type error
log_type warning
log_type notice
{extra_conf}
"""
    )
    proc = _spawn([find_binary("mosquitto"), "-c", str(conf)], log)
    _wait(lambda: _tcp_open(port), "mosquitto", log, proc)
    return Running("mosquitto", proc.pid, port, f"mqtt://127.0.0.1:{port}"), proc


def start_influxd(
    directory: Path, port: int | None = None, *, auth_enabled: bool = False
) -> tuple[Running, subprocess.Popen[bytes]]:
    """Start InfluxDB 1.x with its HTTP API and its RPC port on loopback.

    ``auth_enabled=True`` turns on ``[http] auth-enabled``: create the first (admin) user with
    ``CREATE USER … WITH ALL PRIVILEGES``, which InfluxDB allows unauthenticated while none exists.
    """
    port = port or free_port()
    rpc_port = free_port()
    directory.mkdir(parents=True, exist_ok=True)
    conf = directory / "influxdb.conf"
    log = directory / "influxd.log"
    conf.write_text(
        f"""# written by energy_testing/services.py
reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"
[meta]
  dir = "{directory / "meta"}"
[data]
  dir = "{directory / "data"}"
  wal-dir = "{directory / "wal"}"
  query-log-enabled = false
[coordinator]
  log-queries-after = "0s"
[http]
  bind-address = "127.0.0.1:{port}"
  log-enabled = false
  max-body-size = 0
  auth-enabled = {"true" if auth_enabled else "false"}
[monitor]
  store-enabled = false
[logging]
  level = "warn"
"""
    )
    proc = _spawn([find_binary("influxd"), "run", "-config", str(conf)], log)
    _wait(lambda: _influx_ping(port), "influxd", log, proc)
    return Running("influxd", proc.pid, port, f"http://127.0.0.1:{port}"), proc


def _alive(running: Running) -> bool:
    try:
        cmdline = Path(f"/proc/{running.pid}/cmdline").read_bytes()
    except OSError:
        return False
    return running.name.encode() in cmdline


def stop_pid(pid: int, timeout: float = 15.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            if not Path(f"/proc/{pid}").exists():
                return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)  # reap our own child; SIGKILL cannot be ignored


def _load_state(directory: Path) -> list[Running]:
    try:
        return [Running(**r) for r in json.loads((directory / STATE_FILE).read_text())]
    except (OSError, ValueError, TypeError):
        return []


def start(directory: Path, mqtt_port: int | None, influx_port: int | None) -> list[Running]:
    alive = [r for r in _load_state(directory) if _alive(r)]
    names = {r.name for r in alive}
    if names != {"mosquitto", "influxd"}:
        ensure_installed()
        if "mosquitto" not in names:
            alive.append(start_mosquitto(directory / "mosquitto", mqtt_port)[0])
        if "influxd" not in names:
            alive.append(start_influxd(directory / "influxdb", influx_port)[0])
        (directory / STATE_FILE).write_text(json.dumps([asdict(r) for r in alive], indent=2))
    return alive


def stop(directory: Path) -> None:
    for running in _load_state(directory):
        if _alive(running):
            stop_pid(running.pid)
            print(f"stopped {running.name} (pid {running.pid})")
    (directory / STATE_FILE).unlink(missing_ok=True)


def env_lines(services: list[Running]) -> list[str]:
    urls = {r.name: r.url for r in services}
    return [f"MQTT_URL={urls['mosquitto']}", f"INFLUX_URL={urls['influxd']}"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("action", choices=["start", "stop", "status", "env"])
    parser.add_argument("--dir", type=Path, default=Path("var/local"))
    parser.add_argument("--mqtt-port", type=int)
    parser.add_argument("--influx-port", type=int)
    args = parser.parse_args()
    directory = args.dir.resolve()
    if args.action == "start":
        directory.mkdir(parents=True, exist_ok=True)
        print("\n".join(env_lines(start(directory, args.mqtt_port, args.influx_port))))
    elif args.action == "stop":
        stop(directory)
    else:
        alive = [r for r in _load_state(directory) if _alive(r)]
        if args.action == "env" and len(alive) == 2:
            print("\n".join(env_lines(alive)))
        else:
            for r in alive:
                print(f"{r.name}\tpid {r.pid}\t{r.url}")
            if len(alive) < 2:
                sys.exit(1)


if __name__ == "__main__":
    main()
