"""Venue seating plans: parsing, layouts for clients and generated plans."""

from seatline.venues.plan import (
    MAX_SEATS,
    Plan,
    PlanCategory,
    PlanError,
    PlanInvalid,
    PlanRow,
    PlanSeat,
    PlanSection,
    SeatPlacement,
    build_layout,
    default_focus,
    iter_seats,
    layout_version,
    parse_plan,
)

__all__ = [
    "MAX_SEATS",
    "Plan",
    "PlanCategory",
    "PlanError",
    "PlanInvalid",
    "PlanRow",
    "PlanSeat",
    "PlanSection",
    "SeatPlacement",
    "build_layout",
    "default_focus",
    "iter_seats",
    "layout_version",
    "parse_plan",
]
