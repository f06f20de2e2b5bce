"""The dead-letter store is bounded by bytes and age, cuts huge payloads (keeping their hash),
pages its listing, and upgrades a store written by an older version in place."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from pathlib import Path

import pytest

from energy_core.deadletters import ROW_OVERHEAD, STORED_PAYLOAD_MAX, DeadLetter, DeadLetterStore
from energy_core.errors import Reason
from ingest.config import IngestSettings

DAY_NS = 86400 * 10**9


def letter(payload: bytes, received_ns: int | None = None, topic: str = "energy/v1/hm-1") -> DeadLetter:
    return DeadLetter(topic, payload, Reason.SCHEMA, "bad", received_ns or time.time_ns())


@pytest.fixture
def drops() -> list[tuple[str, int]]:
    return []


def open_store(path: Path, drops: list[tuple[str, int]], **bounds: float) -> DeadLetterStore:
    return DeadLetterStore(path, on_dropped=lambda bound, n: drops.append((bound, n)), **bounds)  # type: ignore[arg-type]


async def test_a_payload_above_64_kib_is_stored_cut_with_the_length_and_sha256_of_the_whole(tmp_path, drops):
    big = bytes(range(256)) * 1024  # 256 KiB
    store = open_store(tmp_path / "dl.sqlite", drops)
    try:
        await store.add_many([letter(big), letter(b"small")])
        cut, whole = store.list()
    finally:
        store.close()
    assert cut.truncated
    assert cut.payload == big[:STORED_PAYLOAD_MAX]
    assert cut.payload_bytes == len(big)
    assert cut.payload_sha256 == hashlib.sha256(big).hexdigest()
    assert not whole.truncated
    assert whole.payload == b"small"
    assert whole.payload_sha256 == hashlib.sha256(b"small").hexdigest()
    assert drops == []


async def test_letters_older_than_the_age_bound_are_dropped_first_and_counted(tmp_path, drops):
    store = open_store(tmp_path / "dl.sqlite", drops, max_age_s=7 * 86400)
    now = time.time_ns()
    try:
        await store.add_many([letter(b"old", now - 8 * DAY_NS), letter(b"recent", now - 6 * DAY_NS)])
        await store.add_many([letter(b"new", now)])
        kept = [d.payload for d in store.list()]
    finally:
        store.close()
    assert kept == [b"recent", b"new"]
    assert drops == [("age", 1)]


async def test_the_oldest_letters_are_dropped_to_keep_the_store_within_its_byte_bound(tmp_path, drops):
    payload = b"x" * 60_000
    size = len(payload) + 2 + len(b"energy/v1/hm-1") + len(b"bad") + ROW_OVERHEAD
    bound = 1024 * 1024
    store = open_store(tmp_path / "dl.sqlite", drops, max_bytes=bound)
    try:
        for i in range(30):
            await store.add_many([letter(payload + f"{i:02d}".encode())])
        kept = store.list(limit=1000)
        stored = store.stored_bytes()
    finally:
        store.close()
    fits = bound // size
    assert [d.payload[-2:] for d in kept] == [f"{i:02d}".encode() for i in range(30 - fits, 30)]
    assert stored <= bound
    assert sum(n for bound_, n in drops if bound_ == "bytes") == 30 - fits


async def test_a_listing_page_is_bounded_by_count_and_payload_bytes_and_names_the_next(tmp_path, drops):
    store = open_store(tmp_path / "dl.sqlite", drops)
    try:
        await store.add_many([letter(b"p" * 1000) for _ in range(5)])
        first, after = store.page(limit=2)
        second, after2 = store.page(limit=2, after_id=after or 0)
        last, end = store.page(limit=2, after_id=after2 or 0)
        by_bytes, after_bytes = store.page(limit=100, max_payload_bytes=2500)
        one_big, _ = store.page(limit=100, max_payload_bytes=10)
    finally:
        store.close()
    ids = [d.id for d in first + second + last]
    assert len(ids) == 5
    assert ids == sorted(set(ids))
    assert (after, after2, end) == (ids[1], ids[3], None)
    assert [d.id for d in by_bytes] == ids[:2]
    assert after_bytes == ids[1]
    assert [d.id for d in one_big] == ids[:1]  # a page always carries at least one letter


async def test_a_store_written_before_the_bounds_is_upgraded_in_place_and_its_bytes_counted(tmp_path, drops):
    path = tmp_path / "dl.sqlite"
    old = sqlite3.connect(path)
    old.executescript("""
        CREATE TABLE dead_letters (
            id INTEGER PRIMARY KEY AUTOINCREMENT, received_ns INTEGER NOT NULL, topic TEXT NOT NULL,
            payload BLOB NOT NULL, reason TEXT NOT NULL, detail TEXT NOT NULL, device TEXT,
            replayed_ns INTEGER
        );
    """)
    old.execute(
        "INSERT INTO dead_letters (received_ns, topic, payload, reason, detail) VALUES (?, ?, ?, ?, ?)",
        (time.time_ns(), "energy/v1/hm-1", b"{}", "schema", "bad"),
    )
    old.execute(  # a point refused while draining, "replayed" by publishing nothing
        "INSERT INTO dead_letters (received_ns, topic, payload, reason, detail, replayed_ns)"
        " VALUES (?, '', ?, 'rejected_by_db', 'conflict', ?)",
        (time.time_ns(), b"district_heating x=1 1", time.time_ns()),
    )
    old.commit()
    old.close()
    store = open_store(path, drops)
    try:
        upgraded, spooled_line = store.list()
        stored = store.stored_bytes()
        await store.add_many([letter(b"new")])
        assert store.stored_bytes() > stored
    finally:
        store.close()
    assert upgraded.kind == "message"
    assert upgraded.payload_bytes == 2
    assert not upgraded.truncated
    assert stored == 2 + len("energy/v1/hm-1") + len("bad") + 22 + len("conflict") + 2 * ROW_OVERHEAD
    assert (spooled_line.kind, spooled_line.replayed_ns) == ("line", None)  # replayable, as it never was


@pytest.mark.parametrize(
    ("key", "value"),
    [("ingest_deadletter_max_bytes", 1000), ("ingest_deadletter_max_age_days", 0)],
)
def test_dead_letter_bounds_below_their_minimum_are_refused(key, value):
    with pytest.raises(ValueError, match=key):
        IngestSettings(influx_url="http://127.0.0.1:8086", **{key: value})


async def test_prune_drops_letters_that_aged_past_the_bound_while_nothing_was_added(tmp_path, drops):
    path = tmp_path / "dl.sqlite"
    store = open_store(path, drops, max_age_s=365 * 86400)
    try:
        await store.add_many([letter(b"ten days old", time.time_ns() - 10 * DAY_NS), letter(b"today")])
    finally:
        store.close()
    store = open_store(path, drops, max_age_s=7 * 86400)  # as ingest restarts with a shorter bound
    try:
        assert store.prune() == {"age": 1, "bytes": 0}
        assert [d.payload for d in store.list()] == [b"today"]
    finally:
        store.close()
    assert drops == [("age", 1)]
