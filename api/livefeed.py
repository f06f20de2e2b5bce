"""One poll of InfluxDB per interval for every SSE stream: a shared fan-out.

Before, each ``/stream`` polled InfluxDB twice a second on its own; 200 streams made an
unrelated request wait ~0.9 s. Now one poller task (in the lifespan's TaskGroup) sends one
request per interval holding two statements: the new points of every raw measurement (paged,
api/livepages.py) and the newest row of each heat meter in the freshness window. Each
subscriber gets from it, in memory, the points of its scope (owner tag, and site) and the
overview of its scope, through a bounded queue; a subscriber whose queue is full (a client
that stopped reading) is dropped, and its EventSource reconnects with ``Last-Event-ID``. The
poller sleeps while nobody listens. A key holds at most ``API_STREAMS_PER_KEY`` streams.

Late points: the poll re-reads the last ``GRACE_NS`` (ingest batches arrive with timestamps a
little in the past) and delivers only points it has not delivered before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import structlog

from api.auth import Scope
from api.emissions import FactorSource
from api.errors import ApiError
from api.influxql import ident, series_rows, time_range
from api.livepages import LivePoint, Page, page_statement, points_of, read_crowded, split_page
from api.metrics import ApiMetrics
from api.models import OverviewOut
from api.overview import summarise
from api.timerange import now_ns
from energy_core.errors import InfluxFailure
from energy_core.influx import InfluxClient
from energy_core.registry import Registry
from energy_core.schema import Measurement
from energy_core.timeutil import NS

log = structlog.get_logger("api")

GRACE_NS = 10 * NS
QUEUE_TICKS = 30  # a client that has not taken 30 polls' worth (30 s at 1 s) is not reading
MAX_PAGES_PER_POLL = 50  # 500,000 rows; past it the next poll goes on from where this one stopped

# (owner or None for operators, site id or None, registered heat meters): one overview each.
Group = tuple[str | None, str | None, int]


def _visible(
    owner_tag: str, site_tag: str, scope_owner: str | None, site_id: str | None, registry: Registry
) -> bool:
    """Whether a point tagged ``owner_tag``/``site_tag`` belongs to a stream of ``scope_owner``
    (None: operator), narrowed to ``site_id``: as ``scope_condition``/``site_condition`` say in
    InfluxQL, a site's points carry its id *and* its owner (a commissioning device may be stored
    under any site's id with the owner ``unassigned``), and an owner sees only its own owner tag,
    on a site the registry gives to that owner when the site is registered."""
    if site_id is not None:
        site = registry.sites.get(site_id)
        if site_tag != site_id or site is None or owner_tag != site.owner:
            return False
    if scope_owner is None:
        return True
    registered = registry.sites.get(site_tag)
    return owner_tag == scope_owner and (registered is None or registered.owner == scope_owner)


@dataclass(frozen=True, slots=True)
class Tick:
    """What one subscriber gets from one poll: its new points (oldest first) and its overview."""

    points: list[LivePoint]
    overview: OverviewOut
    window_start_ns: int  # the poll read nothing older than this


@dataclass(eq=False)
class Subscription:
    key_id: str
    scope: Scope
    site_id: str | None
    devices_registered: int
    registry: Registry
    queue: asyncio.Queue[Tick | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_TICKS))
    dropped: bool = False

    @property
    def group(self) -> Group:
        return (self.scope.owner, self.site_id, self.devices_registered)

    def sees(self, point: LivePoint) -> bool:
        return _visible(point.owner, point.reading.site, self.scope.owner, self.site_id, self.registry)


def overview_of(
    rows: list[tuple[dict[str, str], dict[str, Any]]],
    factors: FactorSource,
    group: Group,
    registry: Registry,
    now: int,
) -> OverviewOut:
    """The overview of a group from the newest row of each heat meter, over the rows of the
    group's owner and site (the same arithmetic as /network/overview: api.overview.summarise)."""
    owner, site_id, registered = group
    visible = (
        (tags, row)
        for tags, row in rows
        if _visible(tags.get("owner", ""), tags.get("site", ""), owner, site_id, registry)
    )
    return summarise(visible, factors, registered, now)


def overview_statement(now: int, fresh_window_s: float) -> str:
    """The newest row of every heat meter in the freshness window, with the tags the groups need."""
    window = time_range(now - int(fresh_window_s * NS), now + 300 * NS)
    source = ident(Measurement.DISTRICT_HEATING)  # an allow-listed name and integers only:
    return (
        f'SELECT "power_kw", "supply_temp_c", "return_temp_c", "flow_m3h" FROM {source} WHERE {window}'  # noqa: S608
        ' GROUP BY "device", "network", "owner", "site" ORDER BY time DESC LIMIT 1'
    )


