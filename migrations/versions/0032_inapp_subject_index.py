"""bell entries indexed by subject: a done task marks the entries about it read

Revision ID: 0032
Revises: 0029
Create Date: 2026-12-03
"""
from alembic import op

revision = "0032"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inapp_notifications", schema=None) as batch_op:
        batch_op.create_index("ix_inapp_subject", ["subject_id", "subject_kind"])


def downgrade() -> None:
    with op.batch_alter_table("inapp_notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_inapp_subject")
