"""``python -m ingest analyse --start … --end …``: the daily analysis of a range of local days.

For history (after ``python -m ingest rollup`` of an imported range), after changing the fault
thresholds, or after a chunk was refused. Whole Europe/Stockholm days, oldest first, a week per
set of queries (each day sees the days before it: episodes and the trailing window are right);
the results are written after each week, so an interrupted run is simply run again (idempotent).
The progress line of ``ingest rollup`` is redrawn on stderr when it is a terminal; one summary
line is printed: days, sites, findings per code.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections import Counter
from typing import TextIO

from energy_core import analysis
from energy_core.errors import InfluxError, InfluxFailure
from energy_core.influx import InfluxClient
from energy_core.registry import Registry
from ingest.analysis.runner import CHUNK_DAYS, WRITE_BATCH, analysers_for
from ingest.analysis.substations import SubstationAnalyser, findings_by_code
from ingest.config import IngestSettings
from ingest.rollup.cli import Progress, days_between
from ingest.rollup.retention import ensure_policies


async def analyse_command(
    settings: IngestSettings,
    registry: Registry,
    start: dt.datetime,
    end: dt.datetime,
    *,
    stream: TextIO = sys.stderr,
    out: TextIO = sys.stdout,
    now_ns: int | None = None,
) -> int:
    """The subcommand; returns the exit code (0 done, 1 InfluxDB failed, 2 bad range)."""
    if end < start:
        print("analyse: --end must not be before --start", file=stream)
        return 2
    days = days_between(start, end)
    if len(days) > 3660:
        print("analyse: at most 3660 days per run (ten years)", file=stream)
        return 2
    analysers = analysers_for(settings, registry)
    for a in analysers:
        if isinstance(a, SubstationAnalyser):
            a.fixed_now_ns = now_ns
    started = time.perf_counter()
    progress = Progress(len(days) * len(analysers), stream, enabled=stream.isatty())
    findings: Counter[str] = Counter()
    points = done = 0
    async with InfluxClient.from_settings(settings, timeout_s=120.0) as influx:
        await ensure_policies(influx, rollup_days=settings.ingest_rollup_retention_days, raw_days=None)
        try:
            for analyser in analysers:
                for first in range(0, len(days), CHUNK_DAYS):
                    chunk = days[first : first + CHUNK_DAYS]
                    lines = await analyser.analyse(influx, chunk)
                    for i in range(0, len(lines), WRITE_BATCH):
                        body = "\n".join(lines[i : i + WRITE_BATCH]).encode()
                        await influx.write(body, rp=analysis.RP)
                    findings.update(findings_by_code(lines))
                    points += len(lines)
                    done += len(chunk)
                    progress.update(done, chunk[-1], points)
        except (InfluxFailure, InfluxError) as exc:
            progress.finish()
            print(
                f"analyse: InfluxDB failed, nothing after the last day shown was analysed: {exc}", file=stream
            )
            return 1
    progress.finish()
    sites = max((len(a.sites) for a in analysers if isinstance(a, SubstationAnalyser)), default=0)
    per_code = ", ".join(f"{code} {findings[code]}" for code in sorted(findings)) or "none"
    print(
        f"analyse: {len(days)} days ({days[0].isoformat()} to {days[-1].isoformat()}, Europe/Stockholm), "
        f"{sites:,} sites, {points:,} points written in {time.perf_counter() - started:.1f} s; "
        f"findings (site-days) by code: {per_code}",
        file=out,
    )
    return 0
