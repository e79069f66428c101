"""in-app notifications' subject kind holds 64 characters ("statistics_report" did not fit in 16 on PostgreSQL)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inapp_notifications", schema=None) as batch_op:
        batch_op.alter_column("subject_kind", existing_type=sa.String(length=16), type_=sa.String(length=64),
                              existing_nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("inapp_notifications", schema=None) as batch_op:
        batch_op.alter_column("subject_kind", existing_type=sa.String(length=64), type_=sa.String(length=16),
                              existing_nullable=True)
