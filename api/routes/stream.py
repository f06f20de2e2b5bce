"""Server-Sent Events: live readings and the overview for a scope (or one site).

Design: one shared poller (api/livefeed.py) reads InfluxDB once per ``API_STREAM_INTERVAL_S``
for every open stream and hands each its own points and overview. Polling the store (instead
of tapping the MQTT feed) means the stream shows exactly what is queryable, needs no coupling
to ingest, and works with any number of API replicas. A new stream first gets the last minute,
a resumed one what followed its ``Last-Event-ID`` (at most ``API_STREAM_RESUME_MAX_S`` back),
read page by page for this stream alone, then the shared polls. Each event's ``id`` is the
cursor (the newest point's time in ns), so a reconnecting EventSource resumes where it was.
A key holds at most ``API_STREAMS_PER_KEY`` streams (429 above).

Options for clients that need less (the live page): ``readings=count`` sends, after each
``overview``, a ``count`` event (how many readings that poll brought) instead of every
``reading``; ``readings=none`` neither; ``once=true`` ends the stream after the first overview
(a snapshot: a headless browser's virtual time cannot advance while a stream is open). Every
stream starts with a ``scope`` event naming what it covers. The defaults are as before.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query
from fastapi.sse import EventSourceResponse, ServerSentEvent

from api.deps import State, StreamKeyId, StreamScope, StreamSite
from api.errors import bad_request
from api.livefeed import Subscription
from api.livepages import LivePoint, read_after
from api.readings import scope_condition, site_condition
from api.routes.network import heat_meters_in
from api.timerange import now_ns
from energy_core.registry import Site
from energy_core.timeutil import NS

router = APIRouter(tags=["live"])

_FIRST_LOOK_BACK_NS = 60 * NS
_MAX_EVENT_ID = 2**63 - 1  # InfluxDB's int64 nanoseconds


def resume_after(
    state: State,
    last_event_id: Annotated[str | None, Header(description="the id of the last event received")] = None,
) -> int | None:
    """The cursor to resume after, moved forward to at most ``API_STREAM_RESUME_MAX_S`` ago;
    400 for anything but an integer id in InfluxDB's range."""
    if last_event_id is None or last_event_id == "":
        return None
    if not (len(last_event_id) <= 19 and last_event_id.isascii() and last_event_id.isdigit()):
        raise bad_request("bad_last_event_id", "Last-Event-ID must be an event id this stream sent")
    cursor = int(last_event_id)
    if cursor > _MAX_EVENT_ID:
        raise bad_request("bad_last_event_id", "Last-Event-ID must be an event id this stream sent")
    return max(cursor, now_ns() - int(state.settings.api_stream_resume_max_s * NS))


async def _subscription(
    state: State, scope: StreamScope, key_id: StreamKeyId, site: StreamSite
) -> AsyncIterator[Subscription]:
    """A place in the shared feed for the stream's lifetime; 429 when the key holds too many."""
    registered = heat_meters_in(state, scope, site, None)
    with state.feed.subscribe(key_id, scope, site.id if site else None, registered) as subscription:
        yield subscription


ResumeAfter = Annotated[int | None, Depends(resume_after)]
LiveSubscription = Annotated[Subscription, Depends(_subscription)]


ReadingsMode = Annotated[
    Literal["each", "count", "none"],
    Query(
        description="`each` (default): a `reading` event per new point; `count`: a `count` event "
        'after each `overview` instead, `{"readings": n}`; `none`: overviews only'
    ),
]
Once = Annotated[
    bool, Query(description="end the stream after the first `overview` (a snapshot, e.g. to screenshot)")
]


def scope_of(state: State, scope: StreamScope, site: Site | None) -> dict[str, str | None]:
    """What the stream covers, for a page's title: the operator's network, an owner, a site."""
    owner = state.registry.owners.get(scope.owner) if scope.owner else None
    return {
        "scope": "operator" if scope.is_operator else "owner",
        "owner": scope.owner,
        "owner_name": owner.name if owner else scope.owner,
        "site": site.id if site else None,
        "site_name": site.name if site else None,
    }


def _reading(point: LivePoint, cursor: int) -> ServerSentEvent:
    return ServerSentEvent(event="reading", data=point.reading.model_dump(mode="json"), id=str(cursor))


@router.get("/stream", response_class=EventSourceResponse)
async def stream(
    state: State,
    scope: StreamScope,
    site: StreamSite,
    resumed_at: ResumeAfter,
    subscription: LiveSubscription,
    readings: ReadingsMode = "each",
    once: Once = False,
) -> AsyncIterator[ServerSentEvent]:
    """A ``scope`` event first, then ``overview`` events (each poll) and ``reading`` events (each
    new point) for the key's scope; ``readings`` and ``once`` ask for less (see docs/api.md).

    The key may come as ``?key=`` because browsers' EventSource cannot send headers; see
    docs/api.md for the trade-off. Another owner's ``site`` is a 404 before the stream opens.
    """
    condition = " AND ".join(c for c in (scope_condition(scope), site_condition(site) if site else "") if c)
    # Nothing at or before the start again: the client's last event, or a minute ago.
    start = resumed_at if resumed_at is not None else now_ns() - _FIRST_LOOK_BACK_NS
    cursor = start
    sent: dict[tuple[str, str, int], None] = {}
    # Counting needs no backlog: a count is of what arrived since the stream opened.
    backlog_sent = readings != "each"
    # Its id is the start cursor, as every event carries one: resuming from it repeats nothing.
    yield ServerSentEvent(event="scope", data=scope_of(state, scope, site), id=str(cursor))
    while True:
        # The feed queues polls for this stream since it subscribed; as before, each poll's
        # overview comes first, then its readings.
        tick = await subscription.queue.get()
        if tick is None or subscription.dropped:
            return  # the API stops, or this client fell behind: EventSource reconnects and resumes
        yield ServerSentEvent(event="overview", data=tick.overview.model_dump(mode="json"), id=str(cursor))
        if not backlog_sent:  # once: what came before the subscription, read for this stream alone
            backlog_sent = True
            async for page in read_after(state.influx.query, condition, start):
                for point in page:
                    if subscription.sees(point):
                        sent[point.key] = None
                        cursor = max(cursor, point.ts_ns)
                        yield _reading(point, cursor)
        counted = 0
        for point in tick.points:
            if point.key in sent or point.ts_ns <= start:
                continue
            cursor = max(cursor, point.ts_ns)
            counted += 1
            if readings == "each":
                yield _reading(point, cursor)
        if readings == "count":
            yield ServerSentEvent(event="count", data={"readings": counted}, id=str(cursor))
        if once:
            return
        for key in [k for k in sent if k[2] < tick.window_start_ns]:
            del sent[key]
