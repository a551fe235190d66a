"""Generated seating plans for demos, fixtures and load tests.

The generators return plan documents (dicts) that pass `parse_plan`. They use
no randomness, so the same arguments always give the same plan and the same
layout version. The stage or pitch is a rectangle area labelled "STAGE" or
"PITCH", which `default_focus` picks up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from seatline.venues.plan import MAX_SEATS

# Distances in plan units.
SEAT_PITCH = 24
ROW_PITCH = 30
MARGIN = 40

MAX_THEATRE_ROWS = 200
MAX_SEATS_PER_ROW = 500
# Curved rows span at most this angle around the arc's centre.
MAX_ROW_ANGLE = math.pi / 2

# Stands as (zone_id prefix, display name, block count). The long sides of
# the pitch get more blocks than the ends.
STADIUM_STANDS = (
    ("N", "North stand", 12),
    ("E", "East stand", 8),
    ("S", "South stand", 12),
    ("W", "West stand", 8),
)
MIN_STADIUM_SEATS = 100
MAX_STADIUM_ROWS = 40
STADIUM_SEAT_PITCH = 20
STADIUM_ROW_PITCH = 20
STADIUM_BLOCK_GAP = 40
# Space between the pitch's edge and the first row of each stand.
STADIUM_CLEARANCE = 60
STADIUM_VIP_ROWS = 5


class _Seat(NamedTuple):
    guid: str
    number: str
    # Absolute plan coordinates.
    x: float
    y: float
    category: str


@dataclass
class _Row:
    label: str
    seats: list[_Seat] = field(default_factory=list)


@dataclass
class _Zone:
    zone_id: str
    name: str
    rows: list[_Row]
    # Area objects with absolute positions.
    areas: list[dict[str, Any]] = field(default_factory=list)


def theatre(
    rows: int = 20,
    seats_per_row: int = 30,
    *,
    name: str = "Generated Theatre",
    curved: bool = True,
) -> dict[str, Any]:
    """Generate a theatre: a stage at the top, stalls below it, then a circle.

    The stalls have `rows` rows (A nearest the stage) of `seats_per_row`
    seats. Two aisles split rows of 12 or more seats into side blocks and a
    centre block, and seat numbers skip one number at each aisle. The circle
    has max(2, rows // 4) rows of seats_per_row + 4 seats, so the plan has
    exactly rows * seats_per_row + circle seats. Categories are "Stalls
    centre", "Stalls sides" and "Circle". With `curved`, rows are arcs
    around a point above the stage.
    """
    _check_range("rows", rows, 1, MAX_THEATRE_ROWS)
    _check_range("seats_per_row", seats_per_row, 1, MAX_SEATS_PER_ROW)

    circle_rows = max(2, rows // 4)
    circle_seats = seats_per_row + 4
    widest = _row_width(circle_seats)
    first_radius = max(4 * ROW_PITCH, widest / MAX_ROW_ANGLE)
    # The circle starts three row pitches behind the last row of the stalls.
    circle_radius = first_radius + (rows + 3) * ROW_PITCH

    stalls = [
        _theatre_row(
            "stalls",
            _row_name(r),
            seats_per_row,
            first_radius + r * ROW_PITCH,
            curved=curved,
            categories=("Stalls sides", "Stalls centre"),
        )
        for r in range(rows)
    ]
    circle = [
        _theatre_row(
            "circle",
            _row_name(r),
            circle_seats,
            circle_radius + r * ROW_PITCH,
            curved=curved,
            categories=("Circle", "Circle"),
        )
        for r in range(circle_rows)
    ]

    categories = [
        {"name": "Stalls centre", "color": "#c0392b"},
        {"name": "Stalls sides", "color": "#2980b9"},
        {"name": "Circle", "color": "#27ae60"},
    ]
    zones = [
        _Zone("stage", "Stage", [], [_stage_area(stalls[0], widest)]),
        _Zone("stalls", "Stalls", stalls),
        _Zone("circle", "Circle", circle),
    ]
    return _plan_document(name, categories, zones)


def stadium(
    target_seats: int = 50_000, *, name: str = "Generated Stadium"
) -> dict[str, Any]:
    """Generate a stadium with exactly `target_seats` seats around a pitch.

    Four stands (North, East, South, West) of 12, 8, 12 and 8 blocks face the
    pitch. Every block has the same number of rows, round(sqrt(target / 80))
    capped at 40, with row 1 nearest the pitch. Back rows are up to half
    longer than front rows. Categories: "VIP" (the front rows of the South
    stand's two middle blocks), "Central" (the four middle blocks of the long
    stands), "Sides" (the other long-stand blocks) and "Ends" (East and West).
    """
    _check_range("target_seats", target_seats, MIN_STADIUM_SEATS, MAX_SEATS)

    block_count = sum(count for _, _, count in STADIUM_STANDS)
    rows_per_block = round(math.sqrt(target_seats / (2 * block_count)))
    rows_per_block = min(MAX_STADIUM_ROWS, max(1, rows_per_block))
    remaining = iter(_allocate_row_lengths(target_seats, block_count, rows_per_block))
    stands = {
        prefix: [next(remaining) for _ in range(count)]
        for prefix, _, count in STADIUM_STANDS
    }

    long_side = max(_stand_length(stands["N"]), _stand_length(stands["S"]))
    short_side = max(_stand_length(stands["E"]), _stand_length(stands["W"]))
    pitch = (
        0.0,
        0.0,
        long_side + 2 * STADIUM_CLEARANCE,
        short_side + 2 * STADIUM_CLEARANCE,
    )

    zones = [_Zone("pitch", "Pitch", [], [_labelled_rectangle("PITCH", *pitch)])]
    for prefix, stand_name, _ in STADIUM_STANDS:
        zones.extend(_stand_zones(prefix, stand_name, stands[prefix], pitch))

    categories = [
        {"name": "VIP", "color": "#8e44ad"},
        {"name": "Central", "color": "#c0392b"},
        {"name": "Sides", "color": "#2980b9"},
        {"name": "Ends", "color": "#27ae60"},
    ]
    return _plan_document(name, categories, zones)


def _check_range(name: str, value: int, minimum: int, maximum: int) -> None:
    if not minimum <= value <= maximum:
        raise ValueError(f"{name} must be {minimum} to {maximum}, got {value}")


# Theatre


def _theatre_row(
    zone_id: str,
    label: str,
    seat_count: int,
    radius: float,
    *,
    curved: bool,
    categories: tuple[str, str],
) -> _Row:
    """Build one row centred on x = 0, with aisles between its blocks.

    `categories` holds the side blocks' category, then the centre block's.
    """
    blocks = _split_blocks(seat_count)
    slot_count = _slot_count(seat_count)
    row = _Row(label)
    slot = 0
    number = 1

    for block_index, block_size in enumerate(blocks):
        is_centre = len(blocks) == 1 or block_index == 1
        category = categories[1] if is_centre else categories[0]
        for _ in range(block_size):
            offset = (slot - (slot_count - 1) / 2) * SEAT_PITCH
            x, y = _place_on_row(offset, radius, curved=curved)
            guid = f"{zone_id}-{label}-{number}"
            row.seats.append(_Seat(guid, str(number), x, y, category))
            slot += 1
            number += 1
        # An aisle is two seats wide, and one seat number is left out there.
        slot += 2
        number += 1
    return row


def _stage_area(front_row: _Row, widest: float) -> dict[str, Any]:
    """Return a STAGE rectangle centred on x = 0, one row pitch above the front row."""
    width = max(4 * SEAT_PITCH, round(widest * 0.6))
    height = 3 * ROW_PITCH
    bottom = min(seat.y for seat in front_row.seats) - ROW_PITCH
    return _labelled_rectangle("STAGE", -width / 2, bottom - height, width, height)


def _split_blocks(seat_count: int) -> list[int]:
    """Split a row into side, centre and side blocks, or keep a short row whole."""
    if seat_count < 12:
        return [seat_count]
    side = seat_count // 4
    return [side, seat_count - 2 * side, side]


def _slot_count(seat_count: int) -> int:
    """Count seat-wide places in a row, aisles included."""
    return seat_count + 2 * (len(_split_blocks(seat_count)) - 1)


def _row_width(seat_count: int) -> float:
    return _slot_count(seat_count) * SEAT_PITCH


def _place_on_row(offset: float, radius: float, *, curved: bool) -> tuple[float, float]:
    """Place a seat `offset` units along its row from the row's middle.

    Curved rows are arcs of `radius` around (0, 0), and straight rows run
    along y = radius.
    """
    if not curved:
        return (offset, radius)
    angle = offset / radius
    return (radius * math.sin(angle), radius * math.cos(angle))


def _row_name(index: int) -> str:
    """Name rows A, B, ..., Z, AA, AB, ... as spreadsheets name columns."""
    name = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        name = chr(ord("A") + remainder) + name
    return name


# Stadium


def _allocate_row_lengths(
    target: int, block_count: int, rows_per_block: int
) -> list[list[int]]:
    """Split `target` seats over all rows so that the row lengths sum exactly.

    Row r of a block weighs 1 + 0.5 * r / rows_per_block. Each row gets the
    floor of its share, and the seats left over go to the rows with the
    largest remainders, the first such row first.
    """
    weights = [1 + 0.5 * r / rows_per_block for r in range(rows_per_block)]
    total_weight = sum(weights) * block_count
    shares = [target * w / total_weight for _ in range(block_count) for w in weights]
    lengths = [math.floor(share) for share in shares]

    leftover = target - sum(lengths)
    by_remainder = sorted(range(len(shares)), key=lambda i: (lengths[i] - shares[i], i))
    for i in by_remainder[:leftover]:
        lengths[i] += 1

    return [
        lengths[b * rows_per_block : (b + 1) * rows_per_block]
        for b in range(block_count)
    ]


def _block_width(row_lengths: list[int]) -> float:
    return max(row_lengths) * STADIUM_SEAT_PITCH


def _stand_length(blocks: list[list[int]]) -> float:
    widths = sum(_block_width(rows) for rows in blocks)
    return widths + STADIUM_BLOCK_GAP * (len(blocks) - 1)


def _stand_zones(
    prefix: str,
    stand_name: str,
    blocks: list[list[int]],
    pitch: tuple[float, float, float, float],
) -> list[_Zone]:
    """Lay out one stand's blocks side by side along its edge of the pitch."""
    left, top, width, height = pitch
    if prefix in "NS":
        start = left + (width - _stand_length(blocks)) / 2
    else:
        start = top + (height - _stand_length(blocks)) / 2

    zones = []
    for index, row_lengths in enumerate(blocks):
        zone_id = f"{prefix}{index + 1}"
        middle = start + _block_width(row_lengths) / 2
        rows = [
            _stadium_row(
                zone_id,
                row_index,
                length,
                middle,
                pitch,
                _stadium_category(prefix, index, len(blocks), row_index),
            )
            for row_index, length in enumerate(row_lengths)
        ]
        zones.append(_Zone(zone_id, f"{stand_name}, block {zone_id}", rows))
        start += _block_width(row_lengths) + STADIUM_BLOCK_GAP
    return zones


def _stadium_row(
    zone_id: str,
    row_index: int,
    length: int,
    middle: float,
    pitch: tuple[float, float, float, float],
    category: str,
) -> _Row:
    """Build a row parallel to the pitch edge of the stand named by zone_id[0]."""
    left, top, width, height = pitch
    distance = STADIUM_CLEARANCE + row_index * STADIUM_ROW_PITCH
    prefix = zone_id[0]
    across = {
        "N": top - distance,
        "S": top + height + distance,
        "W": left - distance,
        "E": left + width + distance,
    }[prefix]

    label = str(row_index + 1)
    row = _Row(label)
    for index in range(length):
        along = middle + (index - (length - 1) / 2) * STADIUM_SEAT_PITCH
        x, y = (along, across) if prefix in "NS" else (across, along)
        number = str(index + 1)
        row.seats.append(_Seat(f"{zone_id}-{label}-{number}", number, x, y, category))
    return row


def _stadium_category(
    prefix: str, block_index: int, block_count: int, row_index: int
) -> str:
    if prefix in "EW":
        return "Ends"

    middle = block_count // 2
    is_middle_pair = middle - 1 <= block_index <= middle
    if prefix == "S" and is_middle_pair and row_index < STADIUM_VIP_ROWS:
        return "VIP"
    if middle - 2 <= block_index < middle + 2:
        return "Central"
    return "Sides"


# Plan document


def _labelled_rectangle(
    text: str, left: float, top: float, width: float, height: float
) -> dict[str, Any]:
    return {
        "shape": "rectangle",
        "position": {"x": left, "y": top},
        "rectangle": {"width": round(width), "height": round(height)},
        "color": "#dddddd",
        "border_color": "#999999",
        "text": {
            "text": text,
            "position": {"x": round(width / 2), "y": round(height / 2)},
            "color": "#333333",
            "size": 24,
        },
    }


def _plan_document(
    name: str, categories: list[dict[str, str]], zones: list[_Zone]
) -> dict[str, Any]:
    """Assemble the plan document with everything moved MARGIN from the top left.

    Zone positions are the top left of their content, row positions are
    offsets from the zone, and seat positions offsets from the row, so the
    document uses all three levels of the format.
    """
    left, top, right, bottom = _bounds(zones)
    shift_x = MARGIN - left
    shift_y = MARGIN - top
    documents = [_zone_document(zone, shift_x, shift_y) for zone in zones]
    return {
        "name": name,
        "categories": categories,
        "zones": documents,
        "size": {
            "width": math.ceil(right + shift_x + MARGIN),
            "height": math.ceil(bottom + shift_y + MARGIN),
        },
    }


def _bounds(zones: list[_Zone]) -> tuple[float, float, float, float]:
    """Return (left, top, right, bottom) around all seats and rectangles."""
    xs: list[float] = []
    ys: list[float] = []
    for zone in zones:
        for row in zone.rows:
            xs.extend(seat.x for seat in row.seats)
            ys.extend(seat.y for seat in row.seats)
        for area in zone.areas:
            x, y = area["position"]["x"], area["position"]["y"]
            xs.extend((x, x + area["rectangle"]["width"]))
            ys.extend((y, y + area["rectangle"]["height"]))
    return (min(xs), min(ys), max(xs), max(ys))


def _zone_document(zone: _Zone, shift_x: float, shift_y: float) -> dict[str, Any]:
    points = [(seat.x, seat.y) for row in zone.rows for seat in row.seats]
    points += [(area["position"]["x"], area["position"]["y"]) for area in zone.areas]
    zone_x = _round(min(x for x, _ in points) + shift_x)
    zone_y = _round(min(y for _, y in points) + shift_y)

    areas = []
    for area in zone.areas:
        moved = dict(area)
        moved["position"] = {
            "x": _round(area["position"]["x"] + shift_x - zone_x),
            "y": _round(area["position"]["y"] + shift_y - zone_y),
        }
        areas.append(moved)

    rows = [_row_document(row, shift_x - zone_x, shift_y - zone_y) for row in zone.rows]
    document: dict[str, Any] = {
        "name": zone.name,
        "zone_id": zone.zone_id,
        "position": {"x": zone_x, "y": zone_y},
        "rows": rows,
    }
    if areas:
        document["areas"] = areas
    return document


def _row_document(row: _Row, shift_x: float, shift_y: float) -> dict[str, Any]:
    """Describe a row, with `shift` moving absolute points into zone coordinates."""
    row_x = _round(min(seat.x for seat in row.seats) + shift_x)
    row_y = _round(min(seat.y for seat in row.seats) + shift_y)
    seats = [
        {
            "seat_guid": seat.guid,
            "seat_number": seat.number,
            "position": {
                "x": _round(seat.x + shift_x - row_x),
                "y": _round(seat.y + shift_y - row_y),
            },
            "category": seat.category,
        }
        for seat in row.seats
    ]
    return {
        "row_number": row.label,
        "position": {"x": row_x, "y": row_y},
        "seats": seats,
    }


def _round(value: float) -> float | int:
    """Round to 0.1 plan units, writing whole values as integers."""
    rounded = round(value, 1)
    return int(rounded) if float(rounded).is_integer() else rounded
