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
    keys = sub.add_parser("keys", help="create API keys (the file keeps only their hashes)")
    keys.add_argument(
        "action", choices=["demo", "add"], help="demo: a fresh file with two keys; add: one key"
    )
    keys.add_argument("--out", type=Path, required=True, help="the API_KEYS_FILE to write")
    keys.add_argument("--name", help="add: a name for the key, e.g. tunabyggen-fm")
    keys.add_argument("--scope", help="add: operator or owner:<owner id>")
    args = parser.parse_args(argv)
    logs.configure()
    if args.command == "keys":
        return _keys(args.action, args.out, args.name, args.scope)

    import uvicorn

    from api.app import create_app
    from api.server import server_config
    from api.settings import ApiSettings
    from api.state import load_resources

    try:
        settings = load(ApiSettings)
        resources = load_resources(settings)  # fail here with one line, not in a lifespan traceback
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    uvicorn.Server(server_config(create_app(settings, resources), settings)).run()
    return 0


def _keys(action: str, out: Path, name: str | None, scope: str | None) -> int:
    from api.auth import add_key, write_demo_keys

    if action == "demo":
        for line in write_demo_keys(out):
            print(line)
        return 0
    if not name or not scope:
        print("keys add needs --name and --scope (operator or owner:<id>)", file=sys.stderr)
        return 2
    try:
        print(add_key(out, name, scope))
    except (ConfigError, ValueError) as exc:
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    return 0
