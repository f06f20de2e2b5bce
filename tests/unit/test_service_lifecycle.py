"""The service opens its resources in ``__aenter__``, on one exit stack: a failure half-way leaks nothing."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path

import pytest

from energy_core.errors import StoreError
from energy_core.registry import Registry
from ingest.config import IngestSettings
from ingest.service import IngestService

STORES = ("spool", "dead_letters", "energy")  # opened in this order; each has a thread of its own


def settings(data_dir: Path) -> IngestSettings:
    return IngestSettings(
        _env_file=None,  # type: ignore[call-arg]  # pydantic-settings' init keyword: no .env leaks in
        influx_url="http://127.0.0.1:9",
        ingest_data_dir=data_dir,
        ingest_energy="live",
        ingest_shared_group=None,
    )


def store_threads(excluding: set[threading.Thread]) -> list[str]:
    """Names of the live store threads (``<store>_<n>``) that were not alive before."""
    return sorted(
        t.name
        for t in threading.enumerate()
        if t not in excluding and t.is_alive() and t.name.rsplit("_", 1)[0] in STORES
    )


async def test_the_stores_are_opened_on_entering_and_their_threads_end_on_leaving(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    service = IngestService(settings(tmp_path / "data"), Registry.empty())
    assert store_threads(before) == []
    assert not (tmp_path / "data").exists(), "nothing may be opened (or created) before __aenter__"
    async with service:
        assert store_threads(before) == ["dead_letters_0", "energy_0", "spool_0"]
    assert store_threads(before) == []


@pytest.mark.parametrize("failing", STORES)
async def test_a_store_that_cannot_be_opened_leaves_no_thread_of_the_others_alive(
    tmp_path: Path, failing: str
) -> None:
    (tmp_path / f"{failing}.sqlite").mkdir(parents=True)  # a folder where the file should be
    before = set(threading.enumerate())
    with pytest.raises(StoreError) as raised:
        async with IngestService(settings(tmp_path), Registry.empty()):
            pytest.fail("entered a service whose store could not be opened")
    assert raised.value.path == str(tmp_path / f"{failing}.sqlite")
    assert store_threads(before) == []


@pytest.mark.parametrize(
    ("failing", "schema"),
    [
        # Opens, but the migration cannot alter a view / the history cannot be read.
        ("dead_letters", "CREATE VIEW dead_letters AS SELECT 1 AS id"),
        ("energy", "CREATE TABLE registers (x)"),
    ],
)
async def test_a_store_whose_file_opens_but_cannot_be_read_leaves_no_thread_alive(
    tmp_path: Path, failing: str, schema: str
) -> None:
    with contextlib.closing(sqlite3.connect(tmp_path / f"{failing}.sqlite")) as db:
        db.execute(schema)
        db.commit()
    before = set(threading.enumerate())
    with pytest.raises(StoreError):
        async with IngestService(settings(tmp_path), Registry.empty()):
            pytest.fail("entered a service whose store could not be read")
    assert store_threads(before) == []
