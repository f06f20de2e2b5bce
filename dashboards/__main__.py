"""``python -m dashboards build|check|push``: regenerate, verify or upload the Grafana dashboards."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dashboards import alerts
from dashboards.build import JSON_DIR, load_committed, rendered, stale_files, write_all
from dashboards.lint import lint_alert_rules, lint_dashboards, panels_of
from energy_core.cli import exits_on_config_error


@exits_on_config_error
def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code (2 and one line on a configuration mistake)."""
    parser = argparse.ArgumentParser(prog="python -m dashboards", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help=f"regenerate the JSON under {JSON_DIR}")
    sub.add_parser("check", help="fail if the committed JSON is stale or does not pass the lint")
    push = sub.add_parser("push", help="upload to Grafana (GRAFANA_URL, GRAFANA_TOKEN or user/password)")
    push.add_argument("--message", default="dashboards as code: python -m dashboards push")
    args = parser.parse_args(argv)

    if args.command == "build":
        for path in write_all():
            print(f"wrote {path}")
        print(f"wrote {alerts.write()}")
        return 0
    if args.command == "check":
        problems = stale_files() + lint_dashboards(load_committed())
        problems += alerts.stale()
        if alerts.FILE.is_file():
            problems += [f"{alerts.FILE.name}: {p}" for p in lint_alert_rules(alerts.load_committed())]
        for problem in problems:
            print(problem, file=sys.stderr)
        if any(p.endswith(("stale", "missing", "extra (no dashboard generates it)")) for p in problems):
            print("run `python -m dashboards build` and commit the result", file=sys.stderr)
        if problems:
            return 1
        rules = sum(len(group.get("rules", [])) for group in alerts.load_committed().get("groups", []))
        print(check_summary(load_committed(), rules))
        return 0
    return _push(args.message)


def check_summary(dashboards: dict[str, dict[str, Any]], alert_rules: int = 0) -> str:
    """What a clean ``check`` verified: dashboards, panels, queries and alert rules, in one line."""
    panels = [panel for document in dashboards.values() for panel in panels_of(document)]
    queries = sum(len(panel.get("targets", [])) for panel in panels)
    return (
        f"ok: {len(dashboards)} dashboards, {len(panels)} panels, {queries} queries, "
        f"{alert_rules} alert rules checked "
        "(up to date with the code, lint clean)"
    )


def _push(message: str) -> int:
    from grafana_client.client import GrafanaException
    from requests import RequestException

    from dashboards.push import GrafanaSettings, push
    from energy_core.settings import load

    settings = load(GrafanaSettings)
    try:
        pushed, missing = push(settings, rendered(), message)
    except (RequestException, GrafanaException, OSError, ValueError) as exc:  # one line, not a traceback
        reason = " ".join(str(exc).split())[:300] or type(exc).__name__
        print(f"error: cannot push to GRAFANA_URL={settings.grafana_url}: {reason}", file=sys.stderr)
        return 1
    for dashboard in pushed:
        print(f"pushed {dashboard.uid} v{dashboard.version}: {dashboard.url}")
    for uid in missing:
        print(f"warning: Grafana has no datasource with uid {uid!r}; provision it", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