class LiveFeed:
    """The shared poller and its subscribers."""

    def __init__(
        self,
        influx: InfluxClient,
        registry: Registry,
        factors: FactorSource,
        metrics: ApiMetrics,
        *,
        interval_s: float,
        fresh_window_s: float,
        streams_per_key: int,
    ) -> None:
        self.influx = influx
        self.registry = registry
        self.factors = factors
        self.metrics = metrics
        self.interval_s = interval_s
        self.fresh_window_s = fresh_window_s
        self.streams_per_key = streams_per_key
        self._subscribers: set[Subscription] = set()
        self._wake = asyncio.Event()
        self._closed = asyncio.Event()
        self._high_water_ns: int | None = None
        self._resume_after_ns: int | None = None  # set when a poll stopped at MAX_PAGES_PER_POLL
        self._delivered: dict[tuple[str, str, int], None] = {}

    @contextmanager
    def subscribe(
        self, key_id: str, scope: Scope, site_id: str | None, devices_registered: int
    ) -> Iterator[Subscription]:
        """A subscription for the block; 429 when the key holds ``streams_per_key`` already."""
        if sum(1 for s in self._subscribers if s.key_id == key_id) >= self.streams_per_key:
            raise ApiError(
                429, "too_many_streams", f"this API key holds {self.streams_per_key} streams already"
            )
        subscription = Subscription(key_id, scope, site_id, devices_registered, self.registry)
        self._subscribers.add(subscription)
        self.metrics.streams_open.inc()
        self._wake.set()
        try:
            yield subscription
        finally:
            self._subscribers.discard(subscription)
            self.metrics.streams_open.dec()

    def close(self) -> None:
        """End the poller and every stream."""
        self._closed.set()
        self._wake.set()
        for subscription in self._subscribers:
            with_room = not subscription.queue.full()
            if with_room:
                subscription.queue.put_nowait(None)
            else:
                subscription.dropped = True

    async def run(self) -> None:
        """Poll once per interval while anyone listens, until ``close``."""
        while not self._closed.is_set():
            if not self._subscribers:
                self._wake.clear()
                await self._wake.wait()
                # Idle since who knows when: start from now, not from the old cursor (nobody was
                # listening, and reading everything since would be a flood).
                self._high_water_ns = self._resume_after_ns = None
                self._delivered.clear()
                continue
            try:
                await self.poll()
            except InfluxFailure as exc:  # the loop boundary: streams go on, quietly
                log.warning("live_feed_poll_failed", error=str(exc), subscribers=len(self._subscribers))
            except Exception:  # a bug here must not end the TaskGroup, and with it the whole API
                log.exception("live_feed_poll_crashed", subscribers=len(self._subscribers))
            try:
                async with asyncio.timeout(self.interval_s):
                    await self._closed.wait()
            except TimeoutError:
                pass

    async def _query(self, q: str) -> list[dict[str, Any]]:
        self.metrics.stream_queries.inc()
        return await self.influx.query(q)

    async def poll(self) -> None:
        """One poll: one request in the common case, more pages only for a burst of points."""
        now = now_ns()
        if self._resume_after_ns is not None:
            after = self._resume_after_ns
        elif self._high_water_ns is not None:
            after = self._high_water_ns - GRACE_NS
        else:
            after = now - GRACE_NS
        self.metrics.stream_polls.inc()
        results = await self._query(
            overview_statement(now, self.fresh_window_s) + ";" + page_statement("", after)
        )
        meters = [(tags, rows[0]) for _, tags, rows in series_rows(results[:1]) if rows]
        page = split_page(points_of(results[1:]))
        fresh: list[LivePoint] = []
        pages = 0
        while True:
            if page.crowded is not None:
                page = await read_crowded(self._query, "", page)
            fresh.extend(p for p in page.points if p.key not in self._delivered)
            pages += 1
            if page.next_after is None or pages >= MAX_PAGES_PER_POLL:
                break
            page = await self._next_page(page)
        self._resume_after_ns = page.next_after
        for point in fresh:
            self._delivered[point.key] = None
            self._high_water_ns = max(self._high_water_ns or 0, point.ts_ns)
        if self._high_water_ns is None:
            self._high_water_ns = after + GRACE_NS
        horizon = min(after, self._high_water_ns - GRACE_NS)
        for key in [k for k in self._delivered if k[2] <= horizon]:
            del self._delivered[key]
        self._publish(fresh, meters, after, now)

    async def _next_page(self, page: Page) -> Page:
        assert page.next_after is not None
        return split_page(points_of(await self._query(page_statement("", page.next_after))))

    def _publish(
        self,
        fresh: list[LivePoint],
        meters: list[tuple[dict[str, str], dict[str, Any]]],
        after: int,
        now: int,
    ) -> None:
        overviews: dict[Group, OverviewOut] = {}
        by_owner: dict[str, list[LivePoint]] = {}
        for point in fresh:
            by_owner.setdefault(point.owner, []).append(point)
        for subscription in list(self._subscribers):
            if subscription.dropped:
                continue
            group = subscription.group
            if group not in overviews:
                overviews[group] = overview_of(meters, self.factors, group, self.registry, now)
            candidates = (
                fresh if subscription.scope.owner is None else by_owner.get(subscription.scope.owner, [])
            )
            tick = Tick([p for p in candidates if subscription.sees(p)], overviews[group], after)
            try:
                subscription.queue.put_nowait(tick)
            except asyncio.QueueFull:
                subscription.dropped = True
                self.metrics.streams_dropped.inc()
                log.warning("stream_subscriber_dropped", scope=str(subscription.scope), queued=QUEUE_TICKS)
