"""A simulated Borlänge: owners, sites, devices, the payload format each device speaks, and its registry.

``build_city(sites=7000, seed=1)`` gives the same city for the same seed. Every site is a
building on Borlänge Energi's district-heating network with a substation heat meter;
Tunabyggen's apartment blocks, the municipality's schools and the commercial landlords'
offices also have an electricity meter and indoor-climate sensors; a few weather stations
measure the town's temperature. ``City.assets()`` is the matching ``ASSETS_FILE``.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol, runtime_checkable

import yaml

from energy_core.registry import AssetFile, Device, Owner, Site
from energy_core.schema import DeviceKind
from simulators.building import ElectricityMeter, IndoorSensor, Use
from simulators.heat import HeatMeter
from simulators.weather import OutdoorClimate, WeatherStation

NETWORK = "borlange-dh"
SPARKPLUG_GROUP = NETWORK
METERS_PER_EDGE_NODE = 50  # substations per SCADA edge node (Sparkplug)
METERS_PER_MBUS_GATEWAY = 40  # meters per M-Bus gateway publishing SenML
WEATHER_STATION_EVERY = 2000  # one weather station per this many sites (at least one)


class Format(StrEnum):
    """The payload formats of SPEC §5."""

    NATIVE = "native"
    SENML = "senml"
    CHIRPSTACK = "chirpstack"
    TTS = "tts"
    SPARKPLUG = "sparkplug"
    WMBUSMETERS = "wmbusmeters"


# How a real city's devices are connected, per kind: (format, share).
FORMAT_MIX: dict[DeviceKind, tuple[tuple[Format, float], ...]] = {
    DeviceKind.HEAT_METER: (
        (Format.WMBUSMETERS, 0.35),  # wireless M-Bus meters read by wmbusmeters receivers
        (Format.SENML, 0.25),  # wired M-Bus gateways
        (Format.SPARKPLUG, 0.25),  # larger substations on the operator's SCADA
        (Format.NATIVE, 0.15),
    ),
    DeviceKind.ELECTRICITY_METER: ((Format.NATIVE, 0.7), (Format.SENML, 0.3)),
    DeviceKind.INDOOR_SENSOR: ((Format.CHIRPSTACK, 0.6), (Format.TTS, 0.3), (Format.NATIVE, 0.1)),
    DeviceKind.WEATHER_STATION: ((Format.NATIVE, 1.0),),
}

# Vendor keys → quantities, for formats whose keys are not the schema's quantity names.
FIELD_MAPS: dict[Format, dict[str, str]] = {
    Format.WMBUSMETERS: {
        "total_energy_consumption_kwh": "energy",
        "total_volume_m3": "volume",
        "volume_flow_m3h": "flow",
        "power_kw": "power",
        "t1_temperature_c": "supply_temp",
        "t2_temperature_c": "return_temp",
    },
    Format.SPARKPLUG: {
        "heat/energy_kWh": "energy",
        "heat/volume_m3": "volume",
        "heat/flow_m3h": "flow",
        "heat/power_kW": "power",
        "heat/t_supply_C": "supply_temp",
        "heat/t_return_C": "return_temp",
    },
    Format.SENML: {"t_supply": "supply_temp", "t_return": "return_temp"},
}


class SimDevice(Protocol):
    """A simulated device: reads its quantities (canonical units) at a time."""

    device_id: str
    kind: DeviceKind

    def read(self, ts_s: float, outdoor_c: float, rng: random.Random) -> dict[str, float]: ...


@runtime_checkable
class HasRegisters(Protocol):
    """A meter with cumulative registers (what a counter reset or a meter swap restarts)."""

    def set_registers(self, energy_kwh: float, volume_m3: float) -> None: ...


@dataclass
class CityDevice:
    """A device in the city: its model, where it is, and how it reaches the broker."""

    model: SimDevice
    site_id: str
    format: Format
    serial: str = ""  # vendor name: M-Bus serial (KAM-…), wmbusmeters name, Sparkplug device id
    gateway: str = ""  # SenML gateway or Sparkplug edge node
    dev_eui: str = ""  # LoRaWAN
    application: str = ""  # ChirpStack application id or TTS application@tenant
    field_map: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.model.device_id

    @property
    def kind(self) -> DeviceKind:
        return self.model.kind

    @property
    def senml_base_name(self) -> str:
        return f"urn:dev:mbus:{self.serial}:"

    def external_ids(self) -> tuple[str, ...]:
        """The identities the device's messages carry, by which ingest finds it."""
        if self.format is Format.SENML:
            # Registered with and without the trailing colon: adapters differ in whether they keep it.
            return (self.senml_base_name, self.senml_base_name.rstrip(":"))
        if self.format is Format.SPARKPLUG:
            return (f"{SPARKPLUG_GROUP}/{self.gateway}/{self.serial}",)
        if self.format is Format.WMBUSMETERS:
            return (self.serial,)
        if self.format in (Format.CHIRPSTACK, Format.TTS):
            return (self.dev_eui,)
        return ()

    def gateways(self) -> tuple[str, ...]:
        """Who else may report for the device: a SenML gateway publishes its meters on
        ``senml/<gateway>/…`` (its MQTT user), naming each meter in the payload."""
        return (self.gateway,) if self.format is Format.SENML else ()


