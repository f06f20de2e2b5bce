"""The paho-mqtt client set-up the two publishers share: protocol, session, credentials and TLS.

There are two publishers on purpose, and this is all they share:

- :class:`simulators.publisher.Publisher` is the load generator: MQTT 3.1.1, thousands of
  messages a second, a window of unacknowledged messages counted in ``on_publish`` (O(1) per
  PUBACK), optional persistent sessions and command subscriptions. It needs to know only *that*
  a PUBACK came.
- :func:`energy_core.replay.publish_messages` replays dead letters and sends Sparkplug rebirth
  requests: a few messages, MQTT 5, and it needs *what* each PUBACK said (a broker refusing by
  ACL still PUBACKs a 3.1.1 client; to MQTT 5 it answers 0x87), so it waits for every one and
  keeps each reason code. Doing that per message in the simulator would cost it its rate; the
  simulator's window would give replay nothing it needs.

The consumer (``ingest.mqtt``) is hand-written asyncio and uses neither.
"""

from __future__ import annotations

from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from energy_core.settings import MqttEndpoint


def paho_client(
    endpoint: MqttEndpoint,
    client_id: str = "",
    *,
    mqtt5: bool = False,
    clean_session: bool = True,
    ca_file: Path | str | None = None,
) -> paho.Client:
    """A paho client (callback API 2) for ``endpoint``, not yet connected.

    Credentials come from the URL; ``mqtts://`` turns on TLS, verified against ``ca_file`` or the
    system's CAs. ``clean_session`` is MQTT 3.1.1's (MQTT 5 sets its clean start on connect).
    """
    api = CallbackAPIVersion.VERSION2
    if mqtt5:
        client = paho.Client(api, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5)
    else:
        client = paho.Client(api, client_id=client_id, clean_session=clean_session)
    if endpoint.username is not None:
        client.username_pw_set(endpoint.username, endpoint.password)
    if endpoint.tls:
        client.tls_set(ca_certs=str(ca_file) if ca_file else None)
    return client
