"""``python -m ingest``: run the service; ``deadletters …``: inspect and replay;
``backfill --start … --end …``: recompute ``energy`` and ``emissions`` from the stored registers;
``energy --follow``: keep deriving them from the stored registers (for ``INGEST_ENERGY=off``)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import signal
import sys

from energy_core import logs
from energy_core.cli import exits_on_config_error
from energy_core.errors import ConfigError, Reason, StoreError
from energy_core.factors import EmissionFactors
from energy_core.registry import Registry
from energy_core.settings import DataDirSettings, load
from energy_core.timeutil import HOUR_NS, NS, STOCKHOLM, parse_iso
from ingest.config import IngestSettings


@exits_on_config_error
def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (2 and one line on a configuration mistake)."""
    parser = argparse.ArgumentParser(prog="python -m ingest", description=__doc__)
    parser.add_argument("--log-level", default="INFO")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="consume MQTT and write to InfluxDB (the default)")
    dl = sub.add_parser(
        "deadletters",
        help="count, list or replay dead letters (counts and list read only INGEST_DATA_DIR)",
        description="Dead letters: messages (or readings) ingest could not store, with their reason.",
    )
    reasons = [reason.value for reason in Reason]
    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument(
        "--reason", choices=reasons, metavar="REASON", help=f"only this reason: {', '.join(reasons)}"
    )
    paged = argparse.ArgumentParser(add_help=False)
    paged.add_argument(
        "--limit", type=_count, default=50, help="letters per page, or to replay (1-1000, default 50)"
    )
    paged.add_argument(
        "--after-id", type=int, default=0, help="start after this letter id (list prints the next one)"
    )
    actions = dl.add_subparsers(dest="action", required=True, metavar="{counts,list,replay}")
    actions.add_parser(
        "counts", help="letters per reason (reads INGEST_DATA_DIR only)", description="Letters per reason."
    )
    actions.add_parser(
        "list",
        parents=[shared, paged],
        help="oldest first: id, received (Europe/Stockholm), kind, reason, topic, detail, payload",
        description="Tab-separated, with a header. The payload is shown as UTF-8 text (control "
        "characters escaped, cut at 120 characters) or, when it is not UTF-8 (Sparkplug protobuf), "
        "as hex: prefixed 'hex:', cut at 120 bytes. Reads INGEST_DATA_DIR only.",
    )
    rp = actions.add_parser(
        "replay",
        parents=[shared, paged],
        help="republish pending letters over MQTT (or rewrite lines to InfluxDB); exits 1 on skips",
        description="Marks replayed only what the broker (or InfluxDB) really took.",
    )
    rp.add_argument("--ids", type=_ids, help="replay exactly these letters: 12,15,16")
    bf = sub.add_parser(
        "backfill", help="recompute energy and emissions for a time range (after factors change)"
    )
    bf.add_argument(
        "--start",
        required=True,
        type=_local_ns,
        help="ISO 8601, e.g. 2025-01-01T00:00; no offset = Europe/Stockholm",
    )
    bf.add_argument(
        "--end", required=True, type=_local_ns, help="ISO 8601, inclusive; no offset = Europe/Stockholm"
    )
    bf.add_argument("--chunk-hours", type=float, default=1.0, help="registers read per query (default 1 h)")
    bf.add_argument("--lookback-days", type=float, default=35.0, help="how far back to seek each predecessor")
    bf.add_argument(
        "--replace-emissions",
        action="store_true",
        help="delete the range's emissions first (InfluxDB 1.x), for methods dropped from the file",
    )
    en = sub.add_parser(
        "energy",
        help="derive energy and emissions from the stored registers over a sliding window "
        "(for INGEST_ENERGY=off replicas; run exactly one)",
    )
    en.add_argument("--follow", action="store_true", help="repeat every --every seconds (else one pass)")
    en.add_argument("--every", type=float, default=60.0, help="seconds between passes (default 60)")
    en.add_argument(
        "--window-minutes", type=float, default=120.0, help="recompute [now - window, now] (default 120)"
    )
    en.add_argument("--chunk-hours", type=float, default=1.0, help="registers read per query (default 1 h)")
    en.add_argument("--lookback-days", type=float, default=35.0, help="how far back to seek each predecessor")
    en.add_argument(
        "--metrics-port",
        type=int,
        help="serve /metrics, /healthz, /readyz on INGEST_HTTP_HOST at this port (default: none)",
    )
    _add_rollup_parser(sub)  # roll-ups (issue 14)
    _add_analyse_parser(sub)  # the daily analysis (issue 15)
    args = parser.parse_args(argv)
    logs.configure(args.log_level)
    if args.command == "deadletters" and args.action in ("counts", "list"):
        return _read_dead_letters(args)
    settings = load(IngestSettings)
    if args.command in (None, "run", "backfill", "energy"):
        # backfill and energy read device tags from the stored points; the registry gives them
        # each meter's power limit (max_power_kw, site area) for plausible interval energy
        registry = Registry.load(settings.assets_file) if settings.assets_file else Registry.empty()
        factors = EmissionFactors.load(settings.emission_factors_file)  # fail now, in one line
    if args.command == "deadletters":
        from ingest.deadletters_cli import deadletters_command

        if not settings.ingest_data_dir.is_dir():  # replaying from a mistyped path would find nothing
            raise ConfigError(f"INGEST_DATA_DIR={settings.ingest_data_dir} does not exist")
        return deadletters_command(
            settings, args.action, args.reason, args.limit, after_id=args.after_id, ids=args.ids
        )
    if args.command == "backfill":
        return _backfill(settings, factors, registry, args)
    if args.command == "energy":
        return _energy(settings, factors, registry, args)
    if args.command == "rollup":
        return _rollup(settings, args)
    if args.command == "analyse":
        return _analyse(settings, args)

    from ingest.service import IngestService

    async def run() -> None:
        async with IngestService(settings, registry) as service:
            await service.run()

    try:
        asyncio.run(run())
    except StoreError as exc:  # raised while opening the stores, before anything was consumed
        print(f"data directory error: INGEST_DATA_DIR={settings.ingest_data_dir}: {exc}", file=sys.stderr)
        return 2
    return 0