@dataclass
class City:
    """Owners, sites and devices of a simulated town, and the climate they live in."""

    seed: int
    climate: OutdoorClimate
    owners: list[Owner]
    sites: list[Site]
    devices: list[CityDevice]

    def assets(self) -> AssetFile:
        """The asset registry ingest needs to resolve every simulated device."""
        return AssetFile(
            owners=tuple(self.owners),
            sites=tuple(self.sites),
            devices=tuple(
                Device(
                    id=d.id,
                    site=d.site_id,
                    kind=d.kind,
                    external_ids=d.external_ids(),
                    field_map=d.field_map,
                    gateways=d.gateways(),
                )
                for d in self.devices
            ),
        )

    def write_assets(self, path: Path) -> None:
        """Write ``assets()`` as a YAML ``ASSETS_FILE``."""
        document = self.assets().model_dump(mode="json", exclude_defaults=True)
        path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8")


OWNERS = (
    Owner(id="borlange-energi", name="Borlänge Energi"),
    Owner(id="tunabyggen", name="AB Tunabyggen"),
    Owner(id="borlange-kommun", name="Borlänge kommun"),
    Owner(id="hsb-dalarna", name="HSB Dalarna"),
    Owner(id="dios", name="Diös Fastigheter"),
)
# Share of sites per building owner; the rest are houses and small businesses whose substation
# Borlänge Energi monitors. Tunabyggen has about 100 properties among the network's ~7,000 buildings.
OWNER_SHARES = (("tunabyggen", 100 / 7000), ("borlange-kommun", 0.02), ("hsb-dalarna", 0.04), ("dios", 0.01))
STREETS = (
    "Borganäsvägen",
    "Hagalundsvägen",
    "Jussi Björlings väg",
    "Stationsgatan",
    "Tunagatan",
    "Sveagatan",
    "Hushagsgatan",
    "Gylle Kyrkväg",
    "Mjälgatan",
    "Hönsarvsgatan",
    "Kornstigen",
    "Ovanbygatan",
)
# (use, floor area range m², indoor sensors range, has electricity meter) per owner.
BUILDINGS: dict[str, tuple[Use, tuple[float, float], tuple[int, int], bool]] = {
    "tunabyggen": (Use.RESIDENTIAL, (1500.0, 8000.0), (2, 6), True),
    "borlange-kommun": (Use.SCHOOL, (2000.0, 9000.0), (1, 3), True),
    "hsb-dalarna": (Use.RESIDENTIAL, (1200.0, 6000.0), (0, 2), True),
    "dios": (Use.OFFICE, (1000.0, 12000.0), (1, 2), True),
    "borlange-energi": (Use.RESIDENTIAL, (110.0, 260.0), (0, 0), False),
}


