"""The forecast: a smoothed baseline plus the surge of each on-sale.

The baseline is an exponential smoothing model (statsmodels' ETSModel) fitted
to the history with past surges taken out. Each upcoming on-sale adds
audience * requests per buyer, spread over an arrival curve. The process
count is sized for the upper end of the baseline's prediction interval plus
the surges.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from statsmodels.tsa.exponential_smoothing.ets import ETSModel

from seatline.capacity.inputs import InputError, OnSale
from seatline.capacity.series import (
    MIN_HISTORY_SECONDS,
    FloatArray,
    RateSeries,
    Surge,
    find_surges,
)

SECONDS_PER_DAY = 86_400
# statsmodels 0.15 starts Holt-Winters heuristically only from two full seasons.
MIN_SEASONAL_DAYS = 2
MAX_HORIZON_DAYS = 28
# The baseline model is fitted to means over this many seconds, and needs
# MIN_FIT_BINS of them.
FIT_STEP_SECONDS = 900
MIN_FIT_BINS = MIN_HISTORY_SECONDS // FIT_STEP_SECONDS
# One process can crash or restart (a deploy, an OOM kill) during an on-sale
# while the others keep serving.
MIN_PROCESSES = 2
# NOTE: an estimate, not a measurement: a buyer loads the event and the seat
# map (layout and availability), holds, checks out, pays and fetches tickets,
# about 8 GraphQL requests, plus token requests and reloads. Measure it from
# a past on-sale with --past-on-sales instead.
DEFAULT_REQUESTS_PER_BUYER = 15.0
DEFAULT_ARRIVAL_MINUTES = 30.0
# The default arrival curve decays exponentially so that 95% of the buyers'
# requests have arrived by the end of the arrival window: exp(-W/tau) = 0.05.
ARRIVED_SHARE = 0.95
# A past on-sale's surge must start within this many seconds of its start.
SURGE_MATCH_SECONDS = 15 * 60


@dataclass(frozen=True)
class ArrivalCurve:
    """Shares of an on-sale's requests per bin, from `offset` bins after its start."""

    offset: int
    shares: FloatArray
    description: str


@dataclass(frozen=True)
class Baseline:
    """Forecast of the rate without on-sales, with its prediction interval."""

    series: RateSeries
    lower: FloatArray
    upper: FloatArray
    model: str


@dataclass(frozen=True)
class OnSaleForecast:
    """The forecast around one on-sale and the processes it needs."""

    on_sale: OnSale
    requests_per_buyer: float
    requests_per_buyer_source: str
    curve: ArrivalCurve
    surge_requests: float
    surge_peak_rate: float
    peak_time: float
    peak_rate: float
    peak_upper: float
    baseline_at_peak: float
    processes: int


@dataclass(frozen=True)
class Calibration:
    """Requests per buyer and the arrival curve, measured from past on-sales."""

    requests_per_buyer: float | None = None
    curve: ArrivalCurve | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Forecast:
    """Everything `seatline forecast` prints and draws."""

    history: RateSeries
    surges: list[Surge]
    baseline: Baseline
    # Baseline plus surges, on the baseline's bins.
    total: FloatArray
    total_upper: FloatArray
    on_sales: list[OnSaleForecast]
    capacity_rps: float
    headroom: float
    interval: float
    processes: int
    notes: list[str]


def forecast(
    history: RateSeries,
    on_sales: Sequence[OnSale],
    *,
    capacity_rps: float,
    headroom: float,
    interval: float = 0.95,
    past_on_sales: Sequence[OnSale] = (),
) -> Forecast:
    """Forecast the request rate around each on-sale and size the processes."""
    for on_sale in on_sales:
        if on_sale.start.timestamp() < history.end:
            raise InputError(
                on_sale.where,
                f"on-sale {on_sale.name!r} starts before the history ends "
                f"({_utc(history.end)}); list it in --past-on-sales instead",
            )
    cleaned, surges = find_surges(history)
    notes = [_surges_note(surges, history.step, calibrated=bool(past_on_sales))]
    calibration = calibrate(surges, past_on_sales, history.step)
    notes += calibration.notes

    horizon_end = max(_surge_end(sale, calibration, history.step) for sale in on_sales)
    baseline = fit_baseline(cleaned, horizon_end, interval)
    notes.append(baseline.model)

    def processes_for_peak(rate: float) -> int:
        return processes_for(rate, capacity_rps, headroom)

    surge_rates = np.zeros_like(baseline.series.rates)
    placed = []
    for on_sale in on_sales:
        rpb, rpb_source = _requests_per_buyer(on_sale, calibration)
        curve = _curve_for(on_sale, calibration, history.step)
        rates = _place(on_sale, curve, on_sale.audience * rpb, baseline.series)
        surge_rates += rates
        placed.append((on_sale, rpb, rpb_source, curve, rates))

    total = baseline.series.rates + surge_rates
    total_upper = baseline.upper + surge_rates
    results = [
        _on_sale_forecast(*item, baseline, total, total_upper, processes_for_peak)
        for item in placed
    ]
    notes.append(
        f"At least {MIN_PROCESSES} processes: one can crash or restart during an "
        "on-sale while the others serve."
    )
    return Forecast(
        history=history,
        surges=surges,
        baseline=baseline,
        total=total,
        total_upper=total_upper,
        on_sales=results,
        capacity_rps=capacity_rps,
        headroom=headroom,
        interval=interval,
        processes=max(result.processes for result in results),
        notes=notes,
    )


