"""deadlines, escalation and notifications: calendar overrides, escalation ladder, task deadline columns,
in-app notifications, channel preferences, webhook endpoints

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-23 19:30:00
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import engine.infra.db

revision = '0003'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('human_tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('escalation_step', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('escalation_level', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('next_escalation_at', engine.infra.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('reminded_at', engine.infra.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('overdue_at', engine.infra.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_human_tasks_next_escalation_at', ['next_escalation_at'], unique=False)

    op.create_table('calendar_days',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['org_nodes.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('org_id', 'day')
    )
    with op.batch_alter_table('calendar_days', schema=None) as batch_op:
        batch_op.create_index('ix_calendar_days_org_id', ['org_id'], unique=False)
        batch_op.create_index('ix_calendar_days_day', ['day'], unique=False)

    op.create_table('task_escalations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('hazard_id', sa.Integer(), nullable=True),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('rung', sa.String(length=32), nullable=False),
    sa.Column('target_role', sa.String(length=32), nullable=True),
    sa.Column('target_org_id', sa.Integer(), nullable=True),
    sa.Column('target_user_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('created_at', engine.infra.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['human_tasks.id'], ),
    sa.ForeignKeyConstraint(['hazard_id'], ['hazards.id'], ),
    sa.ForeignKeyConstraint(['target_org_id'], ['org_nodes.id'], ),
    sa.ForeignKeyConstraint(['target_user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('task_id', 'rung')
    )
    with op.batch_alter_table('task_escalations', schema=None) as batch_op:
        batch_op.create_index('ix_task_escalations_task_id', ['task_id'], unique=False)
        batch_op.create_index('ix_task_escalations_hazard_id', ['hazard_id'], unique=False)
        batch_op.create_index('ix_task_escalations_target_user_id', ['target_user_id'], unique=False)
        batch_op.create_index('ix_task_escalations_target', ['target_role', 'target_org_id'], unique=False)

    op.create_table('inapp_notifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('outbox_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('link', sa.String(length=300), nullable=True),
    sa.Column('created_at', engine.infra.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('read_at', engine.infra.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['outbox_id'], ['outbox.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('outbox_id')
    )
    with op.batch_alter_table('inapp_notifications', schema=None) as batch_op:
        batch_op.create_index('ix_inapp_user_read', ['user_id', 'read_at'], unique=False)

    op.create_table('notification_preferences',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('event_kind', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('user_id', 'event_kind', 'channel')
    )
    with op.batch_alter_table('notification_preferences', schema=None) as batch_op:
        batch_op.create_index('ix_notification_preferences_user_id', ['user_id'], unique=False)

    op.create_table('webhook_endpoints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('style', sa.String(length=16), nullable=False),
    sa.Column('url', sa.String(length=500), nullable=False),
    sa.Column('event_kinds', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['org_nodes.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('webhook_endpoints', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_endpoints_org_id', ['org_id'], unique=False)


def downgrade() -> None:
    op.drop_table('webhook_endpoints')
    op.drop_table('notification_preferences')
    op.drop_table('inapp_notifications')
    op.drop_table('task_escalations')
    op.drop_table('calendar_days')
    with op.batch_alter_table('human_tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_human_tasks_next_escalation_at')
        for name in ('overdue_at', 'reminded_at', 'next_escalation_at', 'escalation_level', 'escalation_step'):
            batch_op.drop_column(name)
