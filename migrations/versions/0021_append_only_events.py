"""The audit log cannot be rewritten: `events` refuses UPDATE and DELETE, and gets a hash chain

Triggers on PostgreSQL and SQLite refuse every UPDATE and DELETE of an event row but one: sealing, which sets
`prev_hash` and `hash` from NULL and changes nothing else (engine/process/audit.py). Whoever owns the table (the
migration role) can still disable the triggers; the application's role must not own it (README, "The audit log").

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

REFUSED = "events are append-only"

PG_FUNCTION = f"""
CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Sealing: prev_hash and hash go from NULL to a value once, every other column unchanged.
    IF TG_OP = 'UPDATE' AND OLD.hash IS NULL AND OLD.prev_hash IS NULL
       AND NEW.hash IS NOT NULL AND NEW.prev_hash IS NOT NULL
       AND (to_jsonb(NEW) - 'hash' - 'prev_hash') = (to_jsonb(OLD) - 'hash' - 'prev_hash') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '{REFUSED}: % of event % refused', TG_OP, OLD.id USING ERRCODE = 'restrict_violation';
END
$$
"""
PG_TRIGGER = ("CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events "
              "FOR EACH ROW EXECUTE FUNCTION events_append_only()")

# SQLite has no row-to-JSON: the sealing exception names each column (a new events column must be added here).
SQLITE_COLUMNS = ("id", "occurred_at", "kind", "actor_id", "instance_id", "hazard_id", "task_id", "data")
SQLITE_UPDATE = f"""
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
WHEN NOT (OLD.hash IS NULL AND OLD.prev_hash IS NULL AND NEW.hash IS NOT NULL AND NEW.prev_hash IS NOT NULL
          AND {" AND ".join(f"NEW.{c} IS OLD.{c}" for c in SQLITE_COLUMNS)})
BEGIN
    SELECT RAISE(ABORT, '{REFUSED}: UPDATE refused');
END
"""
SQLITE_DELETE = f"""
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, '{REFUSED}: DELETE refused');
END
"""


def create_triggers() -> None:
    """The append-only triggers for this backend (also used by tests that restore them after tampering)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        op.execute(PG_TRIGGER)
    else:
        op.execute(SQLITE_UPDATE)
        op.execute(SQLITE_DELETE)


def drop_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS events_append_only ON events")
        op.execute("DROP FUNCTION IF EXISTS events_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS events_no_update")
        op.execute("DROP TRIGGER IF EXISTS events_no_delete")


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
    op.create_index("ix_events_unsealed", "events", ["id"], unique=False, sqlite_where=sa.text("hash IS NULL"),
                    postgresql_where=sa.text("hash IS NULL"))
    create_triggers()


def downgrade() -> None:
    drop_triggers()
    op.drop_index("ix_events_unsealed", table_name="events", sqlite_where=sa.text("hash IS NULL"),
                  postgresql_where=sa.text("hash IS NULL"))
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