def processes_for(rate: float, capacity_rps: float, headroom: float) -> int:
    """Return the processes that keep each one at or under `headroom` of capacity."""
    return max(MIN_PROCESSES, math.ceil(rate / (capacity_rps * headroom)))


def fit_baseline(series: RateSeries, horizon_end: float, interval: float) -> Baseline:
    """Fit exponential smoothing and forecast from the history's end to horizon_end.

    The model is fitted to means over FIT_STEP_SECONDS: a daily season of
    1-minute bins has 1,440 seasonal terms, each estimated from a few noisy
    values. The forecast is interpolated back to the series' bins, and the
    interval adds the spread of those bins around their FIT_STEP means.
    """
    steps = math.ceil((horizon_end - series.end) / series.step)
    if steps > MAX_HORIZON_DAYS * SECONDS_PER_DAY // series.step:
        raise InputError(
            "--on-sales",
            f"an on-sale ends {steps * series.step / SECONDS_PER_DAY:.1f} days after "
            f"the history; forecasts reach at most {MAX_HORIZON_DAYS} days, so run "
            "the forecast closer to the on-sale",
        )
    group = max(1, FIT_STEP_SECONDS // series.step)
    fit_step = group * series.step
    groups = len(series.rates) // group
    fine = series.rates[len(series.rates) - groups * group :].reshape(groups, group)
    coarse = RateSeries(series.end - groups * fit_step, fit_step, fine.mean(axis=1))
    _require_fit_bins(coarse)
    fitted, description = _fit(coarse)

    coarse_steps = math.ceil(steps / group) + 1
    frame = fitted.get_prediction(
        start=groups, end=groups + coarse_steps - 1
    ).summary_frame(alpha=1 - interval)
    coarse_mean = frame["mean"].to_numpy(dtype=np.float64)
    z = NormalDist().inv_cdf(0.5 + interval / 2)
    coarse_sd = (frame["pi_upper"].to_numpy(dtype=np.float64) - coarse_mean) / z
    within_variance = float(fine.var(axis=1, ddof=1).mean()) if group > 1 else 0.0

    grid = RateSeries(series.end, series.step, np.zeros(steps, dtype=np.float64))
    centres = grid.times() + series.step / 2
    coarse_centres = coarse.end + fit_step * (np.arange(coarse_steps) + 0.5)
    mean = np.interp(centres, coarse_centres, coarse_mean)
    spread = z * np.sqrt(
        np.interp(centres, coarse_centres, coarse_sd) ** 2 + within_variance
    )
    return Baseline(
        series=RateSeries(series.end, series.step, np.maximum(mean, 0.0)),
        lower=np.maximum(mean - spread, 0.0),
        upper=np.maximum(mean + spread, 0.0),
        model=description,
    )


def _require_fit_bins(coarse: RateSeries) -> None:
    if len(coarse.rates) < MIN_FIT_BINS:
        hours = MIN_FIT_BINS * coarse.step / 3600
        raise InputError(
            "history",
            f"the history covers {len(coarse.rates) * coarse.step / 3600:.2f} "
            "hours of complete bins; "
            f"the baseline model needs at least {hours:g} hours",
        )


def _fit(coarse: RateSeries) -> tuple[Any, str]:
    """Fit Holt-Winters with a daily season, or a flat level on short histories."""
    days = len(coarse.rates) * coarse.step / SECONDS_PER_DAY
    endog = pd.Series(coarse.rates)
    minutes = coarse.step // 60
    if days >= MIN_SEASONAL_DAYS:
        model = ETSModel(
            endog,
            error="add",
            seasonal="add",
            seasonal_periods=SECONDS_PER_DAY // coarse.step,
            initialization_method="heuristic",
        )
        description = (
            "Baseline: Holt-Winters exponential smoothing (ETS A,N,A) with daily "
            f"seasonality, fitted to {minutes}-minute means over {days:.1f} days."
        )
    else:
        model = ETSModel(endog, error="add", initialization_method="estimated")
        description = (
            "Baseline: simple exponential smoothing (ETS A,N,N), a flat level "
            f"without a daily pattern: the history covers {days * 24:.1f} hours, "
            f"and daily seasonality needs at least {MIN_SEASONAL_DAYS} days."
        )
    return model.fit(disp=False), description


def exponential_curve(arrival_minutes: float, step: int) -> ArrivalCurve:
    """Spread requests so that 95% arrive within `arrival_minutes`, fastest first."""
    window = arrival_minutes * 60
    tau = window / -math.log(1 - ARRIVED_SHARE)
    # Two windows hold all but 0.25% of the requests; that rest is rescaled in.
    edges = np.arange(math.ceil(2 * window / step) + 1, dtype=np.float64) * step
    shares = np.diff(1 - np.exp(-edges / tau))
    return ArrivalCurve(
        offset=0,
        shares=shares / shares.sum(),
        description=f"exponential, 95% within {arrival_minutes:g} min",
    )


def flat_curve(arrival_minutes: float, step: int) -> ArrivalCurve:
    """Spread requests evenly over `arrival_minutes`, as a waiting room admits."""
    bins = math.ceil(arrival_minutes * 60 / step)
    return ArrivalCurve(
        offset=0,
        shares=np.full(bins, 1 / bins, dtype=np.float64),
        description=f"flat over {arrival_minutes:g} min",
    )


def calibrate(
    surges: Sequence[Surge], past_on_sales: Sequence[OnSale], step: int
) -> Calibration:
    """Measure requests per buyer and the arrival curve from past on-sales."""
    per_buyer = []
    curves = []
    notes = []
    for on_sale in past_on_sales:
        start = on_sale.start.timestamp()
        surge = next(
            (s for s in surges if abs(s.start - start) <= SURGE_MATCH_SECONDS), None
        )
        if surge is None or on_sale.audience == 0:
            notes.append(
                f"Past on-sale {on_sale.name!r}: no surge found within "
                f"{SURGE_MATCH_SECONDS // 60} min of its start, or no audience; "
                "not used."
            )
            continue
        rpb = surge.excess_requests / on_sale.audience
        per_buyer.append(rpb)
        curves.append((round((surge.start - start) / step), surge.excess_rates))
        notes.append(
            f"Past on-sale {on_sale.name!r}: {surge.excess_requests:.0f} requests "
            f"above the baseline from {on_sale.audience} buyers, "
            f"{rpb:.2f} requests per buyer."
        )
    if not per_buyer:
        return Calibration(notes=notes)
    curve = _fitted_curve(curves, step)
    if curve is None:
        curve = _mean_curve(curves, len(curves))
        notes.append(
            "Past surges do not decay like an exponential; their mean shape is "
            "used as the arrival curve."
        )
    return Calibration(
        requests_per_buyer=float(np.median(per_buyer)),
        curve=curve,
        notes=notes,
    )


def _fitted_curve(
    curves: Sequence[tuple[int, FloatArray]], step: int
) -> ArrivalCurve | None:
    """Fit the exponential arrival curve to past surges by their mean arrival time.

    One surge's bins carry Poisson noise of a few percent each, which would
    go straight into the forecast peak; the fitted curve has one parameter.
    """
    taus = []
    for _, rates in curves:
        centres = (np.arange(len(rates)) + 0.5) * step
        mean = float((rates * centres).sum() / rates.sum())
        tau = _exponential_scale(mean, len(rates) * step)
        if tau is None:
            return None
        taus.append(tau)
    arrival_minutes = float(np.median(taus)) * -math.log(1 - ARRIVED_SHARE) / 60
    fitted = exponential_curve(arrival_minutes, step)
    return ArrivalCurve(
        offset=int(np.median([offset for offset, _ in curves])),
        shares=fitted.shares,
        description=f"{fitted.description}, fitted to {len(curves)} past on-sale(s)",
    )


def _exponential_scale(mean: float, window: float) -> float | None:
    """Return the scale of an exponential whose mean within [0, window] is `mean`.

    The mean of an exponential truncated at the window is
    tau - window / (exp(window / tau) - 1), which rises from 0 to window / 2.
    """
    if not 0 < mean < window / 2:
        return None

    def gap(tau: float) -> float:
        return tau - window / math.expm1(window / tau) - mean

    scale: float = brentq(gap, mean, window * 1e3)
    return scale


def _mean_curve(curves: Sequence[tuple[int, FloatArray]], count: int) -> ArrivalCurve:
    offset = min(start for start, _ in curves)
    length = max(start - offset + len(rates) for start, rates in curves)
    shares = np.zeros(length, dtype=np.float64)
    for start, rates in curves:
        shares[start - offset : start - offset + len(rates)] += rates / rates.sum()
    return ArrivalCurve(
        offset=offset,
        shares=shares / shares.sum(),
        description=f"measured from {count} past on-sale(s)",
    )


def _requests_per_buyer(on_sale: OnSale, calibration: Calibration) -> tuple[float, str]:
    if on_sale.requests_per_buyer is not None:
        return on_sale.requests_per_buyer, "on-sales file"
    if calibration.requests_per_buyer is not None:
        return calibration.requests_per_buyer, "past on-sales"
    return DEFAULT_REQUESTS_PER_BUYER, "default"


def _curve_for(on_sale: OnSale, calibration: Calibration, step: int) -> ArrivalCurve:
    if on_sale.arrival_minutes is not None and on_sale.arrival_shape == "flat":
        return flat_curve(on_sale.arrival_minutes, step)
    if on_sale.arrival_minutes is not None:
        return exponential_curve(on_sale.arrival_minutes, step)
    if calibration.curve is not None:
        return calibration.curve
    return exponential_curve(DEFAULT_ARRIVAL_MINUTES, step)


def _surge_end(on_sale: OnSale, calibration: Calibration, step: int) -> float:
    curve = _curve_for(on_sale, calibration, step)
    # An hour past the surge shows the rate settling back to the baseline.
    bins = curve.offset + len(curve.shares)
    return on_sale.start.timestamp() + bins * step + 3600


def _place(
    on_sale: OnSale, curve: ArrivalCurve, requests: float, grid: RateSeries
) -> FloatArray:
    rates = np.zeros_like(grid.rates)
    first = math.floor((on_sale.start.timestamp() - grid.start) / grid.step)
    for index, share in enumerate(curve.shares, start=first + curve.offset):
        if 0 <= index < len(rates):
            rates[index] += requests * share / grid.step
    return rates


def _on_sale_forecast(
    on_sale: OnSale,
    rpb: float,
    rpb_source: str,
    curve: ArrivalCurve,
    surge: FloatArray,
    baseline: Baseline,
    total: FloatArray,
    total_upper: FloatArray,
    size: Callable[[float], int],
) -> OnSaleForecast:
    window = np.flatnonzero(surge > 0)
    if len(window) == 0:
        first = math.floor(
            (on_sale.start.timestamp() - baseline.series.start) / baseline.series.step
        )
        window = np.array([max(0, min(first, len(total) - 1))])
    peak = int(window[np.argmax(total_upper[window])])
    return OnSaleForecast(
        on_sale=on_sale,
        requests_per_buyer=rpb,
        requests_per_buyer_source=rpb_source,
        curve=curve,
        surge_requests=float(surge.sum() * baseline.series.step),
        surge_peak_rate=float(surge.max()),
        peak_time=float(baseline.series.times()[peak]),
        peak_rate=float(total[peak]),
        peak_upper=float(total_upper[peak]),
        baseline_at_peak=float(baseline.series.rates[peak]),
        processes=size(float(total_upper[peak])),
    )


def _surges_note(surges: Sequence[Surge], step: int, *, calibrated: bool) -> str:
    if not surges:
        return "No surges found in the history."
    described = "; ".join(
        f"{_utc(surge.start)} for {len(surge.excess_rates) * step // 60} min, "
        f"{surge.excess_requests:.0f} extra requests"
        for surge in surges
    )
    note = f"Surges in the history (left out of the baseline fit): {described}."
    if calibrated:
        return note
    return (
        f"{note} List past on-sales with their audience in --past-on-sales to "
        "measure requests per buyer from them."
    )


def _utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")
