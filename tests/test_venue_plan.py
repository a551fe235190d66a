"""Seating-plan parsing, validation, layouts and generated plans (no database)."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from jsonschema import Draft7Validator

from seatline.venues import (
    MAX_SEATS,
    Plan,
    PlanError,
    PlanInvalid,
    build_layout,
    default_focus,
    iter_seats,
    parse_plan,
)
from seatline.venues.generate import stadium, theatre
from tests.conftest import SEATING_PLANS_DIR, unavailable

PLANS_DIR = SEATING_PLANS_DIR
SCHEMA_PATH = (
    Path(__file__).resolve().parents[1] / "src/seatline/venues/seating-plan.schema.json"
)
STADIUM_FILE = "metalist-stadium-kharkiv.json"
PARANINFO_FILE = "ull-paraninfo.json"

Document = dict[str, Any]


def read_real_plan(filename: str) -> Document:
    """Read a real venue's plan, which licences keep out of the repository."""
    if not PLANS_DIR.is_dir():
        unavailable(f"real seating plans not found in {PLANS_DIR}")
    document: Document = json.loads((PLANS_DIR / filename).read_text(encoding="utf-8"))
    return document


@pytest.fixture(scope="module")
def stadium_document() -> Document:
    return read_real_plan(STADIUM_FILE)


@pytest.fixture(scope="module")
def stadium_plan(stadium_document: Document) -> Plan:
    return parse_plan(stadium_document)


@pytest.fixture(scope="module")
def paraninfo_plan() -> Plan:
    return parse_plan(read_real_plan(PARANINFO_FILE))


@pytest.fixture(scope="module")
def generated_stadium() -> Document:
    return stadium(50_000)


@pytest.fixture(scope="module")
def generated_stadium_plan(generated_stadium: Document) -> Plan:
    return parse_plan(generated_stadium)


def seat(guid: str, number: str, x: float, category: str = "Stalls") -> Document:
    return {
        "seat_guid": guid,
        "seat_number": number,
        "position": {"x": x, "y": 0},
        "category": category,
    }


def small_plan() -> Document:
    """Return a plan with three zones, one of them without rows.

    Row 1 lists its seats right to left.
    """
    return {
        "name": "Small hall",
        "size": {"width": 400, "height": 300},
        "categories": [
            {"name": "Stalls", "color": "#123456"},
            {"name": "Balcony"},
        ],
        "zones": [
            {
                "name": "Stalls",
                "zone_id": "stalls",
                "position": {"x": 10, "y": 100},
                "rows": [
                    {
                        "row_number": "1",
                        "position": {"x": 5, "y": 0},
                        "seats": [seat("s-1-2", "2", 30), seat("s-1-1", "1", 0)],
                    },
                    {
                        "row_number": "2",
                        "row_label": "Row two",
                        "position": {"x": 0, "y": 30},
                        "seats": [seat("s-2-1", "1", 0.04)],
                    },
                ],
            },
            {
                "name": "Stage",
                "position": {"x": 100, "y": 0},
                "rows": [],
                "areas": [
                    {
                        "shape": "rectangle",
                        "position": {"x": 0, "y": 10},
                        "rectangle": {"width": 200, "height": 40},
                        "text": {"text": "Stage", "position": {"x": 100, "y": 20}},
                    }
                ],
            },
            {
                "position": {"x": 0, "y": 200},
                "rows": [
                    {
                        "row_number": "A",
                        "seats": [seat("b-A-1", "1", 0, "Balcony")],
                    }
                ],
            },
        ],
    }


def first_zone(document: Document) -> Document:
    zone: Document = document["zones"][0]
    return zone


def first_row(document: Document) -> Document:
    row: Document = first_zone(document)["rows"][0]
    return row


def first_seat(document: Document) -> Document:
    first: Document = first_row(document)["seats"][0]
    return first


def parse_errors(document: object) -> PlanInvalid:
    with pytest.raises(PlanInvalid) as caught:
        parse_plan(document)
    return caught.value


SEAT_0 = "$.zones[0].rows[0].seats[0]"
Mutation = Callable[[Document], object]

