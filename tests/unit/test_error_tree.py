"""One error root: every exception the project defines descends from ``EnergyError``, in the
subtrees ``energy_core/errors.py`` documents, so one ``except`` can say "InfluxDB failed" or "ours"."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

from api.errors import ApiError
from energy_core.errors import (
    ConfigError,
    EnergyError,
    InfluxError,
    InfluxFailure,
    InfluxRefused,
    InfluxUnavailable,
    PayloadError,
    ProtocolError,
    StorageError,
    StoreError,
)
from energy_testing.errors import NotInstalled
from ingest.mqtt_codec import MalformedPacket, PacketTooLarge
from ingest.spool import SpoolFull

PACKAGES = ("energy_core", "ingest", "api", "dashboards", "simulators", "energy_testing")

# Each class and the one parent in the tree it hangs from (energy_core/errors.py's docstring).
TREE: list[tuple[type[BaseException], type[BaseException]]] = [
    (ConfigError, EnergyError),
    (PayloadError, EnergyError),
    (ProtocolError, EnergyError),
    (MalformedPacket, ProtocolError),
    (PacketTooLarge, ProtocolError),
    (InfluxFailure, EnergyError),
    (InfluxError, InfluxFailure),
    (InfluxUnavailable, InfluxFailure),
    (InfluxRefused, InfluxUnavailable),
    (StorageError, EnergyError),
    (StoreError, StorageError),
    (SpoolFull, StorageError),
    (ApiError, EnergyError),
    (NotInstalled, EnergyError),
]


def public_exception_classes() -> list[type[BaseException]]:
    """Every exception class defined (not merely imported) in a module of the project's packages
    whose name does not start with ``_``."""
    found: list[type[BaseException]] = []
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        modules = [package_name] + [
            info.name for info in pkgutil.walk_packages(package.__path__, prefix=f"{package_name}.")
        ]
        for name in modules:
            module = importlib.import_module(name)
            for attr, value in vars(module).items():
                if (
                    inspect.isclass(value)
                    and issubclass(value, BaseException)
                    and value.__module__ == name
                    and not attr.startswith("_")
                ):
                    found.append(value)
    return found


def test_every_public_exception_class_of_the_project_descends_from_energy_error() -> None:
    classes = public_exception_classes()
    assert set(classes) >= {child for child, _ in TREE}, "the scan missed a class it should see"
    outside = sorted(f"{c.__module__}.{c.__qualname__}" for c in classes if not issubclass(c, EnergyError))
    assert outside == []


def test_every_public_exception_class_has_its_place_in_the_documented_tree() -> None:
    placed = {child for child, _ in TREE} | {EnergyError}
    assert set(public_exception_classes()) == placed


@pytest.mark.parametrize(("child", "parent"), TREE, ids=lambda c: c.__name__)
def test_each_class_hangs_from_its_documented_parent(
    child: type[BaseException], parent: type[BaseException]
) -> None:
    assert child.__bases__[0] is parent


def test_the_subtrees_do_not_overlap_so_each_except_catches_only_its_own() -> None:
    """InfluxError is not an outage (it dead-letters), an outage is not an error answer (it spools),
    a full spool is not a failing store: callers rely on these being siblings."""
    assert not issubclass(InfluxError, InfluxUnavailable)
    assert not issubclass(InfluxUnavailable, InfluxError)
    assert not issubclass(SpoolFull, StoreError)
    assert not issubclass(PacketTooLarge, MalformedPacket)


def test_codec_and_harness_errors_keep_their_builtin_bases_for_callers_that_catch_those() -> None:
    assert issubclass(MalformedPacket, ValueError)
    assert issubclass(PacketTooLarge, ValueError)
    assert issubclass(NotInstalled, RuntimeError)


def test_the_documented_tree_names_every_class_in_it() -> None:
    import energy_core.errors

    doc = energy_core.errors.__doc__ or ""
    missing = [child.__name__ for child, _ in TREE if child.__name__ not in doc]
    assert missing == []
