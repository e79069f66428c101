"""Message subscriptions per correlation: an instance may wait for one message in several conversations

(the receive task of each multi-instance subprocess waits for its own answer). The unique key becomes
(instance_id, name, correlation); the table is rebuilt with its rows, as SQLite cannot drop the unnamed key.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def _rebuild(unique: tuple[str, ...], name: str | None) -> None:
    op.create_table(
        "message_subscriptions_new",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("correlation", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["instance_id"], ["process_instances.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(*unique, name=name),
    )
    op.execute("INSERT INTO message_subscriptions_new (id, instance_id, name, correlation) "
               "SELECT id, instance_id, name, correlation FROM message_subscriptions")
    with op.batch_alter_table("message_subscriptions", schema=None) as batch_op:
        batch_op.drop_index("ix_message_subscriptions_name_corr")
        batch_op.drop_index(batch_op.f("ix_message_subscriptions_instance_id"))
    op.drop_table("message_subscriptions")
    op.rename_table("message_subscriptions_new", "message_subscriptions")
    if op.get_bind().dialect.name == "postgresql":  # the id sequence keeps counting from the copied rows
        op.execute("SELECT setval(pg_get_serial_sequence('message_subscriptions', 'id'), "
                   "COALESCE((SELECT MAX(id) FROM message_subscriptions), 0) + 1, false)")
    with op.batch_alter_table("message_subscriptions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_message_subscriptions_instance_id"), ["instance_id"], unique=False)
        batch_op.create_index("ix_message_subscriptions_name_corr", ["name", "correlation"], unique=False)


def upgrade() -> None:
    _rebuild(("instance_id", "name", "correlation"), "uq_message_subscriptions_instance_name_corr")


def downgrade() -> None:
    # Keep one row per (instance, name) again: the lowest id of each.
    op.execute("DELETE FROM message_subscriptions WHERE id NOT IN "
               "(SELECT MIN(id) FROM message_subscriptions GROUP BY instance_id, name)")
    _rebuild(("instance_id", "name"), None)
