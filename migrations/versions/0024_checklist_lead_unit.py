"""牵头部门: a checklist item's lead unit, beside its 责任部门; users indexed by e-mail (OIDC sign-in matches by it)

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("checklist_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lead_unit", sa.String(length=100), nullable=True))
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index("ix_users_email", ["email"])


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index("ix_users_email")
    with op.batch_alter_table("checklist_items", schema=None) as batch_op:
        batch_op.drop_column("lead_unit")
