"""Simulate Borlänge's district heating and buildings, publishing to MQTT in every payload format.

Modes:
  live (default)   devices read in real time, every --interval seconds (or as --rate asks)
  --backfill 30d   history from 30 days ago until now, one reading per device every --step,
                   published as fast as possible (or at --rate)

Examples:
  python -m simulators --sites 50 --assets-out var/assets.yaml     # write the registry, exit
  python -m simulators --sites 50 --rate 25                        # a live city, 25 msg/s
  python -m simulators --sites 7000 --rate 5000 --faults realistic # load test
  python -m simulators --sites 20 --backfill 30d --step 1m --report report.json
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import orjson

from energy_core.timeutil import NS, STOCKHOLM, parse_iso
from simulators.city import City, Format, build_city, device_counts, parse_formats
from simulators.faults import Fault, FaultRates
from simulators.formats import NCMD_FILTER, rebirth_requested
from simulators.publisher import Publisher
from simulators.report import with_progress
from simulators.simulation import Simulation

MIN_INTERVAL_S = 1.0  # a device reads at most once a second (wmbusmeters' timestamps are whole seconds)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)?\s*$")
_UNIT_S = {None: 1.0, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def duration_s(text: str) -> float:
    """``"30d"``, ``"12h"``, ``"1m"``, ``"45s"`` or plain seconds → seconds."""
    match = _DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 30d, 12h, 1m or 45s")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def _formats(text: str) -> list[Format]:
    try:
        return parse_formats(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _faults(text: str) -> FaultRates:
    try:
        return FaultRates.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _time(text: str) -> float:
    """An ISO 8601 time as Unix seconds; one without an offset is Europe/Stockholm local time."""
    try:
        return parse_iso(text, naive=STOCKHOLM) / NS
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time such as 2026-01-01T00:00Z"
        ) from None


def _rebirth(sim: Simulation, topic: str, payload: bytes) -> None:
    """A Sparkplug host asked an edge node (``spBv1.0/{group}/NCMD/{edge}``) for its births."""
    if rebirth_requested(payload):
        sim.request_rebirth(topic.rsplit("/", 1)[-1])


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m simulators", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    city = p.add_argument_group("the city")
    city.add_argument(
        "--sites", "--meters", type=int, default=20, metavar="N", help="buildings on the network (default 20)"
    )
    city.add_argument("--seed", type=int, default=1, help="same seed, same city and readings (default 1)")
    city.add_argument(
        "--formats",
        type=_formats,
        default=list(Format),
        metavar="LIST",
        help=f"payload formats devices may use, comma-separated: {', '.join(Format)} or all (default all); "
        "kinds no listed format can carry are left out",
    )
    city.add_argument(
        "--assets-out", type=Path, metavar="FILE", help="write the matching ASSETS_FILE (YAML) and exit"
    )
    when = p.add_argument_group("time")
    when.add_argument(
        "--interval",
        type=duration_s,
        metavar="DURATION",
        help="live: how often each device reads (default: from --rate, else 10s)",
    )
    when.add_argument(
        "--rate",
        type=float,
        metavar="MSG_PER_S",
        help="live: the city's message rate (sets --interval to devices/rate, at least 1 s); "
        "back-fill: publishing pace (default: as fast as possible)",
    )
    when.add_argument(
        "--backfill",
        type=duration_s,
        metavar="DURATION",
        help="publish this much history up to now, e.g. 30d",
    )
    when.add_argument(
        "--step",
        type=duration_s,
        default=60.0,
        metavar="DURATION",
        help="back-fill reading interval (default 1m)",
    )
    when.add_argument(
        "--start",
        type=_time,
        metavar="TIME",
        help="back-fill from this ISO time instead of now minus --backfill (repeatable streams); "
        "without an offset it is Europe/Stockholm local time",
    )
    when.add_argument("--count", type=int, metavar="N", help="stop after N readings")
    when.add_argument("--duration", type=duration_s, metavar="DURATION", help="live: stop after this long")
    faults = p.add_argument_group("faults")
    faults.add_argument(
        "--faults",
        type=_faults,
        default=FaultRates(),
        metavar="SPEC",
        help="'none' (default), 'realistic', or NAME=RATE,… with NAME one of: "
        f"{', '.join(Fault)}; RATE is a probability per reading (clock_skew: share of devices; "
        "substations: share of substations with a substation fault, bare: 0.4); parts combine, "
        "e.g. realistic,substations",
    )
    out = p.add_argument_group("output")
    out.add_argument(
        "--mqtt-url",
        default=os.environ.get("MQTT_URL", "mqtt://127.0.0.1:1883"),
        help="broker URL (default: $MQTT_URL or mqtt://127.0.0.1:1883)",
    )
    out.add_argument(
        "--prefix",
        default=os.environ.get("MQTT_TOPIC_PREFIX", "energy"),
        help="topic prefix of native messages (default: $MQTT_TOPIC_PREFIX or 'energy')",
    )
    out.add_argument("--qos", type=int, choices=(0, 1), default=1, help="MQTT QoS (default 1)")
    out.add_argument(
        "--window",
        type=int,
        default=2000,
        metavar="N",
        help="unacknowledged messages in flight (default 2000)",
    )
    out.add_argument("--report", type=Path, metavar="FILE", help="write what was published (JSON) here")
    out.add_argument("--dry-run", action="store_true", help="generate the messages but publish nothing")
    out.add_argument("--quiet", action="store_true", help="no progress line on the terminal")
    return p


def mqtt_url_problem(url: str) -> str | None:
    """Why ``url`` is not a broker URL (only ``mqtt://`` and ``mqtts://``), or None."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        return f"--mqtt-url (or MQTT_URL) {url!r} has a malformed port"
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        return (
            f"--mqtt-url (or MQTT_URL) must be mqtt://[user:pass@]host[:1883] or mqtts://host[:8883], "
            f"not {url!r}"
        )
    return None


def city_summary(city: City) -> str:
    """How many sites the city has, in one phrase every message uses (buildings plus weather stations)."""
    stations = sum(1 for site in city.sites if site.id.startswith("weather-"))
    buildings = len(city.sites) - stations
    return (
        f"{len(city.sites)} sites ({buildings} buildings, {stations} weather "
        f"station{'s' if stations != 1 else ''})"
    )


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.sites < 1:
        parser().error("--sites must be at least 1")
    if not args.assets_out and (problem := mqtt_url_problem(args.mqtt_url)):
        print(f"error: {problem}", file=sys.stderr)
        return 2
    city = build_city(args.sites, seed=args.seed, formats=args.formats)
    if args.assets_out:
        args.assets_out.parent.mkdir(parents=True, exist_ok=True)
        city.write_assets(args.assets_out)
        print(f"wrote {args.assets_out}: {city_summary(city)}, {len(city.devices)} devices", file=sys.stderr)
        return 0
    sim = Simulation(city, prefix=args.prefix, faults=args.faults, seed=args.seed)
    n = max(1, sim.device_count)
    now = time.time()
    if args.backfill or args.start is not None:
        start = args.start if args.start is not None else now - (args.backfill or 0.0)
        until = start + args.backfill if args.backfill else now
        step, rate = args.step, args.rate or None
    else:
        step = args.interval or (max(MIN_INTERVAL_S, n / args.rate) if args.rate else 10.0)
        start, until, rate = now, (now + args.duration if args.duration else None), n / step
    mix = ", ".join(f"{fmt} {count}" for fmt, count in sorted(device_counts(city.devices).items()))
    print(
        f"{city_summary(city)}, {n} devices ({mix}); one reading per device every {step:g} s"
        + (f", {rate:,.0f} msg/s" if rate else ", as fast as possible"),
        file=sys.stderr,
    )
    if step < MIN_INTERVAL_S:
        parser().error(f"a device reads at most once a second; {step:g} s is too often")
    messages = sim.run(start, step, until_s=until, count=args.count)
    if not args.quiet and sys.stderr.isatty():
        messages = with_progress(messages, sim.report, until_s=until)
    started = time.monotonic()
    interrupted = False
    try:
        if args.dry_run:
            sent = sum(1 for _ in messages)
        else:
            commands = {NCMD_FILTER: lambda topic, payload: _rebirth(sim, topic, payload)}
            with Publisher(args.mqtt_url, window=args.window, qos=args.qos, commands=commands) as publisher:
                sent = publisher.publish_many(messages, rate=rate)
    except KeyboardInterrupt:
        interrupted, sent = True, sim.report.messages
    except (OSError, TimeoutError) as exc:
        print(f"error: cannot publish to {args.mqtt_url}: {exc}", file=sys.stderr)
        return 1
    elapsed = time.monotonic() - started
    print(sim.report.summary(), file=sys.stderr)
    print(f"  {sent:,} messages in {elapsed:.1f} s: {sent / max(elapsed, 1e-9):,.0f} msg/s", file=sys.stderr)
    if args.report:
        args.report.write_bytes(orjson.dumps(sim.report.to_dict(), option=orjson.OPT_INDENT_2))
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
