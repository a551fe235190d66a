"""Request-rate series: binning, and finding the surges of past on-sales."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from seatline.capacity.inputs import InputError
from seatline.capacity.prometheus import RateSamples

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

MIN_BINS = 12
# The baseline model needs this much history, whatever the bin width.
MIN_HISTORY_SECONDS = 3 * 3600
# The robust baseline is a running median over this window. A surge of up to
# an hour is a minority of its points. At a daily peak or trough, the median
# of a sinusoid over 3 of 24 hours is within 2% of its amplitude of the
# value at the centre.
BASELINE_WINDOW_SECONDS = 3 * 3600
# A bin starts a surge when it exceeds the baseline by SURGE_SIGMAS standard
# deviations and by at least SURGE_MIN_REQUESTS requests. The surge goes on
# while the excess stays above SURGE_TAIL_SIGMAS.
SURGE_SIGMAS = 6.0
SURGE_TAIL_SIGMAS = 2.0
SURGE_MIN_REQUESTS = 10.0
TAIL_BINS = 5
# 1.4826 * median absolute deviation estimates a normal standard deviation.
MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class RateSeries:
    """Requests per second in consecutive bins of `step` seconds from `start`."""

    start: float
    step: int
    rates: FloatArray

    @property
    def end(self) -> float:
        return self.start + self.step * len(self.rates)

    def times(self) -> FloatArray:
        return self.start + self.step * np.arange(len(self.rates), dtype=np.float64)


@dataclass(frozen=True)
class Surge:
    """A stretch of history well above the robust baseline."""

    start: float
    # Requests per second above the baseline, one value per bin from `start`.
    excess_rates: FloatArray
    step: int

    @property
    def end(self) -> float:
        return self.start + self.step * len(self.excess_rates)

    @property
    def excess_requests(self) -> float:
        return float(self.excess_rates.sum() * self.step)

    @property
    def peak_excess_rate(self) -> float:
        return float(self.excess_rates.max())


def bin_request_times(times: Sequence[float], step: int, source: str) -> RateSeries:
    """Count requests per bin; the partial first and last bins are dropped."""
    stamps = np.asarray(times, dtype=np.float64)
    first = math.ceil(stamps.min() / step) * step
    end = math.floor(stamps.max() / step) * step
    bins = int((end - first) // step)
    _require_bins(bins, step, source)
    inside = stamps[(stamps >= first) & (stamps < end)]
    indexes = ((inside - first) // step).astype(np.int64)
    counts = np.bincount(indexes, minlength=bins).astype(np.float64)
    return RateSeries(start=float(first), step=step, rates=counts / step)


def series_from_samples(samples: RateSamples, step: int) -> RateSeries:
    """Put Prometheus samples on a regular grid; missing points count as 0."""
    first = samples.times[0]
    bins = round((samples.times[-1] - first) / step) + 1
    _require_bins(bins, step, "Prometheus")
    rates = np.zeros(bins, dtype=np.float64)
    for time, rate in zip(samples.times, samples.rates, strict=True):
        rates[round((time - first) / step)] = max(rate, 0.0)
    return RateSeries(start=first, step=step, rates=rates)


def _require_bins(bins: int, step: int, source: str) -> None:
    if bins < MIN_BINS:
        raise InputError(
            source,
            f"the history covers {max(bins, 0)} complete bin(s) of {step} s; "
            f"a forecast needs at least {MIN_BINS} bins and "
            f"{MIN_HISTORY_SECONDS // 3600} hours of history",
        )


def robust_baseline(series: RateSeries, mask: BoolArray | None = None) -> FloatArray:
    """Return a running median of the rates, skipping bins where `mask` is set."""
    window = max(3, BASELINE_WINDOW_SECONDS // series.step) | 1
    rates = pd.Series(series.rates)
    if mask is not None:
        rates[mask] = np.nan
    rolling = rates.rolling(window, center=True, min_periods=1).median()
    # A masked stretch longer than the window has no median; interpolate it.
    filled = rolling.interpolate(limit_direction="both").fillna(0.0)
    return np.asarray(filled.to_numpy(), dtype=np.float64)


def find_surges(series: RateSeries) -> tuple[RateSeries, list[Surge]]:
    """Return the series with its surges replaced by the baseline, and the surges.

    A second pass recomputes the baseline without the first pass's surges,
    which otherwise lift the median around them.
    """
    spans = _surge_spans(series, robust_baseline(series))
    if not spans:
        return series, []
    mask = np.zeros(len(series.rates), dtype=bool)
    for first, last in spans:
        mask[first : last + 1] = True
    expected = robust_baseline(series, mask)
    spans = _surge_spans(series, expected)

    cleaned = series.rates.copy()
    surges = []
    for first, last in spans:
        cleaned[first : last + 1] = expected[first : last + 1]
        excess = series.rates[first : last + 1] - expected[first : last + 1]
        surges.append(
            Surge(
                start=series.start + first * series.step,
                excess_rates=np.maximum(excess, 0.0),
                step=series.step,
            )
        )
    return RateSeries(series.start, series.step, cleaned), surges


def _surge_spans(series: RateSeries, expected: FloatArray) -> list[tuple[int, int]]:
    """Return the first and last bin of each surge above `expected`."""
    excess = series.rates - expected
    # Poisson noise of a count of expected * step requests, in requests per
    # second; at least one request per bin, so that idle hours stay quiet.
    sigma = np.maximum(
        _noise_sigma(excess),
        np.sqrt(np.maximum(expected, 1.0 / series.step) / series.step),
    )
    starts = (excess > SURGE_SIGMAS * sigma) & (
        excess * series.step >= SURGE_MIN_REQUESTS
    )
    # A surge's tail sinks into the noise bin by bin; its mean over the next
    # TAIL_BINS bins stays significant for longer.
    ahead = pd.Series(excess[::-1]).rolling(TAIL_BINS, min_periods=1).mean()
    in_tail = ahead.to_numpy()[::-1] > SURGE_TAIL_SIGMAS * sigma / math.sqrt(TAIL_BINS)

    spans = []
    index = 0
    while index < len(excess):
        if not starts[index]:
            index += 1
            continue
        first = index
        while first > 0 and excess[first - 1] > SURGE_TAIL_SIGMAS * sigma[first - 1]:
            first -= 1
        last = index
        while last + 1 < len(excess) and in_tail[last + 1]:
            last += 1
        spans.append((first, last))
        index = last + 1
    return spans


def _noise_sigma(excess: FloatArray) -> float:
    median = float(np.median(excess))
    return MAD_TO_SIGMA * float(np.median(np.abs(excess - median)))
