"""Energy signatures: a building's daily heat against the day's mean outdoor temperature.

A change-point (three-parameter heating) model, the usual form of an energy signature
(ASHRAE Guideline 14-2014, "3P heating" model; Gadd & Werner 2015 use daily heat vs outdoor
temperature the same way; SMHI's Energi-Index assumes a balance temperature of +17 °C):

    P(T) = base_kw + slope_kw_per_k · max(0, balance_c − T)

``base_kw`` is the weather-independent load (domestic hot water, losses, base load),
``slope_kw_per_k`` the heating slope, ``balance_c`` the outdoor temperature above which the
building needs no space heating. :func:`fit` tries every balance temperature on a 0.5 K grid
and keeps the least-squares line with the smallest residual (ties: the lower balance), so the
fit is deterministic. Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

BALANCE_GRID_C = tuple(8.0 + 0.5 * k for k in range(27))  # 8.0 … 21.0 °C
DEFAULT_BALANCE_C = 17.0  # SMHI Energi-Index
MIN_DAYS = 7  # fewer days than this give no signature


@dataclass(frozen=True, slots=True)
class Signature:
    """A fitted signature; ``r2`` is the coefficient of determination, ``days`` the points used."""

    base_kw: float
    slope_kw_per_k: float
    balance_c: float
    r2: float
    residual_kw: float  # standard deviation of the residuals (kW), for prediction bands
    days: int

    def predict_kw(self, outdoor_c: float) -> float:
        """The mean load (kW) the signature expects on a day with mean outdoor ``outdoor_c``."""
        return self.base_kw + self.slope_kw_per_k * max(0.0, self.balance_c - outdoor_c)

    def predict_kwh(self, outdoor_c: float, hours: float = 24.0) -> float:
        return self.predict_kw(outdoor_c) * hours


def _line(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float, float] | None:
    """Least-squares ``y = a + b·x``: (a, b, sse); None when x does not vary."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx <= 1e-12:
        return None
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    a = my - b * mx
    sse = sum((y - a - b * x) ** 2 for x, y in zip(xs, ys, strict=True))
    return a, b, sse


def fit(
    points: Sequence[tuple[float, float]],
    *,
    balance_grid: Sequence[float] = BALANCE_GRID_C,
    min_days: int = MIN_DAYS,
) -> Signature | None:
    """Fit ``(outdoor_c, mean_load_kw)`` day points; None with too few days or no spread in weather.

    A fit whose slope would be negative (more heat on warmer days) is not a heating signature:
    that grid point is skipped.
    """
    clean = [(t, p) for t, p in points if math.isfinite(t) and math.isfinite(p)]
    if len(clean) < min_days:
        return None
    ys = [p for _, p in clean]
    mean_y = sum(ys) / len(ys)
    sst = sum((y - mean_y) ** 2 for y in ys)
    best: tuple[float, float, float, float] | None = None  # sse, balance, a, b
    for balance in balance_grid:
        xs = [max(0.0, balance - t) for t, _ in clean]
        line = _line(xs, ys)
        if line is None or line[1] < 0:
            continue
        a, b, sse = line
        if best is None or sse < best[0] - 1e-9:
            best = (sse, balance, a, b)
    if best is None:
        return None
    sse, balance, a, b = best
    r2 = 1.0 - sse / sst if sst > 1e-12 else 1.0
    residual = math.sqrt(sse / max(1, len(clean) - 3))
    return Signature(
        base_kw=a, slope_kw_per_k=b, balance_c=balance, r2=r2, residual_kw=residual, days=len(clean)
    )
