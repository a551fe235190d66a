"""Seating-plan validation, the parsed Plan and the compact layout for clients.

A seating plan is JSON in the format of the pretix ticket shop, described by
`seating-plan.schema.json` next to this module. `parse_plan` validates it and
returns a `Plan` whose coordinates are absolute and whose rows list their seats
in order along the row. `build_layout` turns a Plan into the layout that clients
download once per venue version and cache:

    {
      "v": 1,
      "name": "Example Hall",
      "size": [width, height],
      "categories": [[name, color or null], ...],
      "sections": [
        {"key": "stalls", "name": "Stalls", "rows": [
          {"label": "A", "seats": [[guid, number, x, y, category_index], ...]},
          ...
        ]},
        ...
      ],
      "areas": [area, ...]
    }

Seats appear section by section, row by row, and in row order within a row.
That order gives each seat its ordinal 0..N-1, and availability encodings index
seats by ordinal. Coordinates are plan units rounded to 0.1, and whole values
are written as integers. `category_index` points into "categories". Areas are
the plan's area objects with their position made absolute.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, NamedTuple

import orjson
from jsonschema import Draft7Validator, ValidationError

LAYOUT_FORMAT = 1
MAX_SEATS = 200_000
# PlanInvalid keeps this many errors, so that a broken generated plan cannot
# produce a multi-megabyte error response.
MAX_ERRORS = 20

# Limits match the column sizes in seatline.models.venue. A string under any
# other key (uuid, seat_label, area text) is capped at DEFAULT_MAX_LENGTH.
MAX_LENGTHS = {
    "seat_guid": 200,
    "seat_number": 100,
    "row_number": 100,
    "row_label": 100,
    "name": 200,
    "zone_id": 200,
    "category": 200,
    "color": 32,
}
DEFAULT_MAX_LENGTH = 1000
# Numbers beyond this magnitude are rejected as mistakes, which also keeps
# sums of zone, row and seat offsets finite.
MAX_MAGNITUDE = 1e9

# Unicode categories rejected in plan strings: control characters (Cc),
# format characters such as bidirectional overrides (Cf), and lone surrogates
# (Cs), which JSON decoders let through but no UTF-8 encoder accepts.
REJECTED_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FOCUS_LABEL = re.compile(
    r"\b(stage|pitch|field|court|screen|rink|podium|escenario|scène|bühne|сцена)\b",
    re.IGNORECASE,
)

JsonPath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class PlanError:
    """One problem in a seating plan, at a JSON path such as `$.zones[3].rows[2]`."""

    path: str
    message: str


class PlanInvalid(Exception):
    """A seating plan failed validation.

    `errors` lists at most MAX_ERRORS problems in document order, and `total`
    counts all problems found.
    """

    def __init__(self, errors: list[PlanError], total: int | None = None) -> None:
        self.errors = errors
        self.total = len(errors) if total is None else total
        super().__init__(self._summary())

    def _summary(self) -> str:
        if not self.errors:
            return "invalid seating plan"

        first = self.errors[0]
        summary = f"invalid seating plan: {first.path}: {first.message}"
        others = self.total - 1
        if others > 0:
            summary += f" (and {others} more error{'s' if others > 1 else ''})"
        return summary


@dataclass(frozen=True, slots=True)
class PlanCategory:
    name: str
    color: str | None


@dataclass(frozen=True, slots=True)
class PlanSeat:
    guid: str
    number: str
    # Absolute plan coordinates, rounded to 0.1.
    x: float
    y: float
    category: str


@dataclass(frozen=True, slots=True)
class PlanRow:
    label: str
    # Seats in order along the row (see _order_along_row).
    seats: list[PlanSeat]


@dataclass(frozen=True, slots=True)
class PlanSection:
    """A zone of the plan that has rows, under a key unique within the plan."""

    key: str
    name: str
    rows: list[PlanRow]


@dataclass(frozen=True, slots=True)
class Plan:
    name: str
    width: int
    height: int
    categories: list[PlanCategory]
    sections: list[PlanSection]
    # Area objects as in the plan file, with absolute positions.
    areas: list[dict[str, Any]]

    @property
    def seat_count(self) -> int:
        return sum(len(row.seats) for row in self.rows())

    def rows(self) -> Iterator[PlanRow]:
        for section in self.sections:
            yield from section.rows


class SeatPlacement(NamedTuple):
    """A seat with its place in the layout order."""

    ordinal: int
    section_index: int
    row_ordinal: int
    position_in_row: int
    row: PlanRow
    seat: PlanSeat


def parse_plan(data: object) -> Plan:
    """Validate a decoded seating-plan document and return it as a Plan.

    Raises PlanInvalid listing the problems. Errors against the JSON Schema
    come first. Only a plan without them is checked for the rules that a
    schema cannot express: unique seat_guid values and category names, known
    categories, no empty rows, at least one seat, string lengths, and no
    control or format characters.
    """
    if not isinstance(data, dict):
        raise PlanInvalid(
            [PlanError("$", f"expected an object, got {_json_type(data)}")]
        )

    seat_count = _count_seats(data)
    if seat_count > MAX_SEATS:
        message = (
            f"plan has {seat_count:,} seats, more than the maximum of {MAX_SEATS:,}"
        )
        raise PlanInvalid([PlanError("$.zones", message)])

    _raise_if_any(_schema_errors(data))
    _raise_if_any(_value_errors(data) + _reference_errors(data))
    return _build_plan(data)


def iter_seats(plan: Plan) -> Iterator[SeatPlacement]:
    """Yield every seat of the plan in layout order, numbered by ordinal."""
    ordinal = 0
    for section_index, section in enumerate(plan.sections):
        for row_ordinal, row in enumerate(section.rows):
            for position_in_row, seat in enumerate(row.seats):
                yield SeatPlacement(
                    ordinal, section_index, row_ordinal, position_in_row, row, seat
                )
                ordinal += 1


def build_layout(plan: Plan) -> tuple[dict[str, Any], str]:
    """Build the compact layout of the plan and return it with its version.

    The version is the first 16 hex digits of the SHA-256 of the layout as
    canonical JSON (orjson, sorted keys), so it changes whenever the layout
    does.
    """
    category_index = {category.name: i for i, category in enumerate(plan.categories)}
    layout: dict[str, Any] = {
        "v": LAYOUT_FORMAT,
        "name": plan.name,
        "size": [plan.width, plan.height],
        "categories": [[c.name, c.color] for c in plan.categories],
        "sections": [_layout_section(s, category_index) for s in plan.sections],
        "areas": copy.deepcopy(plan.areas),
    }
    return layout, layout_version(layout)


def layout_version(layout: dict[str, Any]) -> str:
    canonical = orjson.dumps(layout, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()[:16]


def default_focus(plan: Plan) -> tuple[float, float]:
    """Return the point that best-available seats should be closest to.

    1. The centre of the first area whose text names a stage or a playing
       field ("stage", "pitch", "field", "court", "screen", ...).
    2. Else, when seats surround an empty middle as in a stadium bowl, the
       centre of the seats' bounding box.
    3. Else the horizontal centre of the plan at y = 0, which assumes that
       the stage is drawn at the top.
    """
    for area in plan.areas:
        if _FOCUS_LABEL.search(area.get("text", {}).get("text", "")):
            return _area_centre(area)

    if _surrounds_empty_middle(plan):
        left, top, right, bottom = _seat_bounds(plan)
        return ((left + right) / 2, (top + bottom) / 2)

    # NOTE: Plans drawn with the stage at the bottom (row A lowest) get their
    # back rows as the best seats here. Importers can pass their own focus.
    return (plan.width / 2, 0.0)


# Validation


@cache
def _validator() -> Draft7Validator:
    text = resources.files(__package__).joinpath("seating-plan.schema.json")
    schema = json.loads(text.read_text(encoding="utf-8"))
    return Draft7Validator(_inline_refs(schema, schema["definitions"]))


def _inline_refs(node: Any, definitions: dict[str, Any]) -> Any:
    """Replace each `{"$ref": "#/definitions/name"}` with that definition.

    jsonschema 4.26 resolves a $ref on every visit. Inlining cut the time to
    validate a 40,000-seat plan from 3.5 s to 2.2 s (one run each on a 2-core
    AMD EPYC VM). Draft-07 ignores keywords next to a $ref, so dropping them
    keeps the meaning.
    """
    if isinstance(node, list):
        return [_inline_refs(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node

    reference = node.get("$ref")
    if isinstance(reference, str):
        name = reference.removeprefix("#/definitions/")
        return _inline_refs(definitions[name], definitions)
    return {
        key: _inline_refs(value, definitions)
        for key, value in node.items()
        if key != "definitions"
    }


def _count_seats(data: dict[Any, Any]) -> int:
    """Count seats without trusting the structure, before the costly schema check."""
    zones = data.get("zones")
    if not isinstance(zones, list):
        return 0

    count = 0
    for zone in zones:
        rows = zone.get("rows") if isinstance(zone, dict) else None
        if not isinstance(rows, list):
            continue
        for row in rows:
            seats = row.get("seats") if isinstance(row, dict) else None
            if isinstance(seats, list):
                count += len(seats)
    return count


def _schema_errors(data: dict[Any, Any]) -> list[tuple[JsonPath, str]]:
    errors: list[tuple[JsonPath, str]] = []
    for error in _validator().iter_errors(data):
        errors.extend(_describe_schema_error(error))
    return errors


def _describe_schema_error(error: ValidationError) -> Iterator[tuple[JsonPath, str]]:
    """Yield errors with short messages that never repeat the whole instance."""
    path: JsonPath = tuple(error.absolute_path)
    instance = error.instance

    if error.validator == "required":
        for field in error.validator_value:
            if field not in instance:
                yield (*path, field), "missing required field"
    elif error.validator == "additionalProperties":
        allowed = error.schema.get("properties", {})
        expected = ", ".join(allowed)
        for field in instance:
            if field not in allowed:
                yield (*path, field), f"unknown field, expected one of: {expected}"
    elif error.validator == "type":
        expected = _join_alternatives(_as_list(error.validator_value))
        yield path, f"expected {expected}, got {_json_type(instance)}"
    elif error.validator == "enum":
        choices = _join_alternatives([json.dumps(v) for v in error.validator_value])
        yield path, f"expected one of {choices}, got {_short_json(instance)}"
    else:
        yield path, _truncate(error.message, 200)


def _value_errors(data: dict[str, Any]) -> list[tuple[JsonPath, str]]:
    """Check every string and number in the plan against its limits."""
    errors: list[tuple[JsonPath, str]] = []
    _check_values(data, (), errors)
    return errors


def _check_values(
    value: Any, path: JsonPath, errors: list[tuple[JsonPath, str]]
) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _check_values(item, (*path, key), errors)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_values(item, (*path, index), errors)
    elif isinstance(value, str):
        _check_string(value, path, errors)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        _check_number(value, path, errors)


def _check_string(
    value: str, path: JsonPath, errors: list[tuple[JsonPath, str]]
) -> None:
    key = path[-1] if path else None
    limit = DEFAULT_MAX_LENGTH
    if isinstance(key, str):
        limit = MAX_LENGTHS.get(key, DEFAULT_MAX_LENGTH)
    if len(value) > limit:
        errors.append(
            (path, f"too long: {len(value)} characters, the maximum is {limit}")
        )

    # isprintable() is false for every rejected character, and it is fast
    # enough to skip the per-character scan for almost all strings.
    if value.isprintable():
        return
    for character in value:
        if unicodedata.category(character) in REJECTED_CATEGORIES:
            code = f"U+{ord(character):04X}"
            message = f"contains the non-printable character {code}, remove it"
            errors.append((path, message))
            return


def _check_number(
    value: float, path: JsonPath, errors: list[tuple[JsonPath, str]]
) -> None:
    # Python compares ints of any size with floats exactly, but converting a
    # huge int to float raises OverflowError, so test floats only for NaN.
    if isinstance(value, float) and not math.isfinite(value):
        errors.append((path, f"expected a finite number, got {value}"))
    elif abs(value) > MAX_MAGNITUDE:
        limit = f"{MAX_MAGNITUDE:,.0f}"
        message = f"out of range: {_short_json(value)}, expected -{limit} to {limit}"
        errors.append((path, message))


def _reference_errors(data: dict[str, Any]) -> list[tuple[JsonPath, str]]:
    """Check categories, seat_guid uniqueness, empty rows and the seat total."""
    errors: list[tuple[JsonPath, str]] = []
    category_names = _check_categories(data["categories"], errors)
    guid_paths: dict[str, JsonPath] = {}
    seat_count = 0

    for zone_index, zone in enumerate(data["zones"]):
        for row_index, row in enumerate(zone["rows"]):
            row_path: JsonPath = ("zones", zone_index, "rows", row_index)
            if not row["seats"]:
                errors.append(
                    (
                        (*row_path, "seats"),
                        "row has no seats, add seats or remove the row",
                    )
                )

            for seat_index, seat in enumerate(row["seats"]):
                seat_path = (*row_path, "seats", seat_index)
                _check_seat(seat, seat_path, category_names, guid_paths, errors)
            seat_count += len(row["seats"])

    if seat_count == 0:
        errors.append(
            (("zones",), "plan has no seats, add at least one row with seats")
        )
    return errors


def _check_categories(
    categories: list[dict[str, Any]], errors: list[tuple[JsonPath, str]]
) -> list[str]:
    names: dict[str, int] = {}
    for index, category in enumerate(categories):
        name = category["name"]
        path: JsonPath = ("categories", index, "name")
        if not name:
            errors.append((path, "category name must not be empty"))
        elif name in names:
            first = _format_path(("categories", names[name]))
            errors.append(
                (
                    path,
                    f"duplicate category name {_quote(name)}, first defined at {first}",
                )
            )
        else:
            names[name] = index
    return list(names)


def _check_seat(
    seat: dict[str, Any],
    path: JsonPath,
    category_names: list[str],
    guid_paths: dict[str, JsonPath],
    errors: list[tuple[JsonPath, str]],
) -> None:
    guid = seat["seat_guid"]
    guid_path = (*path, "seat_guid")
    if not guid:
        errors.append((guid_path, "seat_guid must not be empty"))
    elif guid in guid_paths:
        first = _format_path(guid_paths[guid])
        errors.append(
            (guid_path, f"duplicate seat_guid {_quote(guid)}, also used at {first}")
        )
    else:
        guid_paths[guid] = guid_path

    category = seat["category"]
    if category not in category_names:
        expected = ", ".join(_quote(name) for name in category_names[:10])
        message = f"unknown category {_quote(category)}, expected one of: {expected}"
        errors.append(((*path, "category"), message))


def _raise_if_any(errors: list[tuple[JsonPath, str]]) -> None:
    if not errors:
        return

    unique = sorted(set(errors), key=lambda error: (_path_sort_key(error[0]), error[1]))
    reported = [
        PlanError(_format_path(path), message) for path, message in unique[:MAX_ERRORS]
    ]
    raise PlanInvalid(reported, total=len(unique))


# Building the Plan


def _build_plan(data: dict[str, Any]) -> Plan:
    sections: list[PlanSection] = []
    areas: list[dict[str, Any]] = []
    used_keys: set[str] = set()

    for index, zone in enumerate(data["zones"]):
        origin = _point(zone["position"])
        areas.extend(_absolute_area(area, origin) for area in zone.get("areas", ()))
        if not zone["rows"]:
            continue

        key = _unique_key(
            zone.get("zone_id") or zone.get("name") or f"zone-{index}", used_keys
        )
        rows = [_build_row(row, origin) for row in zone["rows"]]
        sections.append(PlanSection(key=key, name=zone.get("name") or key, rows=rows))

    categories = [PlanCategory(c["name"], c.get("color")) for c in data["categories"]]
    return Plan(
        name=data["name"],
        # JSON Schema's "integer" also accepts floats such as 800.0.
        width=int(data["size"]["width"]),
        height=int(data["size"]["height"]),
        categories=categories,
        sections=sections,
        areas=areas,
    )


def _build_row(row: dict[str, Any], zone_origin: tuple[float, float]) -> PlanRow:
    offset = _point(row.get("position"))
    origin_x = zone_origin[0] + offset[0]
    origin_y = zone_origin[1] + offset[1]
    seats = [
        PlanSeat(
            guid=seat["seat_guid"],
            number=seat["seat_number"],
            x=round(origin_x + seat["position"]["x"], 1),
            y=round(origin_y + seat["position"]["y"], 1),
            category=seat["category"],
        )
        for seat in row["seats"]
    ]
    return PlanRow(
        label=row.get("row_label") or row["row_number"], seats=_order_along_row(seats)
    )


def _order_along_row(seats: list[PlanSeat]) -> list[PlanSeat]:
    """Sort seats along the row, so that neighbours in the list sit side by side.

    Plans list seats in any order (odd numbers on one side of the aisle, even
    on the other). A row that is wider than tall is sorted left to right, and
    a row that runs vertically, such as one in a stadium's side stand, top to
    bottom. The sort is stable, so seats at the same point keep file order.
    """
    xs = [seat.x for seat in seats]
    ys = [seat.y for seat in seats]
    if max(xs) - min(xs) >= max(ys) - min(ys):
        return sorted(seats, key=lambda seat: (seat.x, seat.y))
    return sorted(seats, key=lambda seat: (seat.y, seat.x))


def _unique_key(base: str, used: set[str]) -> str:
    key = base
    suffix = 1
    while key in used:
        suffix += 1
        tail = f"-{suffix}"
        key = base[: MAX_LENGTHS["zone_id"] - len(tail)] + tail
    used.add(key)
    return key


def _absolute_area(area: dict[str, Any], origin: tuple[float, float]) -> dict[str, Any]:
    absolute = copy.deepcopy(area)
    offset = _point(area.get("position"))
    absolute["position"] = {"x": origin[0] + offset[0], "y": origin[1] + offset[1]}
    return absolute


# Layout


def _layout_section(
    section: PlanSection, category_index: dict[str, int]
) -> dict[str, Any]:
    rows = [
        {
            "label": row.label,
            "seats": [_layout_seat(seat, category_index) for seat in row.seats],
        }
        for row in section.rows
    ]
    return {"key": section.key, "name": section.name, "rows": rows}


def _layout_seat(seat: PlanSeat, category_index: dict[str, int]) -> list[Any]:
    return [
        seat.guid,
        seat.number,
        _compact_number(seat.x),
        _compact_number(seat.y),
        category_index[seat.category],
    ]


def _compact_number(value: float) -> float | int:
    """Write 12.0 as 12, which saves two bytes per coordinate in the layout."""
    return int(value) if float(value).is_integer() else value


# Focus


def _area_centre(area: dict[str, Any]) -> tuple[float, float]:
    """Return the centre of a rectangle or polygon, else the area's position.

    The rectangle's position is taken as its top left corner and polygon
    points as offsets from the position, both turned clockwise by `rotation`
    degrees around the position. Circles, ellipses and text use the position.
    """
    x, y = _point(area.get("position"))
    shape = area.get("shape")
    if shape == "rectangle" and "rectangle" in area:
        dx = area["rectangle"]["width"] / 2
        dy = area["rectangle"]["height"] / 2
    elif shape == "polygon" and area.get("polygon", {}).get("points"):
        points = [_point(point) for point in area["polygon"]["points"]]
        dx = sum(px for px, _ in points) / len(points)
        dy = sum(py for _, py in points) / len(points)
    else:
        return (x, y)

    angle = math.radians(area.get("rotation", 0))
    # With y pointing down, this standard rotation turns clockwise on screen.
    return (
        x + dx * math.cos(angle) - dy * math.sin(angle),
        y + dx * math.sin(angle) + dy * math.cos(angle),
    )


def _surrounds_empty_middle(plan: Plan) -> bool:
    """Tell whether seats lie left of, right of, above and below the middle.

    The seats' bounding box is cut into a 3 x 3 grid whose middle cell is the
    central half in each direction. A bowl has seats in the middle cell of
    each edge and none in the centre cell.
    """
    left, top, right, bottom = _seat_bounds(plan)
    occupied = {
        (_band(seat.x, left, right), _band(seat.y, top, bottom))
        for row in plan.rows()
        for seat in row.seats
    }
    edge_middles = {(0, 1), (2, 1), (1, 0), (1, 2)}
    return (1, 1) not in occupied and edge_middles <= occupied


def _band(value: float, low: float, high: float) -> int:
    """Return 0 for the first quarter of [low, high], 2 for the last, else 1."""
    quarter = (high - low) / 4
    if value <= low + quarter:
        return 0
    if value >= high - quarter:
        return 2
    return 1


def _seat_bounds(plan: Plan) -> tuple[float, float, float, float]:
    """Return (left, top, right, bottom) of all seat positions."""
    xs = [seat.x for row in plan.rows() for seat in row.seats]
    ys = [seat.y for row in plan.rows() for seat in row.seats]
    return (min(xs), min(ys), max(xs), max(ys))


# Small helpers


def _point(position: dict[str, float] | None) -> tuple[float, float]:
    if position is None:
        return (0.0, 0.0)
    return (position["x"], position["y"])


def _format_path(path: JsonPath) -> str:
    parts = ["$"]
    for part in path:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif _IDENTIFIER.fullmatch(part):
            parts.append(f".{part}")
        else:
            parts.append(f"[{json.dumps(_truncate(part, 50), ensure_ascii=False)}]")
    return "".join(parts)


def _path_sort_key(path: JsonPath) -> tuple[tuple[int, int, str], ...]:
    """Order paths as the document does: array items by index, not as text."""
    return tuple(
        (0, part, "") if isinstance(part, int) else (1, 0, part) for part in path
    )


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _as_list(value: object) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list) else [str(value)]


def _join_alternatives(items: list[str]) -> str:
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " or " + items[-1]


def _short_json(value: object) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return _truncate(text, 50)


def _quote(value: str) -> str:
    return repr(_truncate(value, 50))


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
