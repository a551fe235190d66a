"""Best available: adjacent seats in one row, closest to the stage, no single gaps."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from seatline.booking import errors
from seatline.booking.best_available import BestAvailableRequest
from seatline.booking.holds import HoldRequest, hold_seat_ids, hold_seats
from seatline.booking.services import Services
from tests.conftest import EventFixture, make_event


def row(
    label: str, y: float, xs: list[float], category: str = "Stalls"
) -> dict[str, Any]:
    return {
        "row_number": label,
        "position": {"x": 0, "y": y},
        "seats": [
            {
                "seat_guid": f"{label}{number}",
                "seat_number": str(number),
                "position": {"x": x, "y": 0},
                "category": category,
            }
            for number, x in enumerate(xs, start=1)
        ],
    }


def hall(*rows: dict[str, Any]) -> dict[str, Any]:
    """A hall 200 units wide with the stage drawn at the top centre."""
    return {
        "name": "Test hall",
        "categories": [
            {"name": "Stalls", "color": "#112233"},
            {"name": "Box", "color": "#445566"},
        ],
        "size": {"width": 200, "height": 200},
        "zones": [
            {
                "name": "Main floor",
                "zone_id": "main",
                "position": {"x": 0, "y": 0},
                "rows": list(rows),
                "areas": [
                    {
                        "shape": "rectangle",
                        "position": {"x": 60, "y": 0},
                        "rectangle": {"width": 80, "height": 20},
                        "text": {"text": "STAGE", "position": {"x": 40, "y": 10}},
                    }
                ],
            }
        ],
    }


TEN_SEATS = [float(20 * index + 10) for index in range(10)]


async def best(
    services: Services,
    event: EventFixture,
    count: int,
    buyer: str = "buyer-a",
    **options: Any,
) -> list[str]:
    hold = await hold_seats(
        services,
        buyer,
        HoldRequest(
            event_id=event.event.id,
            idempotency_key=str(uuid.uuid4()),
            best_available=BestAvailableRequest(count=count, **options),
        ),
    )
    return await hold_seat_ids(services, hold.id)


async def hold(
    services: Services, event: EventFixture, seats: list[str], buyer: str
) -> None:
    await hold_seats(
        services,
        buyer,
        HoldRequest(
            event_id=event.event.id, idempotency_key=str(uuid.uuid4()), seat_ids=seats
        ),
    )


async def test_best_available_picks_front_centre(services: Services) -> None:
    event = await make_event(
        services, plan=hall(row("A", 40, TEN_SEATS), row("B", 70, TEN_SEATS))
    )

    assert await best(services, event, 2) == ["A5", "A6"]
    assert await best(services, event, 2, "buyer-b") in (
        ["A4", "A3"],
        ["A3", "A4"],
        ["A7", "A8"],
    )


async def test_best_available_keeps_group_in_one_row(services: Services) -> None:
    event = await make_event(
        services, plan=hall(row("A", 40, TEN_SEATS), row("B", 70, TEN_SEATS))
    )
    await hold(services, event, ["A3", "A7"], "other")

    seats = await best(services, event, 4)

    assert seats == ["B4", "B5", "B6", "B7"]


async def test_best_available_does_not_span_an_aisle(services: Services) -> None:
    split = [10.0, 30.0, 50.0, 70.0, 150.0, 170.0, 190.0]
    event = await make_event(
        services, plan=hall(row("A", 40, split), row("B", 70, TEN_SEATS))
    )

    seats = await best(services, event, 5)

    assert seats[0].startswith("B")
    assert len(seats) == 5


async def test_best_available_avoids_single_gaps(services: Services) -> None:
    plan = hall(row("A", 40, TEN_SEATS[:5]), row("B", 70, TEN_SEATS))
    strict = await make_event(services, plan=plan, no_single_seat_gaps=True)
    loose = await make_event(services, plan=plan, no_single_seat_gaps=False)
    for event in (strict, loose):
        await hold(services, event, ["A1"], "other")

    assert (await best(services, strict, 3))[0].startswith("B")
    assert (await best(services, loose, 3))[0].startswith("A")


async def test_best_available_filters_by_category(services: Services) -> None:
    plan = hall(row("A", 40, TEN_SEATS), row("B", 70, TEN_SEATS, category="Box"))
    event = await make_event(services, plan=plan)

    seats = await best(services, event, 2, category="Box")

    assert all(seat.startswith("B") for seat in seats)
    with pytest.raises(errors.InvalidInput) as unknown:
        await best(services, event, 2, category="Balcony")
    assert unknown.value.field == "bestAvailable.category"


async def test_best_available_scatters_when_adjacency_optional(
    services: Services,
) -> None:
    event = await make_event(services, plan=hall(row("A", 40, TEN_SEATS[:4])))
    await hold(services, event, ["A2"], "other")

    with pytest.raises(errors.SeatsUnavailable) as raised:
        await best(services, event, 3)
    seats = await best(services, event, 3, adjacent=False)

    assert raised.value.field == "bestAvailable"
    assert sorted(seats) == ["A1", "A3", "A4"]


async def test_best_available_sold_out(services: Services) -> None:
    event = await make_event(services, plan=hall(row("A", 40, TEN_SEATS[:4])))
    await hold(services, event, ["A1", "A2", "A3", "A4"], "other")

    with pytest.raises(errors.SeatsUnavailable, match="no 1 adjacent seats available"):
        await best(services, event, 1)


async def test_best_available_rejects_bad_count(services: Services) -> None:
    event = await make_event(services, plan=hall(row("A", 40, TEN_SEATS)))

    for count in (0, -1, 101):
        with pytest.raises(errors.InvalidInput) as raised:
            await best(services, event, count)
        assert raised.value.field == "bestAvailable.count"


async def test_explicit_selection_leaving_single_gap_rejected(
    services: Services,
) -> None:
    event = await make_event(
        services, plan=hall(row("A", 40, TEN_SEATS)), no_single_seat_gaps=True
    )

    with pytest.raises(errors.SingleSeatGap) as raised:
        await hold(services, event, ["A2", "A3"], "buyer-a")
    await hold(services, event, ["A1", "A2"], "buyer-a")

    assert raised.value.seat_ids == ["A1"]
