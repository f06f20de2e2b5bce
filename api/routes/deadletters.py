"""Dead letters: list them and replay them after a fix (operator keys only)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import OperatorScope, State
from api.errors import ApiError
from api.models import DeadLetterOut, DeadLettersOut, ReplayIn, ReplayOut, ReplaySkipped
from api.timerange import to_datetime
from energy_core.deadletters import DeadLetter
from energy_core.errors import Reason
from energy_core.replay import replay

router = APIRouter(prefix="/deadletters", tags=["dead letters"])

# A page stops at this many payload bytes (or at `limit` letters): stored payloads are cut at
# 64 KiB, so a page is a few MiB at most however large `limit` is.
PAGE_PAYLOAD_BYTES = 4 * 1024 * 1024


def _out(letter: DeadLetter) -> DeadLetterOut:
    return DeadLetterOut(
        id=letter.id,
        received_at=to_datetime(letter.received_ns),
        topic=letter.topic,
        kind=letter.kind,
        reason=letter.reason,
        detail=letter.detail,
        device=letter.device,
        payload=letter.payload.decode("utf-8", errors="replace"),
        payload_bytes=letter.payload_bytes,
        payload_sha256=letter.payload_sha256,
        truncated=letter.truncated,
        replayed_at=to_datetime(letter.replayed_ns) if letter.replayed_ns else None,
    )


@router.get("", response_model=DeadLettersOut)
async def list_dead_letters(
    state: State,
    _: OperatorScope,
    reason: Annotated[Reason | None, Query(description="only this reason code")] = None,
    after_id: Annotated[int, Query(ge=0, le=2**63 - 1, description="page on from this id (`next`)")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    pending_only: Annotated[bool, Query(description="hide letters already replayed")] = False,
) -> DeadLettersOut:
    """Counts per reason, and one page of letters oldest first: at most ``limit`` of them and
    about 4 MiB of payload. ``next`` is the ``after_id`` of the next page (null on the last)."""
    store = state.dead_letters
    letters, next_id = await asyncio.to_thread(
        store.page,
        reason=reason,
        after_id=after_id,
        limit=limit,
        pending_only=pending_only,
        max_payload_bytes=PAGE_PAYLOAD_BYTES,
    )
    counts = await asyncio.to_thread(store.counts)
    return DeadLettersOut(counts=counts, items=[_out(d) for d in letters], next=next_id)


@router.post("/replay", response_model=ReplayOut)
async def replay_dead_letters(state: State, _: OperatorScope, request: ReplayIn) -> ReplayOut:
    """Replay exactly the letters asked for (``ids``), or the pending ones (by ``reason``, after
    ``after_id``, up to ``limit``), and mark replayed only those really delivered.

    A message is republished to its topic (MQTT 5, QoS 1) and counts once the broker's PUBACK
    says success; ingest then processes it like new, so a fixed registry or adapter stores it
    (one that still fails becomes a new dead letter). A line-protocol letter is written to
    InfluxDB again. Every letter not replayed is listed under ``skipped`` with its reason, and
    stays pending; a truncated letter cannot be replayed.
    """
    try:
        report = await replay(
            state.dead_letters,
            state.settings,
            state.influx,
            ids=request.ids,
            reason=request.reason,
            after_id=request.after_id,
            limit=request.limit,
            client_id="api-replay",
        )
    except OSError as exc:  # refused, unreachable, TLS: the broker is the problem, not the request
        raise ApiError(503, "broker_unavailable", f"cannot publish to MQTT: {exc}") from exc
    return ReplayOut(
        selected=report.selected,
        replayed=len(report.replayed),
        skipped=[ReplaySkipped(id=i, reason=why) for i, why in report.skipped],
    )
