"""Timer start events: the next start time of each timer start event of the latest version of a process

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

from engine.infra.db import UTCDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "timer_starts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("process_key", sa.String(length=100), nullable=False),
        sa.Column("start_event", sa.String(length=100), nullable=False),
        sa.Column("definition_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("expression", sa.String(length=200), nullable=False),
        sa.Column("next_start_at", UTCDateTime(), nullable=True),
        sa.Column("remaining", sa.Integer(), nullable=True),
        sa.Column("started", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_started_at", UTCDateTime(), nullable=True),
        sa.Column("last_instance_id", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["definition_id"], ["process_definitions.id"]),
        sa.ForeignKeyConstraint(["last_instance_id"], ["process_instances.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("process_key", "start_event"),
    )
    op.create_index("ix_timer_starts_definition_id", "timer_starts", ["definition_id"])
    op.create_index("ix_timer_starts_next_start_at", "timer_starts", ["next_start_at"])


def downgrade() -> None:
    op.drop_index("ix_timer_starts_next_start_at", table_name="timer_starts")
    op.drop_index("ix_timer_starts_definition_id", table_name="timer_starts")
    op.drop_table("timer_starts")
