"""``python -m ingest``: run the service; ``python -m ingest deadletters …``: inspect and replay."""

from __future__ import annotations

import argparse
import asyncio
import sys

from ingest import logs
from ingest.config import IngestSettings, load
from ingest.errors import ConfigError
from ingest.registry import Registry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ingest", description=__doc__)
    parser.add_argument("--log-level", default="INFO")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="consume MQTT and write to InfluxDB (the default)")
    dl = sub.add_parser("deadletters", help="list or replay dead letters")
    dl.add_argument("action", choices=["list", "counts", "replay"])
    dl.add_argument("--reason", help="only this reason code")
    dl.add_argument("--limit", type=int, default=50)
    args = parser.parse_args(argv)
    logs.configure(args.log_level)
    try:
        settings = load(IngestSettings)
        registry = Registry.load(settings.assets_file) if settings.assets_file else Registry.empty()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "deadletters":
        from ingest.replay import deadletters_command

        return deadletters_command(settings, args.action, args.reason, args.limit)

    from ingest.service import IngestService

    async def run() -> None:
        await IngestService(settings, registry).run()

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