INVALID_CASES: list[Any] = [
    pytest.param(
        lambda d: d.pop("name"), "$.name", "missing required field", id="no name"
    ),
    pytest.param(
        lambda d: d.pop("size"), "$.size", "missing required field", id="no size"
    ),
    pytest.param(
        lambda d: d.update(seats=[]),
        "$.seats",
        "unknown field, expected one of: name, categories, zones, size",
        id="unknown top-level field",
    ),
    pytest.param(
        lambda d: d.update(zones={}),
        "$.zones",
        "expected array, got object",
        id="zones not an array",
    ),
    pytest.param(
        lambda d: d["size"].update(width=10.5),
        "$.size.width",
        "expected integer, got number",
        id="fractional width",
    ),
    pytest.param(
        lambda d: first_seat(d).pop("seat_guid"),
        f"{SEAT_0}.seat_guid",
        "missing required field",
        id="no seat_guid",
    ),
    pytest.param(
        lambda d: first_seat(d).update(seat_number=2),
        f"{SEAT_0}.seat_number",
        "expected string, got integer",
        id="seat_number not a string",
    ),
    pytest.param(
        lambda d: first_seat(d)["position"].update(x="5"),
        f"{SEAT_0}.position.x",
        "expected number, got string",
        id="coordinate not a number",
    ),
    pytest.param(
        lambda d: first_seat(d)["position"].update(x=True),
        f"{SEAT_0}.position.x",
        "expected number, got boolean",
        id="coordinate boolean",
    ),
    pytest.param(
        lambda d: first_row(d).update(row_number_position="middle"),
        "$.zones[0].rows[0].row_number_position",
        'expected one of "start", "end", "both" or null, got "middle"',
        id="row_number_position not in enum",
    ),
    pytest.param(
        lambda d: first_zone(d).update(colour="red"),
        "$.zones[0].colour",
        "unknown field, expected one of: name, zone_id, uuid, position, rows, areas",
        id="unknown zone field",
    ),
    pytest.param(
        lambda d: d["zones"][1]["areas"][0].update(label="x"),
        "$.zones[1].areas[0].label",
        "unknown field, expected one of: color, border_color, rotation, position, "
        "uuid, shape, polygon, rectangle, ellipse, circle, text",
        id="unknown area field",
    ),
    pytest.param(
        lambda d: first_row(d)["seats"][1].update(seat_guid="s-1-2"),
        "$.zones[0].rows[0].seats[1].seat_guid",
        "duplicate seat_guid 's-1-2', also used at "
        "$.zones[0].rows[0].seats[0].seat_guid",
        id="duplicate seat_guid in one row",
    ),
    pytest.param(
        lambda d: d["zones"][2]["rows"][0]["seats"][0].update(seat_guid="s-2-1"),
        "$.zones[2].rows[0].seats[0].seat_guid",
        "duplicate seat_guid 's-2-1', also used at "
        "$.zones[0].rows[1].seats[0].seat_guid",
        id="duplicate seat_guid across zones",
    ),
    pytest.param(
        lambda d: first_seat(d).update(seat_guid=""),
        f"{SEAT_0}.seat_guid",
        "seat_guid must not be empty",
        id="empty seat_guid",
    ),
    pytest.param(
        lambda d: first_seat(d).update(category="Box"),
        f"{SEAT_0}.category",
        "unknown category 'Box', expected one of: 'Stalls', 'Balcony'",
        id="unknown category",
    ),
    pytest.param(
        lambda d: d["categories"].append({"name": "Stalls"}),
        "$.categories[2].name",
        "duplicate category name 'Stalls', first defined at $.categories[0]",
        id="duplicate category name",
    ),
    pytest.param(
        lambda d: d["categories"].append({"name": ""}),
        "$.categories[2].name",
        "category name must not be empty",
        id="empty category name",
    ),
    pytest.param(
        lambda d: first_row(d).update(seats=[]),
        "$.zones[0].rows[0].seats",
        "row has no seats, add seats or remove the row",
        id="empty row",
    ),
    pytest.param(
        lambda d: d.update(zones=[d["zones"][1]]),
        "$.zones",
        "plan has no seats, add at least one row with seats",
        id="no seats",
    ),
    pytest.param(
        lambda d: first_row(d).update(row_number="1\x07"),
        "$.zones[0].rows[0].row_number",
        "contains the non-printable character U+0007, remove it",
        id="control character",
    ),
    pytest.param(
        lambda d: first_seat(d).update(seat_number="1\n"),
        f"{SEAT_0}.seat_number",
        "contains the non-printable character U+000A, remove it",
        id="line feed",
    ),
    pytest.param(
        lambda d: first_zone(d).update(name="Stalls\u202e"),
        "$.zones[0].name",
        "contains the non-printable character U+202E, remove it",
        id="bidirectional override",
    ),
    pytest.param(
        lambda d: d.update(name="Hall \ud800"),
        "$.name",
        "contains the non-printable character U+D800, remove it",
        id="lone surrogate",
    ),
    pytest.param(
        lambda d: first_seat(d).update(seat_guid="g" * 201),
        f"{SEAT_0}.seat_guid",
        "too long: 201 characters, the maximum is 200",
        id="long seat_guid",
    ),
    pytest.param(
        lambda d: first_seat(d).update(seat_number="9" * 101),
        f"{SEAT_0}.seat_number",
        "too long: 101 characters, the maximum is 100",
        id="long seat_number",
    ),
    pytest.param(
        lambda d: first_row(d).update(row_label="R" * 101),
        "$.zones[0].rows[0].row_label",
        "too long: 101 characters, the maximum is 100",
        id="long row_label",
    ),
    pytest.param(
        lambda d: first_zone(d).update(name="Z" * 201),
        "$.zones[0].name",
        "too long: 201 characters, the maximum is 200",
        id="long zone name",
    ),
    pytest.param(
        lambda d: first_zone(d).update(zone_id="z" * 201),
        "$.zones[0].zone_id",
        "too long: 201 characters, the maximum is 200",
        id="long zone_id",
    ),
    pytest.param(
        lambda d: d["categories"][0].update(color="#" + "f" * 32),
        "$.categories[0].color",
        "too long: 33 characters, the maximum is 32",
        id="long colour",
    ),
    pytest.param(
        lambda d: d["zones"][1]["areas"][0]["text"].update(text="x" * 1001),
        "$.zones[1].areas[0].text.text",
        "too long: 1001 characters, the maximum is 1000",
        id="long area text",
    ),
    pytest.param(
        lambda d: first_seat(d)["position"].update(x=math.nan),
        f"{SEAT_0}.position.x",
        "expected a finite number, got nan",
        id="NaN coordinate",
    ),
    pytest.param(
        lambda d: first_seat(d)["position"].update(y=-math.inf),
        f"{SEAT_0}.position.y",
        "expected a finite number, got -inf",
        id="infinite coordinate",
    ),
    pytest.param(
        lambda d: first_zone(d)["position"].update(x=10**400),
        "$.zones[0].position.x",
        f"out of range: 1{'0' * 48}…, expected -1,000,000,000 to 1,000,000,000",
        id="huge integer coordinate",
    ),
]


