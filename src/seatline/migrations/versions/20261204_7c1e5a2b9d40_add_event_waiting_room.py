"""add event waiting room settings

Revision ID: 7c1e5a2b9d40
Revises: 26f7e1d681e0
Create Date: 2026-12-04 18:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7c1e5a2b9d40"
down_revision: str | None = "26f7e1d681e0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Batch mode, because SQLite can add a CHECK constraint only by copying
    # the table.
    with op.batch_alter_table("events") as batch:
        batch.add_column(
            sa.Column(
                "waiting_room_enabled",
                sa.Boolean(),
                server_default=sa.false(),
                nullable=False,
            )
        )
        batch.add_column(
            sa.Column(
                "waiting_room_admissions_per_minute",
                sa.Integer(),
                server_default="100",
                nullable=False,
            )
        )
        batch.add_column(
            sa.Column(
                "waiting_room_pass_seconds",
                sa.Integer(),
                server_default="600",
                nullable=False,
            )
        )
        batch.create_check_constraint(
            op.f("ck_events_waiting_room_admissions_positive"),
            "waiting_room_admissions_per_minute > 0",
        )
        batch.create_check_constraint(
            op.f("ck_events_waiting_room_pass_positive"),
            "waiting_room_pass_seconds > 0",
        )


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_constraint(
            op.f("ck_events_waiting_room_pass_positive"), type_="check"
        )
        batch.drop_constraint(
            op.f("ck_events_waiting_room_admissions_positive"), type_="check"
        )
        batch.drop_column("waiting_room_pass_seconds")
        batch.drop_column("waiting_room_admissions_per_minute")
        batch.drop_column("waiting_room_enabled")
