"""hazards indexed by their reporter: every hazard list shows a user the hazards they reported

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-03
"""
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hazards", schema=None) as batch_op:
        batch_op.create_index("ix_hazards_reported_by_id", ["reported_by_id"])


def downgrade() -> None:
    with op.batch_alter_table("hazards", schema=None) as batch_op:
        batch_op.drop_index("ix_hazards_reported_by_id")
