"""Server-Sent Events: live readings and the overview for a scope (or one site).

Design: the stream polls InfluxDB every ``API_STREAM_INTERVAL_S`` (1 s) for points newer than
the newest it has sent, minus a grace window, and drops the ones it has sent already. Polling
the store (instead of tapping the MQTT feed) means the stream shows exactly what is queryable,
needs no coupling to ingest, and works with any number of API replicas. The grace window
catches points that arrive up to 10 s late (ingest batches) with timestamps a little in the
past; later stragglers are not replayed live but are in every query. Each event's ``id`` is the
cursor, so a reconnecting EventSource resumes with ``Last-Event-ID``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.sse import EventSourceResponse, ServerSentEvent

from api import readings
from api.deps import State, StreamScope, StreamSite
from api.influxql import tag_equals
from api.readings import scope_condition
from api.routes.network import overview_for
from api.timerange import NS, now_ns

router = APIRouter(tags=["live"])

GRACE_NS = 10 * NS  # re-reading 10 s per poll is cheap; ingest's latency is well under 1 s
_FIRST_LOOK_BACK_NS = 60 * NS


@router.get("/stream", response_class=EventSourceResponse)
async def stream(
    state: State,
    scope: StreamScope,
    site: StreamSite,
    last_event_id: Annotated[str | None, Header(pattern=r"^[0-9]{1,19}$")] = None,
) -> AsyncIterator[ServerSentEvent]:
    """``overview`` events (each poll) and ``reading`` events (each new point) for the key's scope.

    The key may come as ``?key=`` because browsers' EventSource cannot send headers; see
    docs/api.md for the trade-off. Another owner's ``site`` is a 404 before the stream opens.
    """
    condition = " AND ".join(
        c for c in (scope_condition(scope), tag_equals("site", site.id) if site else "") if c
    )
    # Resuming: nothing at or before the client's last event again. New: the last minute first.
    resumed_at = int(last_event_id) if last_event_id else 0
    cursor = resumed_at or now_ns() - _FIRST_LOOK_BACK_NS
    sent: dict[tuple[str, str, int], None] = {}
    while True:
        overview = await overview_for(state, scope, site, None)
        yield ServerSentEvent(event="overview", data=overview.model_dump(mode="json"), id=str(cursor))
        for ts_ns, reading in await readings.since(state.influx, condition, cursor - GRACE_NS):
            key = (reading.measurement, reading.device, ts_ns)
            if key in sent or ts_ns <= resumed_at:
                continue
            sent[key] = None
            cursor = max(cursor, ts_ns)
            yield ServerSentEvent(event="reading", data=reading.model_dump(mode="json"), id=str(cursor))
        for key in [k for k in sent if k[2] <= cursor - GRACE_NS]:
            del sent[key]
        await asyncio.sleep(state.settings.api_stream_interval_s)
