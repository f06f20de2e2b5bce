"""What every command line of the project (``python -m ingest|api|dashboards|simulators``) does
alike: a configuration mistake ends the command with one line on stderr and exit code 2.

Usage::

    @exits_on_config_error
    def main(argv: list[str] | None = None) -> int:
        settings = load(IngestSettings)  # a ConfigError here (or later) is the one line, not a traceback
        ...
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec

from energy_core.errors import ConfigError

CONFIG_ERROR_EXIT = 2  # as argparse exits on a bad command line: the invocation is wrong, not the run

_P = ParamSpec("_P")


def report_config_error(exc: ConfigError) -> int:
    """Print ``configuration error: <the one line naming the key>`` on stderr; return the exit code."""
    print(f"configuration error: {exc}", file=sys.stderr)
    return CONFIG_ERROR_EXIT


def exits_on_config_error(main: Callable[_P, int]) -> Callable[_P, int]:
    """Decorate a command's ``main``: a :class:`ConfigError` raised anywhere in it becomes
    :func:`report_config_error`'s line and exit code 2. Other errors pass through untouched."""

    @functools.wraps(main)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> int:
        try:
            return main(*args, **kwargs)
        except ConfigError as exc:
            return report_config_error(exc)

    return run
