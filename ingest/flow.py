"""Flow control: whether the consumer may read from the broker now, and why not.

One object, owned by the service and handed to the consumer (``MqttConsumer.flow``), replaces
the pause flags that the service, the consumer and its connection each kept. Reading is paused
while any reason holds it: a full batch waiting for the committer (``BACKPRESSURE``), shutdown
(``SHUTDOWN``), or a caller's own. Releasing one reason does not resume reading while another
still holds: shutdown stays paused even when the committer takes the last batch.

While paused nothing is read, so the broker keeps the rest of the session's messages; acks and
keepalive pings still go out (ingest/mqtt.py).
"""

from __future__ import annotations

from collections.abc import Callable

BACKPRESSURE = "backpressure"  # a full batch waits for the committer
SHUTDOWN = "shutdown"  # the service is stopping: what arrived is committed, nothing more is read
CALLER = "caller"  # MqttConsumer.pause() / resume()


class FlowControl:
    """The reasons reading is paused; listeners are told whenever paused-or-not changes."""

    def __init__(self) -> None:
        self._reasons: set[str] = set()
        self._listeners: list[Callable[[], None]] = []

    @property
    def paused(self) -> bool:
        return bool(self._reasons)

    @property
    def reasons(self) -> frozenset[str]:
        return frozenset(self._reasons)

    def holds(self, reason: str) -> bool:
        return reason in self._reasons

    def pause(self, reason: str) -> bool:
        """Hold reading for ``reason``; True when ``reason`` did not hold it already."""
        if reason in self._reasons:
            return False
        was_paused = self.paused
        self._reasons.add(reason)
        if not was_paused:
            self._changed()
        return True

    def resume(self, reason: str) -> None:
        """Release ``reason``; reading resumes once no other reason holds it."""
        if reason not in self._reasons:
            return
        self._reasons.discard(reason)
        if not self._reasons:
            self._changed()

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (which reads :attr:`paused`) each time reading pauses or resumes."""
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()
