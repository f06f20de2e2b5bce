"""One flow-control object decides whether the consumer reads; each reason holds it on its own."""

from __future__ import annotations

from ingest.flow import BACKPRESSURE, SHUTDOWN, FlowControl


def test_reading_resumes_only_when_no_reason_holds_it_and_listeners_hear_each_change() -> None:
    flow = FlowControl()
    heard: list[bool] = []
    flow.on_change(lambda: heard.append(flow.paused))
    assert not flow.paused
    assert flow.pause(BACKPRESSURE) is True
    assert flow.pause(BACKPRESSURE) is False  # already held for that reason: counted once
    assert flow.pause(SHUTDOWN) is True
    flow.resume(BACKPRESSURE)  # the committer took the batch, but the service is stopping
    assert flow.paused
    assert flow.reasons == {SHUTDOWN}
    flow.resume(SHUTDOWN)
    flow.resume(SHUTDOWN)  # not held: nothing changes
    assert not flow.paused
    assert heard == [True, False]
