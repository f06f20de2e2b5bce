"""Dead letters: list them and replay them after a fix (operator keys only)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import OperatorScope, State
from api.errors import ApiError
from api.models import DeadLetterOut, DeadLettersOut, ReplayIn, ReplayOut
from api.timerange import to_datetime
from ingest.deadletters import DeadLetter
from ingest.errors import Reason
from ingest.replay import republish

router = APIRouter(prefix="/deadletters", tags=["dead letters"])


def _out(letter: DeadLetter) -> DeadLetterOut:
    return DeadLetterOut(
        id=letter.id,
        received_at=to_datetime(letter.received_ns),
        topic=letter.topic,
        reason=letter.reason,
        detail=letter.detail,
        device=letter.device,
        payload=letter.payload.decode("utf-8", errors="replace"),
        replayed_at=to_datetime(letter.replayed_ns) if letter.replayed_ns else None,
    )


@router.get("", response_model=DeadLettersOut)
async def list_dead_letters(
    state: State,
    _: OperatorScope,
    reason: Annotated[Reason | None, Query(description="only this reason code")] = None,
    after_id: Annotated[int, Query(ge=0, le=2**62, description="page on from this id")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    pending_only: Annotated[bool, Query(description="hide letters already replayed")] = False,
) -> DeadLettersOut:
    """Counts per reason, and the letters oldest first (page with ``after_id``)."""
    store = state.dead_letters
    letters = await asyncio.to_thread(
        store.list, reason=reason, after_id=after_id, limit=limit, pending_only=pending_only
    )
    counts = await asyncio.to_thread(store.counts)
    return DeadLettersOut(counts=counts, items=[_out(d) for d in letters])


@router.post("/replay", response_model=ReplayOut)
async def replay_dead_letters(state: State, _: OperatorScope, request: ReplayIn) -> ReplayOut:
    """Republish pending letters to their original topics (MQTT QoS 1) and mark them replayed.

    Ingest then processes them like new messages, so a fixed registry or adapter stores them;
    ones that still fail become new dead letters with their reason.
    """
    store = state.dead_letters
    after_id = max(0, min(request.ids) - 1) if request.ids else 0
    letters = await asyncio.to_thread(
        store.list, reason=request.reason, after_id=after_id, limit=request.limit, pending_only=True
    )
    if request.ids is not None:
        wanted = set(request.ids)
        letters = [d for d in letters if d.id in wanted]
    if not letters:
        return ReplayOut(selected=0, published=0)
    try:
        published = await asyncio.to_thread(republish, state.settings, letters, "api-replay")
    except OSError as exc:  # refused, unreachable, TLS: the broker is the problem, not the request
        raise ApiError(503, "broker_unavailable", f"cannot publish to MQTT: {exc}") from exc
    await asyncio.to_thread(store.mark_replayed, [d.id for d in letters])
    return ReplayOut(selected=len(letters), published=published)