@pytest.mark.parametrize(("mutate", "path", "message"), INVALID_CASES)
def test_parse_plan_rejects(mutate: Mutation, path: str, message: str) -> None:
    document = small_plan()
    mutate(document)

    error = parse_errors(document)

    assert error.errors[0] == PlanError(path, message)
    assert str(error).startswith(f"invalid seating plan: {path}: {message}")


@pytest.mark.parametrize(
    ("value", "type_name"),
    [([], "array"), ("plan", "string"), (None, "null"), (3.5, "number")],
)
def test_parse_plan_rejects_non_object(value: object, type_name: str) -> None:
    error = parse_errors(value)

    assert error.errors == [PlanError("$", f"expected an object, got {type_name}")]


def test_parse_plan_rejects_too_many_seats() -> None:
    document = small_plan()
    first_row(document)["seats"] = [
        seat(f"s-{i}", str(i), i) for i in range(MAX_SEATS + 1)
    ]

    error = parse_errors(document)

    message = "plan has 200,003 seats, more than the maximum of 200,000"
    assert error.errors == [PlanError("$.zones", message)]


def test_plan_invalid_sorted_and_capped() -> None:
    document = small_plan()
    template = document["zones"][2]
    document["zones"] = []
    for index in range(30):
        zone = copy.deepcopy(template)
        zone["zone_id"] = f"z{index}"
        zone["rows"][0]["seats"][0].update(seat_guid=f"g{index}", category="Box")
        document["zones"].append(zone)

    error = parse_errors(document)

    assert len(error.errors) == 20
    assert error.total == 30
    assert error.errors[0].path == "$.zones[0].rows[0].seats[0].category"
    assert error.errors[2].path == "$.zones[2].rows[0].seats[0].category"
    assert error.errors[10].path == "$.zones[10].rows[0].seats[0].category"
    assert str(error).endswith("(and 29 more errors)")


