"""Instance state `cancelled`: an administrator may stop a running instance with a reason

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02
"""
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

# The values as of this revision (engine/process/states.py), written out so later enum changes keep history.
BEFORE = ("running", "completed", "superseded")
AFTER = ("running", "completed", "superseded", "cancelled")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _replace(values: tuple[str, ...]) -> None:
    # On SQLite a constraint is replaced by rebuilding the table; batch mode does that, PostgreSQL alters it.
    with op.batch_alter_table("process_instances", schema=None) as batch_op:
        batch_op.drop_constraint("ck_process_instances_status", type_="check")
        batch_op.create_check_constraint("ck_process_instances_status", _in("status", values))


def upgrade() -> None:
    _replace(AFTER)


def downgrade() -> None:
    op.execute("UPDATE process_instances SET status = 'completed' WHERE status = 'cancelled'")
    _replace(BEFORE)
