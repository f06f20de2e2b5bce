"""How fast the simulator publishes to a real Mosquitto (SPEC §8: 5,000 msg/s for 7,000 sites).

    uv run python -m bench.bench_simulator [--sites 7000] [--rate 5000] [--seconds 30]

Starts a private Mosquitto with energy_testing/services.py, runs ``python -m simulators`` live
at the target rate (QoS 1, realistic faults, every format) and then as fast as possible, and
prints both rates and the load average around them. Stops the broker it started.
"""

from __future__ import annotations

import re
import subprocess
import sys

from bench.common import command_line, local_broker, on_this_machine


def _run(argv: list[str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "simulators", *argv, "--quiet"], capture_output=True, text=True, check=True
    )
    return done.stderr.strip().splitlines()[-1]


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--sites", type=int, default=7000)
    parser.add_argument("--rate", type=float, default=5000.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    with on_this_machine(), local_broker("simulator") as mqtt_url:
        common = ["--sites", str(args.sites), "--faults", "realistic", "--mqtt-url", mqtt_url]
        paced = _run([*common, "--rate", str(args.rate), "--duration", f"{args.seconds}s"])
        count = int(args.rate * args.seconds)
        flat_out = _run([*common, "--backfill", "1d", "--count", str(count)])
    rate = re.search(r"([\d,]+) msg/s", paced)
    print(f"target {args.rate:,.0f} msg/s for {args.seconds:g} s, {args.sites} sites: {paced}")
    print(f"as fast as possible:                    {flat_out}")
    if rate and float(rate.group(1).replace(",", "")) < 0.98 * args.rate:
        sys.exit("the simulator did not sustain the target rate")


if __name__ == "__main__":
    main()
