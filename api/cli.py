"""Command line of the API: serve it, or create API keys."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ingest import logs
from ingest.config import load
from ingest.errors import ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m api")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="serve the API (the default)")
    keys = sub.add_parser("keys", help="create API keys")
    keys.add_argument("action", choices=["demo"])
    keys.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    logs.configure()
    if args.command == "keys":
        from api.auth import write_demo_keys

        for line in write_demo_keys(args.out):
            print(line)
        return 0

    import uvicorn

    from api.app import create_app
    from api.settings import ApiSettings

    try:
        settings = load(ApiSettings)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(create_app(settings), host=settings.api_host, port=settings.api_port, log_level="warning")
    return 0
