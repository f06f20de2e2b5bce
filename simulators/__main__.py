"""``python -m simulators``: publish simulated heat-meter readings (native v1) to MQTT."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import yaml

from simulators.heat import HeatMeter, native_stream
from simulators.publisher import Publisher


def registry_document(meters: list[HeatMeter]) -> dict[str, object]:
    """An ASSETS_FILE for the simulated meters: one Borlänge Energi substation per meter."""
    return {
        "owners": [{"id": "borlange-energi", "name": "Borlänge Energi"}],
        "sites": [
            {
                "id": f"site-{m.device_id}",
                "name": f"Substation {m.device_id}",
                "owner": "borlange-energi",
                "network": "borlange-dh",
            }
            for m in meters
        ],
        "devices": [{"id": m.device_id, "site": f"site-{m.device_id}", "kind": "heat_meter"} for m in meters],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators", description=__doc__)
    parser.add_argument(
        "--mqtt-url",
        default=os.environ.get("MQTT_URL", "mqtt://127.0.0.1:1883"),
        help="broker URL (default: $MQTT_URL)",
    )
    parser.add_argument(
        "--prefix",
        default=os.environ.get("MQTT_TOPIC_PREFIX", "energy"),
        help="topic prefix (default: $MQTT_TOPIC_PREFIX or 'energy')",
    )
    parser.add_argument("--meters", type=int, default=20, help="number of heat meters")
    parser.add_argument("--count", type=int, default=0, help="messages to publish; 0 = until Ctrl-C")
    parser.add_argument(
        "--rate", type=float, default=20.0, help="messages per second; 0 = as fast as possible"
    )
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between a meter's readings")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--assets-out", type=Path, help="write the matching ASSETS_FILE here and exit")
    args = parser.parse_args(argv)

    meters = [HeatMeter(f"hm-{i:05d}", design_load_kw=50 + (i * 37) % 400) for i in range(args.meters)]
    if args.assets_out:
        args.assets_out.write_text(
            yaml.safe_dump(registry_document(meters), sort_keys=False, allow_unicode=True)
        )
        return 0
    count = args.count or sys.maxsize
    step = args.interval if args.rate == 0 else len(meters) / args.rate
    try:
        with Publisher(args.mqtt_url, window=1000) as publisher:
            stream = native_stream(meters, time.time(), step, count, prefix=args.prefix, seed=args.seed)
            sent = publisher.publish_many(stream, rate=args.rate or None)
    except KeyboardInterrupt:
        return 130
    print(f"published {sent} readings from {len(meters)} meters", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
