"""The simulation: every device of a city reads on a schedule; faults are injected; messages come out.

    city = build_city(20, seed=1)
    sim = Simulation(city, prefix="energy", faults=FaultRates(malformed=0.01))
    messages = list(sim.run(start_s=time.time() - 86400, step_s=60, until_s=time.time()))
    sim.report.expected_points   # {"district_heating": …, "indoor_climate": …}

Devices read one after another, spread evenly over each step, so in real time the city
publishes at a steady rate. The stream is deterministic for a seed, a city and a start time.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from energy_core.schema import MEASUREMENT_OF_KIND, DeviceKind
from simulators.city import City, CityDevice, Format, HasRegisters
from simulators.faults import (
    BROKEN_SENSOR_VALUES_C,
    BURST_READINGS,
    LARGE_SKEW_S,
    MAX_HOLD_MESSAGES,
    SILENCE_READINGS,
    SMALL_SKEW_S,
    Fault,
    FaultRates,
)
from simulators.formats import FORMATS_WITH_UNITS, JSON_FORMATS, TS_RESOLUTION_S, Encoders, Message
from simulators.heat import HeatMeter
from simulators.report import DeviceCounts, Report
from simulators.substation_faults import GroundTruth, meter_faults, plan

FUTURE_TOLERANCE_S = 300.0  # ingest rejects timestamps more than 5 minutes ahead of its clock
SKEW_MARGIN_S = (
    60.0  # skewed readings this close to that limit are sent unskewed: the outcome would be a coin toss
)


@dataclass
class _DeviceState:
    device: CityDevice
    topic: str
    measurement: str
    resolution_s: float
    faults: list[tuple[Fault, float]]  # cumulative thresholds of the faults that apply to this device
    skew_s: float | None = None  # None: not yet decided
    readings: int = 0
    silent_for: int = 0
    burst: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    burst_size: int = 0


class Simulation:
    """Generates a city's MQTT messages with faults, and reports what they should become."""

    def __init__(
        self,
        city: City,
        *,
        prefix: str = "energy",
        faults: FaultRates | None = None,
        seed: int | None = None,
        keep_readings: bool = False,
    ) -> None:
        self.city = city
        self.seed = city.seed if seed is None else seed
        self.rates = faults or FaultRates()
        self.report = Report(keep_readings=keep_readings)
        self.encoders = Encoders(prefix)
        self._rng = random.Random(f"readings-{self.seed}")
        self._fault_rng = random.Random(f"faults-{self.seed}")
        self._states = [self._state(d) for d in city.devices]
        self._held: list[tuple[int, int, Message]] = []  # (release at message number, tie-break, message)
        self._tie = itertools.count()
        self._sent = 0
        self._rebirths: deque[str] = deque()  # edge nodes a host asked to rebirth (from another thread)

    def _state(self, device: CityDevice) -> _DeviceState:
        applicable: list[tuple[Fault, float]] = []
        total = 0.0
        for fault, rate in self.rates.per_reading():
            if fault is Fault.MALFORMED and device.format not in JSON_FORMATS:
                continue
            if fault is Fault.WRONG_UNIT and device.format not in FORMATS_WITH_UNITS:
                continue
            if fault in (Fault.COUNTER_RESET, Fault.METER_SWAP) and not hasattr(
                device.model, "set_registers"
            ):
                continue
            if fault is Fault.BROKEN_SENSOR and device.kind is not DeviceKind.HEAT_METER:
                continue
            total += rate
            applicable.append((fault, total))
        return _DeviceState(
            device=device,
            topic=self.encoders.topic(device),
            measurement=MEASUREMENT_OF_KIND[device.kind].value,
            resolution_s=TS_RESOLUTION_S[device.format],
            faults=applicable,
        )

    def request_rebirth(self, edge: str) -> None:
        """A Sparkplug host asked ``edge`` for its births (NCMD); safe to call from any thread."""
        self._rebirths.append(edge)

    @property
    def device_count(self) -> int:
        return len(self._states)

    def run(
        self, start_s: float, step_s: float, *, until_s: float | None = None, count: int | None = None
    ) -> Iterator[Message]:
        """Every device reads every ``step_s`` from ``start_s``.

        Stops before ``until_s`` or after ``count`` readings; without either it runs forever.
        Held-back messages and bursts are flushed at the end.
        """
        coarsest = max((s.resolution_s for s in self._states), default=0.0)
        if step_s <= 0 or step_s < coarsest:
            # Two readings in the same second of a wmbusmeters device would be one point in InfluxDB.
            raise ValueError(f"the step must be at least {coarsest:g} s for this city's formats")
        n = len(self._states)
        if n == 0:
            return
        if self.rates.substations > 0 and self.report.substation_faults is None:
            self.plan_substation_faults(start_s, until_s)
        stagger = step_s / n
        readings = 0
        for tick in itertools.count():
            base = start_s + tick * step_s
            for i, state in enumerate(self._states):
                ts_s = base + i * stagger
                if (until_s is not None and ts_s >= until_s) or (count is not None and readings >= count):
                    yield from self._flush()
                    return
                readings += 1
                yield from self._reading(state, _round_to(ts_s, state.resolution_s))
                if self._held and self._held[0][0] <= self._sent:
                    yield from self._release()
                while self._rebirths:
                    edge = self._rebirths.popleft()
                    for message in self.encoders.rebirth(edge):
                        yield self._count(None, message)

    def plan_substation_faults(self, start_s: float, until_s: float | None) -> list[GroundTruth]:
        """Give ``rates.substations`` of the heat meters a substation fault in the run's range.

        ``run`` calls it for its range; the ground truth goes to the report.
        """
        truth = plan(self.city, start_s, until_s, seed=self.seed, share=self.rates.substations)
        for state in self._states:
            model = state.device.model
            if isinstance(model, HeatMeter):
                model.faults = meter_faults(truth, model.device_id)
        self.report.substation_faults = truth
        return truth

    # -- one reading --------------------------------------------------------------------------

    def _reading(self, state: _DeviceState, ts_s: float) -> Iterator[Message]:
        device, report = state.device, self.report
        first = state.readings == 0
        state.readings += 1
        report.readings += 1
        counts = report.device(device.id)
        counts.readings += 1
        if report.first_ts_s is None:
            report.first_ts_s = ts_s
        report.last_ts_s = ts_s

        # A device's first reading is clean (it carries the Sparkplug births); a silent or bursting
        # device is busy with one fault already.
        model = device.model
        meter_silent = isinstance(model, HeatMeter) and bool(model.faults) and model.silent(ts_s)
        busy = first or state.silent_for > 0 or state.burst_size > 0 or meter_silent
        fault = None if busy else self._draw(state)
        if fault is Fault.COUNTER_RESET and isinstance(device.model, HasRegisters):
            device.model.set_registers(0.0, 0.0)
        elif fault is Fault.METER_SWAP and isinstance(device.model, HasRegisters):
            rng = self._fault_rng
            device.model.set_registers(round(rng.uniform(0, 5), 3), round(rng.uniform(0, 0.1), 4))
        values = device.model.read(ts_s, self.city.climate.temperature_c(ts_s), self._rng)
        if fault is not None:
            report.fault(device.id, fault)
        if meter_silent:  # a silent substation meter: counted, nothing sent
            return

        if state.silent_for > 0 or fault is Fault.SILENCE:
            if fault is Fault.SILENCE:
                state.silent_for = self._fault_rng.randint(*SILENCE_READINGS)
            state.silent_for -= 1
            return
        sent_ts = self._device_clock(state, ts_s)
        if state.burst_size or fault is Fault.BURST:
            if fault is Fault.BURST:
                state.burst_size = self._fault_rng.randint(*BURST_READINGS)
            state.burst.append((sent_ts, values))
            if len(state.burst) >= state.burst_size:
                yield from self._flush_burst(state)
            return

        if first:
            for message in self.encoders.births(device, sent_ts, values):
                yield self._count(counts, message)
        stored = values
        if fault is Fault.BROKEN_SENSOR:
            rng = self._fault_rng
            broken = rng.choice(("supply_temp", "return_temp"))
            stored = {k: v for k, v in values.items() if k != broken}
            values = {**values, broken: rng.choice(BROKEN_SENSOR_VALUES_C)}
        payload = self.encoders.encode(device, sent_ts, values, wrong_unit=fault is Fault.WRONG_UNIT)
        # What ingest will do, in the order it checks: parse, then the time, then units and ranges.
        if fault is Fault.MALFORMED:
            payload = payload[: len(payload) // 2]
            report.dead_letter("invalid_json")
        elif self._in_future(sent_ts):
            # Each copy of a duplicated message is dead-lettered on its own.
            report.dead_letter("timestamp_out_of_range", 2 if fault is Fault.DUPLICATE else 1)
        elif fault is Fault.WRONG_UNIT:
            report.dead_letter("unknown_unit")
        else:
            report.good(device.id, state.measurement, sent_ts, stored)
            if fault is Fault.BROKEN_SENSOR:
                report.dead_letter("implausible_value")
            else:
                self.encoders.remember(device, sent_ts, values)
        message = (state.topic, payload)
        if fault is Fault.OUT_OF_ORDER:
            self._hold(counts, message, self._fault_rng.randint(1, MAX_HOLD_MESSAGES))
            return
        yield self._count(counts, message)
        if fault is Fault.DUPLICATE:
            self._hold(counts, message, self._fault_rng.randint(0, MAX_HOLD_MESSAGES // 2))

    @staticmethod
    def _in_future(sent_ts: float) -> bool:
        """Whether ingest will find the time too far ahead of its clock (it receives within seconds)."""
        return sent_ts > time.time() + FUTURE_TOLERANCE_S

    def _draw(self, state: _DeviceState) -> Fault | None:
        if not state.faults:
            return None
        draw = self._fault_rng.random()
        for fault, threshold in state.faults:
            if draw < threshold:
                return fault
        return None

    def _device_clock(self, state: _DeviceState, ts_s: float) -> float:
        """The time the device's clock shows; Sparkplug edge nodes keep SCADA time, so they never skew."""
        if state.skew_s is None:
            state.skew_s = 0.0
            if (
                state.device.format is not Format.SPARKPLUG
                and self._fault_rng.random() < self.rates.clock_skew
            ):
                rng = self._fault_rng
                large = rng.random() < 0.5
                skew = rng.uniform(*LARGE_SKEW_S) if large else rng.uniform(-SMALL_SKEW_S, SMALL_SKEW_S)
                state.skew_s = _round_to(skew, state.resolution_s) or state.resolution_s
                self.report.fault(state.device.id, Fault.CLOCK_SKEW)
        if state.skew_s == 0.0:
            return ts_s
        sent = _round_to(ts_s + state.skew_s, state.resolution_s)
        limit = time.time() + FUTURE_TOLERANCE_S
        if abs(sent - limit) < SKEW_MARGIN_S:
            # Too close to ingest's limit to say what it will do: push it clearly into the future.
            # (Pulling it back could land on another reading's time, and Influx would merge them.)
            return _round_to(limit + 2 * SKEW_MARGIN_S, state.resolution_s)
        return sent

    def _flush_burst(self, state: _DeviceState) -> Iterator[Message]:
        device = state.device
        counts = self.report.device(device.id)
        for ts_s, values in state.burst:
            if self._in_future(ts_s):
                self.report.dead_letter("timestamp_out_of_range")
            else:
                self.report.good(device.id, state.measurement, ts_s, values)
        for payload in self.encoders.encode_burst(device, state.burst):
            yield self._count(counts, (state.topic, payload))
        state.burst, state.burst_size = [], 0

    # -- message bookkeeping ----------------------------------------------------------------

    def _count(self, counts: DeviceCounts | None, message: Message) -> Message:
        if counts is not None:
            counts.messages += 1
        self.report.messages += 1
        self._sent += 1
        return message

    def _hold(self, counts: DeviceCounts, message: Message, after: int) -> None:
        """Send ``message`` after ``after`` more messages (out of order, or a duplicate)."""
        counts.messages += 1
        self.report.messages += 1
        heapq.heappush(self._held, (self._sent + after, next(self._tie), message))

    def _release(self) -> Iterator[Message]:
        while self._held and self._held[0][0] <= self._sent:
            yield heapq.heappop(self._held)[2]

    def _flush(self) -> Iterator[Message]:
        for state in self._states:
            if state.burst:
                yield from self._flush_burst(state)
        while self._held:
            yield heapq.heappop(self._held)[2]


def _round_to(ts_s: float, resolution_s: float) -> float:
    if resolution_s >= 1.0:
        return float(math.floor(ts_s))
    return round(ts_s, 3)