def _read_dead_letters(args: argparse.Namespace) -> int:
    """``deadletters counts|list``: needs only INGEST_DATA_DIR, and refuses one that does not exist
    (a mistyped path would otherwise show an empty store, and create it)."""
    from ingest.deadletters_cli import print_dead_letters

    data_dir = load(DataDirSettings).ingest_data_dir
    if not data_dir.is_dir():
        raise ConfigError(
            f"INGEST_DATA_DIR={data_dir} does not exist (is it mistyped?); "
            "counts and list read an existing data directory and never create one"
        )
    try:
        return print_dead_letters(
            data_dir,
            args.action,
            getattr(args, "reason", None),
            getattr(args, "limit", 50),
            after_id=getattr(args, "after_id", 0),
        )
    except StoreError as exc:
        print(f"data directory error: INGEST_DATA_DIR={data_dir}: {exc}", file=sys.stderr)
        return 2


def _count(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 1000:
        raise argparse.ArgumentTypeError("must be 1 to 1000")
    return value


def _ids(text: str) -> list[int]:
    try:
        ids = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("must be comma-separated letter ids") from None
    if not ids or len(ids) > 1000 or not all(1 <= i < 2**63 for i in ids):
        raise argparse.ArgumentTypeError("must be 1 to 1000 letter ids, each from 1 to 2^63-1")
    return ids


def _local_ns(text: str) -> int:
    """An ISO 8601 time as ns since the epoch; without an offset it is Europe/Stockholm local time."""
    return parse_iso(text, naive=STOCKHOLM)


def _backfill(
    settings: IngestSettings, factors: EmissionFactors, registry: Registry, args: argparse.Namespace
) -> int:
    from energy_core.influx import InfluxClient
    from ingest.derive.backfill import backfill
    from ingest.derive.plausible import energy_limits

    if args.end < args.start or args.chunk_hours <= 0 or args.lookback_days < 0:
        print(
            "backfill: --end must not be before --start; --chunk-hours > 0; --lookback-days ≥ 0",
            file=sys.stderr,
        )
        return 2

    async def run() -> None:
        async with InfluxClient.from_settings(settings, timeout_s=120.0) as influx:
            report = await backfill(
                influx,
                factors,
                args.start,
                args.end,
                chunk_ns=int(args.chunk_hours * HOUR_NS),
                lookback_ns=int(args.lookback_days * 24 * HOUR_NS),
                replace_emissions=args.replace_emissions,
                limits=energy_limits(settings, registry),
            )
        print(
            f"backfill: {report.registers_read} register readings, {report.energy_points} energy points, "
            f"{report.emissions_points} emissions points written, "
            f"{report.implausible} implausible intervals written as 0 kWh"
        )

    asyncio.run(run())
    return 0


def _energy(
    settings: IngestSettings, factors: EmissionFactors, registry: Registry, args: argparse.Namespace
) -> int:
    from energy_core.influx import InfluxClient
    from ingest.derive.follow import EnergyFollower
    from ingest.derive.plausible import energy_limits
    from ingest.health import HealthServer
    from ingest.rollup import RollupMaintainer

    if args.every <= 0 or args.window_minutes <= 0 or args.chunk_hours <= 0 or args.lookback_days < 0:
        print(
            "energy: --every, --window-minutes and --chunk-hours must be > 0; --lookback-days ≥ 0",
            file=sys.stderr,
        )
        return 2

    async def run() -> None:
        async with InfluxClient.from_settings(settings, timeout_s=120.0) as influx:
            follower = EnergyFollower(
                influx,
                factors,
                window_ns=int(args.window_minutes * 60 * NS),
                lookback_ns=int(args.lookback_days * 24 * HOUR_NS),
                chunk_ns=int(args.chunk_hours * HOUR_NS),
                limits=energy_limits(settings, registry),
            )
            # Roll-ups (issue 14): the follower maintains them for INGEST_ENERGY=off replicas.
            follower.rollups = RollupMaintainer.for_settings(
                settings, follower.metrics.registry, role="follower", influx=influx
            )
            from ingest.analysis.runner import AnalysisRunner  # the daily analysis (issue 15)

            follower.analysis = AnalysisRunner.for_settings(
                settings,
                registry,
                follower.metrics.registry,
                role="follower",
                rollups=follower.rollups,
                influx=influx,
            )
            if not args.follow:
                await follower.run_once()
                return
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
            # A pass cut short by SIGTERM is harmless: what it wrote is idempotent, the rest is
            # written by the next follower's first pass.
            async with asyncio.TaskGroup() as tasks:
                following = tasks.create_task(follower.run(args.every, stop), name="energy-follower")
                serving = None
                if args.metrics_port is not None:
                    health = HealthServer(
                        follower.metrics.registry,
                        lambda: [] if follower.last_pass_ok else ["energy: the last follower pass failed"],
                    )
                    serving = tasks.create_task(
                        health.serve(settings.ingest_http_host, args.metrics_port), name="health-server"
                    )
                await stop.wait()
                following.cancel()
                if serving is not None:
                    serving.cancel()

    asyncio.run(run())
    return 0


# -- roll-ups (issue 14) ---------------------------------------------------------------------------


def _add_rollup_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ru = sub.add_parser(
        "rollup",
        help="rebuild the hourly and daily roll-ups of a range of local days (docs/rollups.md)",
        description="Recomputes rollup_1h and rollup_1d (and the across-site totals) of every local "
        "day from --start's to --end's, both included. Idempotent. Exit 0 done, 1 InfluxDB failed, 2 usage.",
    )
    ru.add_argument(
        "--start", required=True, type=_local_moment, help="a date or time; no offset = Europe/Stockholm"
    )
    ru.add_argument("--end", required=True, type=_local_moment, help="a date or time, its day included")


def _local_moment(text: str) -> dt.datetime:
    from ingest.rollup.cli import local_moment

    try:
        return local_moment(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _rollup(settings: IngestSettings, args: argparse.Namespace) -> int:
    from ingest.rollup.cli import rollup_command

    return asyncio.run(rollup_command(settings, args.start, args.end))


# -- the daily analysis (issue 15) -----------------------------------------------------------------


def _add_analyse_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    an = sub.add_parser(
        "analyse",
        help="analyse a range of local days: substation KPIs and faults (docs/substations.md)",
        description="Recomputes the daily analysis (substation_kpi, substation_fault) of every local day "
        "from --start's to --end's, both included, from the roll-ups (run `rollup` first for history "
        "without them). Idempotent. Needs ASSETS_FILE. Exit 0 done, 1 InfluxDB failed, 2 usage.",
    )
    an.add_argument(
        "--start", required=True, type=_local_moment, help="a date or time; no offset = Europe/Stockholm"
    )
    an.add_argument("--end", required=True, type=_local_moment, help="a date or time, its day included")


def _analyse(settings: IngestSettings, args: argparse.Namespace) -> int:
    from ingest.analysis.cli import analyse_command

    if settings.assets_file is None:
        raise ConfigError("ASSETS_FILE is not set: the analysis reads the registry's heat meters")
    registry = Registry.load(settings.assets_file)
    return asyncio.run(analyse_command(settings, registry, args.start, args.end))


if __name__ == "__main__":
    sys.exit(main())
