"""Deployment records on process definitions: a one-line change summary and whether it replaced a live process

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("process_definitions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("change_summary", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("replaced", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("process_definitions", schema=None) as batch_op:
        batch_op.drop_column("replaced")
        batch_op.drop_column("change_summary")