def test_plan_invalid_reports_every_schema_error() -> None:
    document = small_plan()
    first_seat(document).pop("category")
    first_row(document)["seats"][1]["seat_number"] = 2

    error = parse_errors(document)

    assert error.errors == [
        PlanError(f"{SEAT_0}.category", "missing required field"),
        PlanError(
            "$.zones[0].rows[0].seats[1].seat_number", "expected string, got integer"
        ),
    ]
    assert str(error).endswith("(and 1 more error)")


def test_parse_plan_small_plan() -> None:
    plan = parse_plan(small_plan())

    assert plan.name == "Small hall"
    assert (plan.width, plan.height) == (400, 300)
    assert [(c.name, c.color) for c in plan.categories] == [
        ("Stalls", "#123456"),
        ("Balcony", None),
    ]
    assert [s.key for s in plan.sections] == ["stalls", "zone-2"]
    assert [s.name for s in plan.sections] == ["Stalls", "zone-2"]
    assert plan.seat_count == 4


def test_parse_plan_absolute_coordinates() -> None:
    plan = parse_plan(small_plan())
    row_1, row_2 = plan.sections[0].rows

    assert [(s.x, s.y) for s in row_1.seats] == [(15, 100), (45, 100)]
    # 10 + 0 + 0.04 rounds to 10.0.
    assert [(s.x, s.y) for s in row_2.seats] == [(10.0, 130)]
    assert [(s.x, s.y) for s in plan.sections[1].rows[0].seats] == [(0, 200)]


def test_parse_plan_orders_seats_left_to_right() -> None:
    plan = parse_plan(small_plan())

    row = plan.sections[0].rows[0]

    assert [s.guid for s in row.seats] == ["s-1-1", "s-1-2"]


def test_parse_plan_row_labels() -> None:
    plan = parse_plan(small_plan())

    assert [row.label for row in plan.sections[0].rows] == ["1", "Row two"]


def test_parse_plan_allows_zone_without_rows() -> None:
    plan = parse_plan(small_plan())

    assert "Stage" not in [s.name for s in plan.sections]
    assert plan.areas[0]["position"] == {"x": 100, "y": 10}


def test_parse_plan_disambiguates_section_keys() -> None:
    document = small_plan()
    document["zones"][2]["zone_id"] = "stalls"
    extra = copy.deepcopy(document["zones"][2])
    extra["rows"][0]["seats"][0]["seat_guid"] = "b-A-2"
    document["zones"].append(extra)

    plan = parse_plan(document)

    assert [s.key for s in plan.sections] == ["stalls", "stalls-2", "stalls-3"]


def test_parse_plan_copies_areas() -> None:
    document = small_plan()
    plan = parse_plan(document)

    document["zones"][1]["areas"][0]["color"] = "#000000"

    assert "color" not in plan.areas[0]


def test_iter_seats_numbers_ordinals_in_layout_order() -> None:
    plan = parse_plan(small_plan())

    placements = list(iter_seats(plan))

    assert [p.ordinal for p in placements] == [0, 1, 2, 3]
    assert [p.seat.guid for p in placements] == ["s-1-1", "s-1-2", "s-2-1", "b-A-1"]
    assert [p.section_index for p in placements] == [0, 0, 0, 1]
    assert [p.row_ordinal for p in placements] == [0, 0, 1, 0]
    assert [p.position_in_row for p in placements] == [0, 1, 0, 0]


