"""Command line of the API: serve it, or create API keys."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from pydantic import ValidationError

from energy_core import logs
from energy_core.cli import exits_on_config_error
from energy_core.errors import ConfigError
from energy_core.settings import AssetsSettings, load

_OWNER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")  # as api/auth.py's KeyEntry accepts


@exits_on_config_error
def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (2 and one line on a configuration mistake)."""
    parser = argparse.ArgumentParser(prog="python -m api")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="serve the API (the default)")
    keys = sub.add_parser("keys", help="create API keys (the file keeps only their hashes)")
    keys.add_argument(
        "action", choices=["demo", "add"], help="demo: a fresh file with two keys; add: one key"
    )
    keys.add_argument("--out", type=Path, required=True, help="the API_KEYS_FILE to write")
    keys.add_argument("--name", help="add: a name for the key, e.g. tunabyggen-fm")
    keys.add_argument(
        "--scope", help="add: operator or owner:<owner id> (checked against ASSETS_FILE when it is set)"
    )
    args = parser.parse_args(argv)
    logs.configure()
    if args.command == "keys":
        return _keys(args.action, args.out, args.name, args.scope)

    import uvicorn

    from api.app import create_app
    from api.server import server_config
    from api.settings import ApiSettings
    from api.state import load_resources

    settings = load(ApiSettings)
    resources = load_resources(settings)  # fail here with one line, not in a lifespan traceback
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
        check_scope(scope, load(AssetsSettings).assets_file)
        print(add_key(out, name, scope))
    except ValidationError as exc:  # the name or scope KeyEntry refused: say which, in one line
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "key"
        print(f"error: --{where} {error['input']!r} is invalid: {error['msg']}", file=sys.stderr)
        return 2
    except (ConfigError, ValueError) as exc:
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    return 0


def check_scope(scope: str, assets_file: Path | None) -> None:
    """Refuse a scope that is neither ``operator`` nor ``owner:<id>``, or (with a registry) whose
    owner the registry does not know: raises ConfigError with one line naming the valid ones."""
    from energy_core.registry import Registry

    owner = scope.removeprefix("owner:") if scope.startswith("owner:") else None
    if scope != "operator" and not (owner and _OWNER_ID.fullmatch(owner)):
        raise ConfigError(f"--scope {scope!r} is not a scope: valid scopes are operator and owner:<owner id>")
    if owner is None or assets_file is None:
        return
    known = sorted(Registry.load(assets_file).owners)
    if owner not in known:
        raise ConfigError(
            f"--scope {scope!r}: ASSETS_FILE {assets_file} has no owner {owner!r}; "
            f"known owners: {', '.join(known) or '(none)'}"
        )
