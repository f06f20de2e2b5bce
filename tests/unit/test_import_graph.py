"""Imports flow one way (README, "Imports"): the kernel imports none of the others, the four
components build on the kernel and never on each other, and only the test plugin uses them all.

The README's list is compared with the graph read from the code, so neither can drift."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("energy_core", "ingest", "api", "dashboards", "simulators", "energy_testing")

# Who may import whom (besides itself). energy_testing is the pytest plugin: it starts the others.
ALLOWED = {
    "energy_core": set(),
    "ingest": {"energy_core"},
    "api": {"energy_core"},
    "dashboards": {"energy_core"},
    "simulators": {"energy_core"},
    "energy_testing": {"energy_core", "ingest", "api", "simulators", "dashboards"},
}


def imported_packages(package: str) -> dict[str, set[str]]:
    """{other package: {module files importing it}} for every import, also those inside functions."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in PACKAGES and top != package:
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_package_imports_only_what_the_layering_allows() -> None:
    wrong = {
        f"{package} → {other}": sorted(files)
        for package in PACKAGES
        for other, files in imported_packages(package).items()
        if other not in ALLOWED[package]
    }
    assert wrong == {}


def test_the_readme_lists_the_import_graph_the_code_has() -> None:
    section = (ROOT / "README.md").read_text().split("Imports flow one way", 1)[1].split("\n\n", 1)[0]
    listed = {
        package: set(re.findall(r"`(\w+)`", uses))
        for package, uses in re.findall(r"^- `(\w+)` → (.*)$", section, flags=re.MULTILINE)
    }
    actual = {package: set(imported_packages(package)) for package in PACKAGES}
    assert listed == actual
