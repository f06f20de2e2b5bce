"""Render the dashboards to JSON, write them under dashboards/json/, and detect stale files."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from dashboards import emissions, ingest_health, network, owner, substation, substation_performance

JSON_DIR = Path(__file__).resolve().parent / "json"

# File name (without .json) → builder. The file name is also the provisioned dashboard's
# identity on disk; the uid inside is what Grafana and links use.
DASHBOARDS: dict[str, Callable[[], dash.Dashboard]] = {
    "network-overview": network.build,
    "substation-detail": substation.build,
    "owner-buildings": owner.build,
    "emissions": emissions.build,
    "ingest-health": ingest_health.build,
    "substation-performance": substation_performance.build,
}


# Annotation queries the SDK cannot express (InfluxQL), by file name.
ANNOTATIONS: dict[str, Callable[[], list[dict[str, object]]]] = {
    "substation-detail": substation.fault_annotations,
}


def render(builder: dash.Dashboard, annotations: list[dict[str, object]] | None = None) -> dict[str, Any]:
    """The dashboard as a plain JSON object, with panel ids numbered 1, 2, … in layout order.

    The SDK leaves ids at 0; Grafana needs them unique within a dashboard for links and
    panel-level state, and numbering them here keeps the output deterministic.
    """
    document: dict[str, Any] = json.loads(json.dumps(builder.build(), cls=JSONEncoder))
    # The SDK writes `"annotations": {}`; Grafana expects a list, to which it adds its
    # built-in "Annotations & Alerts" query on load.
    document.setdefault("annotations", {}).setdefault("list", []).extend(annotations or [])
    next_id = 1
    for panel in document.get("panels", []):
        panel["id"] = next_id
        next_id += 1
        for nested in panel.get("panels", []):  # panels inside collapsed rows
            nested["id"] = next_id
            next_id += 1
    return document


def to_text(document: dict[str, Any]) -> str:
    """Stable text form: sorted keys, two-space indent, real UTF-8 (°, ΔT, ä), trailing newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def rendered() -> dict[str, dict[str, Any]]:
    """Every dashboard, rendered, by file name."""
    return {
        name: render(factory(), ANNOTATIONS[name]() if name in ANNOTATIONS else None)
        for name, factory in DASHBOARDS.items()
    }


def write_all(directory: Path = JSON_DIR) -> list[Path]:
    """Regenerate every JSON file; remove files of dashboards that no longer exist."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, document in rendered().items():
        path = directory / f"{name}.json"
        path.write_text(to_text(document), encoding="utf-8")
        written.append(path)
    for orphan in set(directory.glob("*.json")) - set(written):
        orphan.unlink()
    return written


def stale_files(directory: Path = JSON_DIR) -> list[str]:
    """Names of committed files that differ from what the code generates (or are missing/extra)."""
    expected = {f"{name}.json": to_text(document) for name, document in rendered().items()}
    present = {path.name for path in directory.glob("*.json")} if directory.is_dir() else set()
    problems = [f"{name} is extra (no dashboard generates it)" for name in sorted(present - set(expected))]
    for name, text in sorted(expected.items()):
        path = directory / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{name} is stale")
    return problems


def load_committed(directory: Path = JSON_DIR) -> dict[str, dict[str, Any]]:
    """The committed JSON files, parsed, by file name without extension."""
    return {
        path.stem: json.loads(path.read_text(encoding="utf-8")) for path in sorted(directory.glob("*.json"))
    }