def _site_owners(count: int, rng: random.Random) -> list[str]:
    owners: list[str] = []
    for owner, share in OWNER_SHARES:
        owners += [owner] * max(1, round(count * share))
    owners = owners[:count]
    owners += ["borlange-energi"] * (count - len(owners))
    rng.shuffle(owners)
    return owners


def _pick_format(kind: DeviceKind, allowed: Collection[Format], rng: random.Random) -> Format | None:
    choices = [(f, share) for f, share in FORMAT_MIX[kind] if f in allowed]
    draw = rng.random()  # drawn even when unused, so the format filter does not change the city
    if not choices:
        return None
    total = sum(share for _, share in choices)
    draw *= total
    for fmt, share in choices:
        draw -= share
        if draw < 0:
            return fmt
    return choices[-1][0]


class _Addressing:
    """Hands out serials, gateways, edge nodes and DevEUIs, deterministically and uniquely."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(f"addressing-{seed}")
        self.count: dict[Format, int] = {}
        self.lorawan_apps: dict[str, str] = {}

    def connect(self, device: CityDevice, owner: str, index: int) -> None:
        n = self.count[device.format] = self.count.get(device.format, -1) + 1
        vendor = "KAM" if device.kind is DeviceKind.HEAT_METER else "EM"
        device.serial = f"{vendor}-{60_000_000 + index:08d}"
        device.field_map = dict(FIELD_MAPS.get(device.format, {}))
        if device.format is Format.SENML:
            device.gateway = f"gw-{n // METERS_PER_MBUS_GATEWAY:03d}"
        elif device.format is Format.SPARKPLUG:
            device.gateway = f"scada-{n // METERS_PER_EDGE_NODE:03d}"
        elif device.format in (Format.CHIRPSTACK, Format.TTS):
            device.dev_eui = f"a81758fffe{0x030000 + index:06x}"  # Elsys' OUI
            if device.format is Format.CHIRPSTACK:
                if owner not in self.lorawan_apps:
                    self.lorawan_apps[owner] = f"{self.rng.getrandbits(128):032x}"
                app = self.lorawan_apps[owner]
                device.application = f"{app[:8]}-{app[8:12]}-4{app[13:16]}-a{app[17:20]}-{app[20:]}"
            else:
                device.application = f"{owner}-climate@ttn"


def build_city(
    sites: int,
    *,
    seed: int = 1,
    formats: Collection[Format] | None = None,
    climate: OutdoorClimate | None = None,
) -> City:
    """A deterministic city of ``sites`` buildings; devices speak only ``formats`` (default: all).

    A device kind that none of ``formats`` can carry is left out (e.g. indoor sensors with
    ``{Format.WMBUSMETERS}``); native can carry every kind.
    """
    if sites < 1:
        raise ValueError("a city needs at least one site")
    allowed = frozenset(formats) if formats else frozenset(Format)
    rng = random.Random(f"city-{seed}")
    tuning = random.Random(f"tuning-{seed}")  # how well each substation cools: return offset and slope
    climate = climate or OutdoorClimate(seed)
    addressing = _Addressing(seed)
    site_list: list[Site] = []
    devices: list[CityDevice] = []
    device_index = 0

    def add(model: SimDevice, site_id: str, owner: str) -> None:
        nonlocal device_index
        fmt = _pick_format(model.kind, allowed, rng)
        device_index += 1
        if fmt is not None:
            device = CityDevice(model=model, site_id=site_id, format=fmt)
            addressing.connect(device, owner, device_index)
            devices.append(device)

    for i, owner in enumerate(_site_owners(sites, rng)):
        use, (area_lo, area_hi), (sensors_lo, sensors_hi), has_electricity = BUILDINGS[owner]
        site_id = f"site-{i:05d}"
        area = round(rng.uniform(area_lo, area_hi), -1 if area_hi > 1000 else 0)
        street = f"{rng.choice(STREETS)} {rng.randint(1, 80)}"
        site_list.append(
            Site(
                id=site_id,
                name=street,
                owner=owner,
                address=f"{street}, 784 {rng.randint(30, 77)} Borlänge",
                floor_area_m2=area,
                network=NETWORK,
                latitude=round(60.484 + rng.uniform(-0.03, 0.03), 5),
                longitude=round(15.436 + rng.uniform(-0.06, 0.06), 5),
            )
        )
        design_kw = round(area * rng.uniform(0.04, 0.06), 1)  # 40–60 W/m² at the design temperature
        energy_kwh = round(rng.uniform(0, 40) * design_kw * 24, 3)  # meters were installed years ago
        volume_m3 = round(rng.uniform(0, 500) * design_kw / 10, 3)
        hot_water_share = rng.uniform(0.12, 0.3) if use is Use.RESIDENTIAL else rng.uniform(0.03, 0.08)
        rng.uniform(0.0, 8.0)  # the former return offset: still drawn, so the rest of the city stays
        add(
            HeatMeter(
                f"hm-{i:05d}",
                design_load_kw=design_kw,
                energy_kwh=energy_kwh,
                volume_m3=volume_m3,
                hot_water_share=hot_water_share,
                return_offset_c=tuning.uniform(0.0, 12.0),
                return_slope_k=tuning.uniform(4.0, 16.0),
            ),
            site_id,
            owner,
        )
        if has_electricity:
            add(
                ElectricityMeter(
                    f"em-{i:05d}",
                    use=use,
                    peak_kw=round(area * rng.uniform(0.01, 0.025), 1),
                    solar_peak_kw=round(area * 0.01, 1) if rng.random() < 0.2 else 0.0,
                    energy_import_kwh=round(rng.uniform(1e4, 1e6), 3),
                    climate=climate,
                ),
                site_id,
                owner,
            )
        for k in range(rng.randint(sensors_lo, sensors_hi)):
            people = rng.uniform(2, 5) if use is Use.RESIDENTIAL else rng.uniform(10, 28)
            add(
                IndoorSensor(
                    f"ers-{i:05d}-{k}",
                    use=use,
                    people=round(people, 1),
                    air_volume_m3=round(
                        rng.uniform(150, 250) if use is Use.RESIDENTIAL else rng.uniform(180, 300)
                    ),
                    air_changes_per_h=round(
                        rng.uniform(0.5, 1.0) if use is Use.RESIDENTIAL else rng.uniform(2, 4), 2
                    ),
                    setpoint_c=round(rng.uniform(20.5, 22.0), 1),
                ),
                site_id,
                owner,
            )
    for k in range(max(1, sites // WEATHER_STATION_EVERY)):
        site_id = f"weather-{k:02d}"
        site_list.append(Site(id=site_id, name=f"Weather station {k}", owner="borlange-energi"))
        add(
            WeatherStation(f"wx-{k:02d}", siting_offset_c=round(rng.uniform(-0.8, 0.8), 2)),
            site_id,
            "borlange-energi",
        )
    return City(seed=seed, climate=climate, owners=list(OWNERS), sites=site_list, devices=devices)


def parse_formats(text: str) -> list[Format]:
    """``"native,senml"`` → formats; raises ValueError naming an unknown one."""
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    if names == ["all"]:
        return list(Format)
    unknown = [n for n in names if n not in Format.__members__.values()]
    if unknown or not names:
        raise ValueError(
            f"unknown format {unknown[0] if unknown else text!r}; choose from {', '.join(Format)}"
        )
    return [Format(n) for n in names]


def device_counts(devices: Sequence[CityDevice]) -> dict[str, int]:
    """How many devices speak each format (for the summary)."""
    counts: dict[str, int] = {}
    for device in devices:
        counts[device.format] = counts.get(device.format, 0) + 1
    return counts