def test_build_layout_small_plan() -> None:
    plan = parse_plan(small_plan())

    layout, version = build_layout(plan)

    assert layout["v"] == 1
    assert layout["name"] == "Small hall"
    assert layout["size"] == [400, 300]
    assert layout["categories"] == [["Stalls", "#123456"], ["Balcony", None]]
    assert layout["sections"][0] == {
        "key": "stalls",
        "name": "Stalls",
        "rows": [
            {
                "label": "1",
                "seats": [["s-1-1", "1", 15, 100, 0], ["s-1-2", "2", 45, 100, 0]],
            },
            {"label": "Row two", "seats": [["s-2-1", "1", 10, 130, 0]]},
        ],
    }
    assert layout["sections"][1]["rows"][0]["seats"] == [["b-A-1", "1", 0, 200, 1]]
    assert layout["areas"] == plan.areas
    assert len(version) == 16
    assert int(version, 16) >= 0


def test_build_layout_rounds_coordinates() -> None:
    document = small_plan()
    first_seat(document)["position"]["x"] = 30.26

    layout, _ = build_layout(parse_plan(document))

    assert layout["sections"][0]["rows"][0]["seats"][1][2] == 45.3


def test_layout_version_stable() -> None:
    first, first_version = build_layout(parse_plan(small_plan()))
    second, second_version = build_layout(parse_plan(small_plan()))

    assert first == second
    assert first_version == second_version


def test_layout_version_changes_with_layout() -> None:
    _, version = build_layout(parse_plan(small_plan()))
    document = small_plan()
    first_seat(document)["position"]["y"] = 1

    _, moved_version = build_layout(parse_plan(document))

    assert moved_version != version


def test_default_focus_uses_stage_area() -> None:
    plan = parse_plan(small_plan())

    assert default_focus(plan) == (200, 30)


def test_default_focus_rotated_stage() -> None:
    document = small_plan()
    document["zones"][1]["areas"][0]["rotation"] = 90

    x, y = default_focus(parse_plan(document))

    # The centre offset (100, 20) turned 90 degrees clockwise is (-20, 100).
    assert x == pytest.approx(80)
    assert y == pytest.approx(110)


def test_default_focus_without_stage_is_top_centre() -> None:
    document = small_plan()
    del document["zones"][1]["areas"]

    assert default_focus(parse_plan(document)) == (200, 0)


def test_schema_is_valid_draft7() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))

    Draft7Validator.check_schema(schema)


def without_descriptions(node: Any) -> Any:
    """Drop the prose keywords from a schema and order its lists."""
    if isinstance(node, dict):
        prose = ("description", "title", "version")
        return {k: without_descriptions(v) for k, v in node.items() if k not in prose}
    if isinstance(node, list):
        return sorted((without_descriptions(item) for item in node), key=json.dumps)
    return node


def read_reference_schema() -> Document:
    path = PLANS_DIR / "seating-plan.schema.json"
    if not path.is_file():
        unavailable(f"reference schema not found at {path}")
    schema: Document = json.loads(path.read_text(encoding="utf-8"))
    return schema


def test_schema_same_rules_as_reference() -> None:
    """Only descriptions differ from the pretix format's published schema."""
    ours = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))

    reference = read_reference_schema()

    assert without_descriptions(ours) == without_descriptions(reference)


def test_schema_accepts_what_reference_schema_accepts() -> None:
    """Our schema and the pretix format's schema agree on valid and invalid plans."""
    ours = Draft7Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))
    reference = Draft7Validator(read_reference_schema())

    documents = [small_plan(), read_real_plan(PARANINFO_FILE)]
    for case in INVALID_CASES:
        document = small_plan()
        case.values[0](document)
        documents.append(document)
    for extra in (
        {"row_label": None, "seat_label": None, "row_number_position": None},
        {"row_number_position": "both", "uuid": "u"},
        {"row_label": 5},
    ):
        document = small_plan()
        first_row(document).update(extra)
        documents.append(document)

    for index, document in enumerate(documents):
        assert ours.is_valid(document) == reference.is_valid(document), index


def test_real_stadium_counts(stadium_plan: Plan) -> None:
    assert stadium_plan.seat_count == 39_616
    assert len(stadium_plan.sections) == 58
    assert sum(len(section.rows) for section in stadium_plan.sections) == 1_453
    assert len(stadium_plan.categories) == 6


