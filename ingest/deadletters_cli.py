"""``python -m ingest deadletters list|counts|replay``: the dead-letter store from the command line."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from energy_core.deadletters import DeadLetterStore
from energy_core.influx import InfluxClient
from energy_core.replay import ReplayReport, replay
from energy_core.timeutil import NS, STOCKHOLM
from ingest.config import IngestSettings


def deadletters_command(
    settings: IngestSettings,
    action: str,
    reason: str | None,
    limit: int,
    *,
    after_id: int = 0,
    ids: Sequence[int] | None = None,
) -> int:
    """``python -m ingest deadletters list|counts|replay``; replay exits 1 when any letter was skipped."""
    if action in ("counts", "list"):
        return print_dead_letters(settings.ingest_data_dir, action, reason, limit, after_id=after_id)
    store = DeadLetterStore(settings.ingest_data_dir / "dead_letters.sqlite")
    try:
        report = asyncio.run(_replay(settings, store, ids=ids, reason=reason, after_id=after_id, limit=limit))
        for letter_id, why in report.skipped:
            print(f"skipped {letter_id}\t{why}")
        print(f"replayed {len(report.replayed)} of {report.selected} dead letters")
        return 1 if report.skipped else 0
    finally:
        store.close()


LIST_HEADER = "id\treceived\tkind\treason\ttopic\tdetail\tpayload"
SHOWN_PAYLOAD = 120  # characters of text (or bytes, as hex) that ``list`` shows of a payload


def print_dead_letters(
    data_dir: Path, action: str, reason: str | None, limit: int, *, after_id: int = 0
) -> int:
    """``deadletters counts|list`` on the store in ``data_dir``; an absent store file is empty and
    is not created (nothing was ever dead-lettered there)."""
    path = data_dir / "dead_letters.sqlite"
    if not path.exists():
        if action == "list":
            print(LIST_HEADER)
        return 0
    store = DeadLetterStore(path)
    try:
        if action == "counts":
            for name, count in sorted(store.counts().items()):
                print(f"{name}\t{count}")
            return 0
        letters, next_id = store.page(reason=reason, after_id=after_id, limit=limit)
        print(LIST_HEADER)
        for d in letters:
            cut = (
                f"\ttruncated from {d.payload_bytes} bytes, sha256 {d.payload_sha256}" if d.truncated else ""
            )
            fields = (str(d.id), local_time(d.received_ns), d.kind, d.reason, d.topic, d.detail)
            print("\t".join((*(_cell(f) for f in fields), shown_payload(d.payload))) + cut)
        if next_id is not None:
            print(f"next: --after-id {next_id}")
    finally:
        store.close()
    return 0


def local_time(ns: int) -> str:
    """A receive time as Europe/Stockholm local time with its offset, to the millisecond."""
    moment = dt.datetime.fromtimestamp(ns / NS, STOCKHOLM)  # as the API's JSON gives times
    return moment.isoformat(timespec="milliseconds")


def shown_payload(payload: bytes) -> str:
    """UTF-8 text (control characters escaped so the line stays one TSV row), or ``hex:…`` when the
    payload is not UTF-8 (Sparkplug protobuf, wM-Bus frames)."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason != "unexpected end of data":  # not cut mid-character (a truncated letter): binary
            return "hex:" + payload[:SHOWN_PAYLOAD].hex()
        text = payload[: exc.start].decode("utf-8", errors="replace")
    return _cell(text[:SHOWN_PAYLOAD])


def _cell(text: str) -> str:
    """One TSV cell: tabs, newlines and other control characters escaped."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


async def _replay(
    settings: IngestSettings,
    store: DeadLetterStore,
    *,
    ids: Sequence[int] | None,
    reason: str | None,
    after_id: int,
    limit: int,
) -> ReplayReport:
    async with InfluxClient.from_settings(settings) as influx:
        return await replay(
            store,
            settings,
            influx,
            ids=ids,
            reason=reason,
            after_id=after_id,
            limit=limit,
            client_id="ingest-replay",
        )
