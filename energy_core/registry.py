"""The asset registry (``ASSETS_FILE``): owners, sites and devices (SPEC §4).

The file is YAML or TOML. Devices are looked up by their id or by any of their external ids
(DevEUI, SenML base name, Sparkplug ``group/edge/device``); lookups are case-insensitive
because DevEUIs arrive in either case, so two devices whose identities differ only in case
(or that share an external id) are refused at load: one of them would silently win.

Who may speak for a device (docs/deploy.md, "Device identity"): a message whose device is
named in the payload (SenML, wmbusmeters) is accepted only from a topic whose user-bound
level is one of the device's own identities or one of its ``gateways``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from energy_core.errors import ConfigError
from energy_core.schema import UNASSIGNED_OWNER, DeviceKind

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"
_TOPIC_LEVEL = r"^[^/+#\s]+$"  # one MQTT topic level, as a username in the ACL's %u can fill it


class Owner(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str = Field(pattern=_ID)
    name: str


class Site(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str = Field(pattern=_ID)
    name: str
    owner: str
    address: str = ""
    floor_area_m2: float | None = Field(default=None, gt=0)
    network: str | None = Field(default=None, pattern=_ID)
    latitude: float | None = None
    longitude: float | None = None


class Device(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str = Field(pattern=_ID)
    site: str
    kind: DeviceKind
    external_ids: tuple[str, ...] = ()
    field_map: dict[str, str] = Field(default_factory=dict)
    # Where the flow sensor sits: water properties for derived power are taken at that temperature.
    flow_sensor: Literal["supply", "return"] = "return"
    # The MQTT identities (the topic level the ACL binds to a username, e.g. a SenML gateway's
    # ``senml/<gateway>/…``) that may report for this device besides its own id and external ids.
    # Several, because a wireless M-Bus meter is often heard by more than one gateway.
    gateways: tuple[Annotated[str, Field(pattern=_TOPIC_LEVEL)], ...] = Field(default=(), max_length=64)
    # The most power this meter can deliver (a heat meter's substation, an electricity meter's main
    # fuse); interval energy above it is implausible (docs/emissions.md). None: from the site's area.
    max_power_kw: float | None = Field(default=None, gt=0)


class AssetFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    owners: tuple[Owner, ...] = ()
    sites: tuple[Site, ...] = ()
    devices: tuple[Device, ...] = ()

    @model_validator(mode="after")
    def _references(self) -> AssetFile:
        owners = {o.id for o in self.owners}
        sites = {s.id for s in self.sites}
        for site in self.sites:
            if site.owner not in owners:
                raise ValueError(f"site {site.id!r} names unknown owner {site.owner!r}")
        for device in self.devices:
            if device.site not in sites:
                raise ValueError(f"device {device.id!r} names unknown site {device.site!r}")
        for kind, ids in (
            ("owner", [o.id for o in self.owners]),
            ("site", [s.id for s in self.sites]),
            ("device", [d.id for d in self.devices]),
        ):
            if len(ids) != len(set(ids)):
                raise ValueError(f"duplicate {kind} id")
        _check_identities(self.devices)
        return self


def _check_identities(devices: tuple[Device, ...]) -> None:
    """Refuse two devices that answer to the same identity (lookups ignore case)."""
    claimed: dict[str, tuple[str, str]] = {}  # lower-cased identity -> (device id, identity as written)
    for index, device in enumerate(devices):
        for identity in dict.fromkeys((device.id, *device.external_ids)):
            other = claimed.setdefault(identity.lower(), (device.id, identity))
            if other[0] != device.id:
                raise ValueError(
                    f"devices.{index}: device {device.id!r} identity {identity!r} collides with"
                    f" device {other[0]!r} identity {other[1]!r} (identities ignore case)"
                )


@dataclass(frozen=True, slots=True)
class ResolvedDevice:
    """A device with everything the hot path needs about it, computed once at load."""

    id: str
    site: str
    owner: str
    kind: DeviceKind | None  # None: unregistered device accepted in commissioning mode
    network: str | None
    field_map: dict[str, str]
    flow_sensor: Literal["supply", "return"]
    tags: tuple[tuple[str, str], ...]  # sorted tag pairs for the line protocol
    # Lower-cased topic identities that may speak for the device: its id, external ids, gateways.
    speakers: frozenset[str] = frozenset()

    def may_speak(self, speaker: str) -> bool:
        """Whether a topic whose user-bound level is ``speaker`` may report for this device."""
        return speaker.lower() in self.speakers


def _tags(owner: str, site: str, device: str, network: str | None) -> tuple[tuple[str, str], ...]:
    pairs = [("device", device), ("owner", owner), ("site", site)]
    if network:
        pairs.append(("network", network))
    return tuple(sorted(pairs))


class Registry:
    """Owners, sites and devices, indexed for lookups by any device identity."""

    def __init__(self, assets: AssetFile) -> None:
        self.assets = assets
        self.owners = {o.id: o for o in assets.owners}
        self.sites = {s.id: s for s in assets.sites}
        self.devices = {d.id: d for d in assets.devices}
        self._by_key: dict[str, ResolvedDevice] = {}
        for device in assets.devices:
            site = self.sites[device.site]
            resolved = ResolvedDevice(
                id=device.id,
                site=site.id,
                owner=site.owner,
                kind=device.kind,
                network=site.network,
                field_map=dict(device.field_map),
                flow_sensor=device.flow_sensor,
                tags=_tags(site.owner, site.id, device.id, site.network),
                speakers=frozenset(k.lower() for k in (device.id, *device.external_ids, *device.gateways)),
            )
            for key in (device.id, *device.external_ids):
                self._by_key[key.lower()] = resolved

    @classmethod
    def empty(cls) -> Registry:
        return cls(AssetFile())

    @classmethod
    def load(cls, path: Path) -> Registry:
        """Read a YAML or TOML asset file; a mistake raises ConfigError naming ASSETS_FILE."""
        try:
            text = path.read_text(encoding="utf-8")
            raw = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
            return cls(AssetFile.model_validate(raw or {}))
        except OSError as exc:
            raise ConfigError(f"ASSETS_FILE cannot be read: {exc.strerror}: {path}") from None
        except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"ASSETS_FILE is not valid YAML/TOML: {path}: {exc}".splitlines()[0]) from None
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            # A model-level check (references, collisions) has no location: its message names it.
            message = err["msg"].removeprefix("Value error, ")
            raise ConfigError(f"ASSETS_FILE {path}: {where + ': ' if where else ''}{message}") from None

    def resolve(self, key: str) -> ResolvedDevice | None:
        return self._by_key.get(key.lower())

    @staticmethod
    def unassigned(key: str) -> ResolvedDevice:
        """The stand-in for an unregistered device in commissioning mode (owner ``unassigned``)."""
        return ResolvedDevice(
            id=key,
            site=key,
            owner=UNASSIGNED_OWNER,
            kind=None,
            network=None,
            field_map={},
            flow_sensor="return",
            tags=_tags(UNASSIGNED_OWNER, key, key, None),
            speakers=frozenset({key.lower()}),
        )
