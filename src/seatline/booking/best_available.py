"""Choose the best free seats: adjacent in one row, closest to the focus."""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from seatline.booking.geometry import SeatPlace, VenueGeometry


@dataclass(frozen=True)
class BestAvailableRequest:
    count: int
    category: str | None = None
    section: str | None = None
    adjacent: bool = True


@dataclass(frozen=True)
class Candidate:
    seats: tuple[SeatPlace, ...]
    score: float


def choose_seats(
    geometry: VenueGeometry,
    free: Sequence[bool],
    request: BestAvailableRequest,
    *,
    avoid_single_gaps: bool,
    exclude: frozenset[int] = frozenset(),
    spread: int = 1,
    rng: random.Random | None = None,
) -> list[SeatPlace] | None:
    """Return the best seats for `request`, or None when none fit.

    `free[ordinal]` says whether a seat is free. With `spread` > 1 the choice
    is made at random among that many best candidates, so that concurrent
    buyers retrying after a lost race do not all collide on one block again.
    """
    category_id = (
        geometry.categories.get(request.category) if request.category else None
    )
    section_id = geometry.sections.get(request.section) if request.section else None

    def eligible(place: SeatPlace) -> bool:
        return (
            free[place.ordinal]
            and place.ordinal not in exclude
            and (category_id is None or place.category_id == category_id)
            and (section_id is None or place.section_id == section_id)
        )

    candidates = _adjacent_candidates(
        geometry, free, request.count, eligible, avoid_single_gaps, keep=max(spread, 1)
    )
    if not candidates and not request.adjacent:
        singles = sorted(
            (place for block in geometry.blocks for place in block if eligible(place)),
            key=lambda place: place.distance,
        )
        if len(singles) < request.count:
            return None
        return singles[: request.count]
    if not candidates:
        return None

    candidates.sort(key=lambda candidate: candidate.score)
    if spread > 1:
        chooser = rng or random.Random()
        return list(chooser.choice(candidates[:spread]).seats)
    return list(candidates[0].seats)


def _adjacent_candidates(
    geometry: VenueGeometry,
    free: Sequence[bool],
    count: int,
    eligible: Callable[[SeatPlace], bool],
    avoid_single_gaps: bool,
    keep: int,
) -> list[Candidate]:
    """The `keep` best runs of `count` eligible adjacent seats.

    Blocks are visited nearest first; a run's score (its mean distance) is
    at least its block's nearest seat, so the scan stops at the first block
    that cannot beat the worst run kept.
    """
    best: list[tuple[float, int, Candidate]] = []
    for block_index in geometry.blocks_by_distance:
        if len(best) == keep and geometry.block_distance[block_index] > -best[0][0]:
            break
        block = geometry.blocks[block_index]
        if len(block) < count:
            continue
        usable = [eligible(place) for place in block]
        open_seats = [free[place.ordinal] for place in block]
        run = 0
        for end, ok in enumerate(usable):
            run = run + 1 if ok else 0
            if run < count:
                continue
            start = end - count + 1
            if avoid_single_gaps and _leaves_single_gap(open_seats, start, end):
                continue
            seats = tuple(block[start : end + 1])
            score = sum(place.distance for place in seats) / count
            item = (-score, id(seats), Candidate(seats, score))
            if len(best) < keep:
                heapq.heappush(best, item)
            elif score < -best[0][0]:
                heapq.heapreplace(best, item)
    return [candidate for _, _, candidate in best]


def _leaves_single_gap(open_seats: Sequence[bool], start: int, end: int) -> bool:
    """True when taking seats start..end isolates one free seat beside them."""
    left, right = start - 1, end + 1
    if left >= 0 and open_seats[left] and (left == 0 or not open_seats[left - 1]):
        return True
    last = len(open_seats) - 1
    return (
        right <= last
        and open_seats[right]
        and (right == last or not open_seats[right + 1])
    )


def single_gaps(
    geometry: VenueGeometry, free: Sequence[bool], taken: set[int]
) -> list[str]:
    """Public ids of free seats that `taken` would leave alone between others."""
    isolated: list[str] = []
    touched_blocks = {geometry.place_of[ordinal][0] for ordinal in taken}
    for block_index in touched_blocks:
        block = geometry.blocks[block_index]
        after = [free[place.ordinal] and place.ordinal not in taken for place in block]
        for position, place in enumerate(block):
            if not after[position]:
                continue
            left_closed = position == 0 or not after[position - 1]
            right_closed = position == len(block) - 1 or not after[position + 1]
            next_to_taken = (position > 0 and block[position - 1].ordinal in taken) or (
                position < len(block) - 1 and block[position + 1].ordinal in taken
            )
            if left_closed and right_closed and next_to_taken and len(block) > 1:
                isolated.append(place.guid)
    return isolated
