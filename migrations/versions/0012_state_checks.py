"""CHECK constraints on task and instance states: a row can only hold a state the lifecycle knows

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-25
"""
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# The values as of this revision (engine/process/states.py); written out, so later changes to the enums do not
# rewrite history.
TASK_STATES = ("ready", "completed", "cancelled")
INSTANCE_STATES = ("running", "completed", "superseded")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    # On SQLite a constraint is added by rebuilding the table; batch mode does that, PostgreSQL just alters it.
    with op.batch_alter_table("human_tasks", schema=None) as batch_op:
        batch_op.create_check_constraint("ck_human_tasks_state", _in("state", TASK_STATES))
    with op.batch_alter_table("process_instances", schema=None) as batch_op:
        batch_op.create_check_constraint("ck_process_instances_status", _in("status", INSTANCE_STATES))


def downgrade() -> None:
    with op.batch_alter_table("process_instances", schema=None) as batch_op:
        batch_op.drop_constraint("ck_process_instances_status", type_="check")
    with op.batch_alter_table("human_tasks", schema=None) as batch_op:
        batch_op.drop_constraint("ck_human_tasks_state", type_="check")
