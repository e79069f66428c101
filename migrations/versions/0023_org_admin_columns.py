"""organisations and people as managed data: short names, unit types and active flags on org nodes; 工号, phone and
a forced password change on users

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("org_nodes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("short_name", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("unit_type", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False))
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("employee_no", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("phone", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("must_change_password", sa.Boolean(), server_default=sa.false(),
                                      nullable=False))
        batch_op.create_unique_constraint("uq_users_employee_no", ["employee_no"])
        batch_op.create_unique_constraint("uq_users_phone", ["phone"])


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint("uq_users_phone", type_="unique")
        batch_op.drop_constraint("uq_users_employee_no", type_="unique")
        batch_op.drop_column("must_change_password")
        batch_op.drop_column("phone")
        batch_op.drop_column("employee_no")
    with op.batch_alter_table("org_nodes", schema=None) as batch_op:
        batch_op.drop_column("active")
        batch_op.drop_column("unit_type")
        batch_op.drop_column("short_name")
