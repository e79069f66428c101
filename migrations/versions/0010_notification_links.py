"""in-app notifications name their subject (task or hazard) so the bell can open it

Revision ID: 0010
Revises: 0005
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0005"
branch_labels = None
depends_on = None

# Most specific first: a message about a task opens the task (the web layer falls back to its hazard).
_SUBJECT_KEYS = (("task", "task_id"), ("hazard", "hazard_id"))


def upgrade() -> None:
    with op.batch_alter_table("inapp_notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subject_kind", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("subject_id", sa.Integer(), nullable=True))
    _backfill()


def _backfill() -> None:
    """Existing bell rows get their subject from the outbox row they were delivered from."""
    inapp = sa.table("inapp_notifications", sa.column("id", sa.Integer), sa.column("outbox_id", sa.Integer),
                     sa.column("subject_kind", sa.String), sa.column("subject_id", sa.Integer))
    outbox = sa.table("outbox", sa.column("id", sa.Integer), sa.column("payload", sa.JSON))
    conn = op.get_bind()
    rows = conn.execute(sa.select(inapp.c.id, outbox.c.payload).join(outbox, outbox.c.id == inapp.c.outbox_id)).all()
    for row_id, payload in rows:
        for kind, key in _SUBJECT_KEYS:
            value = (payload or {}).get(key)
            if isinstance(value, int):
                conn.execute(sa.update(inapp).where(inapp.c.id == row_id).values(subject_kind=kind, subject_id=value))
                break


def downgrade() -> None:
    with op.batch_alter_table("inapp_notifications", schema=None) as batch_op:
        batch_op.drop_column("subject_id")
        batch_op.drop_column("subject_kind")
