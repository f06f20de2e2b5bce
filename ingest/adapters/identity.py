"""Who speaks for a message: the topic level the broker binds to the publishing user.

The ACL (deploy/mosquitto/acl) lets a user publish only under topics that contain its
username at a fixed level (``senml/%u/#``, ``wmbusmeters/%u``); that level is the message's
*speaker*. A payload may name any device, so for formats whose device comes from the
payload the Normaliser accepts a registered device only if the speaker is one of its own
identities or one of its registry ``gateways`` (else ``device_not_allowed``).

Each adapter declares how its messages are bound (``TopicBinding``):

- ``topic``: the device key is built from the topic levels the ACL binds (native v1's
  ``{prefix}/v1/<device>``, Sparkplug's ``group/edge_node/device``), so it cannot name
  another device; there is nothing more to check.
- ``payload``: the device key comes from the payload (SenML ``bn``, wmbusmeters ``name``/``id``);
  the speaker is the topic level at the route filter's first wildcard (``senml/#`` →
  ``senml/<speaker>/…``, ``gw/+/senml/#`` → ``gw/<speaker>/…``), the level the ACL pattern
  puts ``%u`` at; a filter without a wildcard speaks with the topic's last level.
- ``relay``: the topic comes from a network server's own user (ChirpStack, The Things Stack),
  which is trusted to name its devices.
"""

from __future__ import annotations

from typing import Literal

TopicBinding = Literal["topic", "payload", "relay"]


def speaker_level(topic_filter: str) -> int:
    """The index of the filter's first wildcard level; the last level when it has none."""
    levels = topic_filter.split("/")
    return next((i for i, level in enumerate(levels) if level in ("+", "#")), len(levels) - 1)


def speaker_of(binding: TopicBinding, level: int, topic: str) -> str | None:
    """The topic's speaker, or None when the binding needs no check.

    An empty string (the topic is shorter than the filter's wildcard level, as ``senml`` is
    for ``senml/#``) is a speaker no device answers to.
    """
    if binding != "payload":
        return None
    levels = topic.split("/")
    return levels[level] if level < len(levels) else ""