def test_real_stadium_sections(stadium_plan: Plan) -> None:
    first = stadium_plan.sections[0]

    assert first.key == "sector_1"
    assert first.name == "West stand - sector 1"
    assert len({section.key for section in stadium_plan.sections}) == 58


def test_real_stadium_vertical_rows_top_to_bottom(stadium_plan: Plan) -> None:
    """The West stand's rows run vertically, so their seats sort by y."""
    row = stadium_plan.sections[0].rows[0]

    assert len({seat.x for seat in row.seats}) == 1
    assert [seat.y for seat in row.seats] == sorted(seat.y for seat in row.seats)
    assert row.seats[0].number == "1"


def test_real_stadium_neighbours_adjacent(stadium_plan: Plan) -> None:
    """Consecutive seats of a row are never further apart than first and last."""
    for row in stadium_plan.rows():
        span = math.dist(
            (row.seats[0].x, row.seats[0].y), (row.seats[-1].x, row.seats[-1].y)
        )
        for left, right in zip(row.seats, row.seats[1:], strict=False):
            assert math.dist((left.x, left.y), (right.x, right.y)) <= span


def test_real_stadium_focus_is_bowl_centre(stadium_plan: Plan) -> None:
    x, y = default_focus(stadium_plan)

    assert abs(x - stadium_plan.width / 2) < stadium_plan.width * 0.05
    assert abs(y - stadium_plan.height / 2) < stadium_plan.height * 0.05


def test_real_stadium_layout_compact(stadium_plan: Plan) -> None:
    layout, _ = build_layout(stadium_plan)

    encoded = orjson.dumps(layout)

    # About 32 bytes per seat, most of them the seat_guid such as "s12r40st7".
    assert len(encoded) < 34 * stadium_plan.seat_count
    seats = [
        s for section in layout["sections"] for r in section["rows"] for s in r["seats"]
    ]
    assert len(seats) == 39_616
    assert all(len(item) == 5 for item in seats)


def test_real_stadium_layout_order_matches_iter_seats(stadium_plan: Plan) -> None:
    layout, _ = build_layout(stadium_plan)

    guids = [
        s[0]
        for section in layout["sections"]
        for r in section["rows"]
        for s in r["seats"]
    ]

    assert guids == [placement.seat.guid for placement in iter_seats(stadium_plan)]


def test_real_stadium_layout_version_stable(
    stadium_document: Document, stadium_plan: Plan
) -> None:
    _, version = build_layout(stadium_plan)
    _, reparsed_version = build_layout(parse_plan(copy.deepcopy(stadium_document)))

    assert version == reparsed_version


def test_real_paraninfo_counts(paraninfo_plan: Plan) -> None:
    assert paraninfo_plan.seat_count == 603
    assert [section.key for section in paraninfo_plan.sections] == [
        "stalls",
        "amphitheater",
        "lower_box",
        "upper_box",
    ]
    assert sum(len(section.rows) for section in paraninfo_plan.sections) == 29


def test_real_paraninfo_row_left_to_right(paraninfo_plan: Plan) -> None:
    """Row Q lists even numbers right to left, then odd numbers, and x sorts them."""
    row = paraninfo_plan.sections[0].rows[0]

    evens = [str(n) for n in range(24, 0, -2)]
    odds = [str(n) for n in range(1, 24, 2)]
    assert row.label == "Q"
    assert [seat.number for seat in row.seats] == evens + odds
    assert [seat.x for seat in row.seats] == sorted(seat.x for seat in row.seats)
    assert (row.seats[0].x, row.seats[0].y) == (192, 202)


def test_real_paraninfo_row_label_preferred(paraninfo_plan: Plan) -> None:
    labels = [row.label for row in paraninfo_plan.sections[2].rows]

    assert labels == ["lado impar (odd side)", "lado par (even side)"]


def test_theatre_parses() -> None:
    plan = parse_plan(theatre())

    assert plan.seat_count == 20 * 30 + 5 * 34
    assert [section.key for section in plan.sections] == ["stalls", "circle"]
    assert [c.name for c in plan.categories] == [
        "Stalls centre",
        "Stalls sides",
        "Circle",
    ]


