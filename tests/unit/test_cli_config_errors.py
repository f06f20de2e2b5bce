"""One way every command line ends on a configuration mistake: ``configuration error: <one line>`` on
stderr and exit code 2 (energy_core/cli.py), used by ingest, the API and the dashboards."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from energy_core.cli import exits_on_config_error
from energy_core.errors import ConfigError, StoreError


def test_a_config_error_in_main_is_one_line_on_stderr_and_exit_code_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    @exits_on_config_error
    def main(argv: list[str] | None = None) -> int:
        raise ConfigError("INFLUX_URL is required but not set")

    assert main([]) == 2
    out, err = capsys.readouterr()
    assert (out, err) == ("", "configuration error: INFLUX_URL is required but not set\n")


def test_a_main_that_succeeds_keeps_its_arguments_and_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    @exits_on_config_error
    def main(argv: list[str] | None = None) -> int:
        """Doc kept."""
        return len(argv or [])

    assert main(["a", "b", "c"]) == 3
    assert main.__doc__ == "Doc kept."
    assert capsys.readouterr().err == ""


def test_other_errors_pass_through_untouched() -> None:
    @exits_on_config_error
    def main(argv: list[str] | None = None) -> int:
        raise StoreError("/data/spool.sqlite", "disk I/O error")

    with pytest.raises(StoreError):
        main([])


def _mains() -> list[Callable[..., int]]:
    from api.cli import main as api_main
    from dashboards.__main__ import main as dashboards_main
    from ingest.__main__ import main as ingest_main

    return [ingest_main, api_main, dashboards_main]


@pytest.mark.parametrize("main", _mains(), ids=lambda m: m.__module__)
def test_every_command_line_that_loads_settings_uses_the_one_helper(main: Callable[..., int]) -> None:
    assert getattr(main, "__wrapped__", None) is not None, "main is not wrapped by exits_on_config_error"