@pytest.mark.parametrize("curved", [True, False])
@pytest.mark.parametrize(("rows", "seats_per_row"), [(1, 1), (3, 11), (26, 40)])
def test_theatre_seat_count(rows: int, seats_per_row: int, curved: bool) -> None:
    plan = parse_plan(theatre(rows, seats_per_row, curved=curved))

    circle = max(2, rows // 4) * (seats_per_row + 4)
    assert plan.seat_count == rows * seats_per_row + circle
    assert len(plan.sections[0].rows) == rows


def test_theatre_numbering_skips_aisles() -> None:
    plan = parse_plan(theatre(2, 16))

    numbers = [int(seat.number) for seat in plan.sections[0].rows[0].seats]

    # Blocks of 4, 8 and 4 seats, with one number left out at each aisle.
    assert numbers == [*range(1, 5), *range(6, 14), *range(15, 19)]


def test_theatre_row_labels_continue_past_z() -> None:
    plan = parse_plan(theatre(28, 4))

    labels = [row.label for row in plan.sections[0].rows]

    assert labels[:2] == ["A", "B"]
    assert labels[25:] == ["Z", "AA", "AB"]


def test_theatre_focus_on_stage() -> None:
    plan = parse_plan(theatre())
    front_row = plan.sections[0].rows[0].seats
    x, y = default_focus(plan)

    assert x == pytest.approx(plan.width / 2, abs=1)
    assert y < min(seat.y for seat in front_row)


def test_theatre_deterministic() -> None:
    assert theatre() == theatre()
    assert theatre(curved=False) == theatre(curved=False)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"rows": 0}, "rows must be 1 to 200, got 0"),
        ({"seats_per_row": 501}, "seats_per_row must be 1 to 500, got 501"),
    ],
)
def test_theatre_rejects_bad_arguments(arguments: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        theatre(**arguments)


def test_generated_stadium_parses(generated_stadium_plan: Plan) -> None:
    plan = generated_stadium_plan

    assert plan.seat_count == 50_000
    assert len(plan.sections) == 40
    assert sum(len(section.rows) for section in plan.sections) == 40 * 25
    assert [c.name for c in plan.categories] == ["VIP", "Central", "Sides", "Ends"]
    assert {seat.category for row in plan.rows() for seat in row.seats} == {
        "VIP",
        "Central",
        "Sides",
        "Ends",
    }


def test_generated_stadium_focus_on_pitch(generated_stadium_plan: Plan) -> None:
    plan = generated_stadium_plan

    assert default_focus(plan) == (plan.width / 2, plan.height / 2)


def test_generated_stadium_deterministic(generated_stadium: Document) -> None:
    assert stadium(50_000) == generated_stadium


@pytest.mark.parametrize("target", [100, 101, 12_345, 50_001, MAX_SEATS])
def test_generated_stadium_exact_seat_count(target: int) -> None:
    document = stadium(target)

    seats = sum(len(row["seats"]) for zone in document["zones"] for row in zone["rows"])
    assert seats == target


@pytest.mark.parametrize("target", [99, MAX_SEATS + 1])
def test_generated_stadium_rejects_bad_target(target: int) -> None:
    with pytest.raises(
        ValueError, match=f"target_seats must be 100 to 200000, got {target}"
    ):
        stadium(target)


def test_default_focus_bowl_without_pitch(generated_stadium_plan: Plan) -> None:
    plan = dataclasses.replace(generated_stadium_plan, areas=[])
    xs = [seat.x for row in plan.rows() for seat in row.seats]
    ys = [seat.y for row in plan.rows() for seat in row.seats]

    focus = default_focus(plan)

    assert focus == ((min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2)


def test_default_focus_theatre_without_stage() -> None:
    plan = dataclasses.replace(parse_plan(theatre()), areas=[])

    assert default_focus(plan) == (plan.width / 2, 0)


def test_parse_plan_whole_float_size() -> None:
    document = small_plan()
    document["size"] = {"width": 400.0, "height": 300.0}

    plan = parse_plan(document)

    assert (plan.width, plan.height) == (400, 300)
    assert isinstance(plan.width, int)
    assert isinstance(plan.height, int)
