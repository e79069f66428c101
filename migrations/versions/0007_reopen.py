"""look-back reopening and message retries: hazard repeat count, look-back results, message retry schedule,
the units' situation analysis reports

Revision ID: 0007
Revises: 0005
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import engine.infra.db

revision = '0007'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('hazards', schema=None) as batch_op:
        batch_op.add_column(sa.Column('repeat_count', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('reopened_at', engine.infra.db.UTCDateTime(timezone=True), nullable=True))

    with op.batch_alter_table('process_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_attempt_at', engine.infra.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_process_messages_status_next', ['status', 'next_attempt_at'], unique=False)
    # Messages already queued are due now.
    op.execute("UPDATE process_messages SET next_attempt_at = created_at WHERE status = 'pending'")

    with op.batch_alter_table('campaign_units', schema=None) as batch_op:
        batch_op.add_column(sa.Column('situation_report', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('situation_report_at', engine.infra.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('situation_report_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_campaign_units_situation_report_by_id', 'users',
                                    ['situation_report_by_id'], ['id'])

    op.create_table('look_back_results',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('hazard_id', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('evidence', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('repeat_count', sa.Integer(), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=True),
    sa.Column('by_id', sa.Integer(), nullable=False),
    sa.Column('at', engine.infra.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['by_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], ),
    sa.ForeignKeyConstraint(['hazard_id'], ['hazards.id'], ),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instances.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('campaign_id', 'hazard_id')
    )
    with op.batch_alter_table('look_back_results', schema=None) as batch_op:
        batch_op.create_index('ix_look_back_results_campaign_id', ['campaign_id'], unique=False)
        batch_op.create_index('ix_look_back_results_hazard_id', ['hazard_id'], unique=False)
        batch_op.create_index('ix_look_back_results_outcome', ['outcome'], unique=False)
        batch_op.create_index('ix_look_back_results_instance_id', ['instance_id'], unique=False)
        batch_op.create_index('ix_look_back_results_by_id', ['by_id'], unique=False)


def downgrade() -> None:
    op.drop_table('look_back_results')
    with op.batch_alter_table('campaign_units', schema=None) as batch_op:
        batch_op.drop_constraint('fk_campaign_units_situation_report_by_id', type_='foreignkey')
        for name in ('situation_report_by_id', 'situation_report_at', 'situation_report'):
            batch_op.drop_column(name)
    with op.batch_alter_table('process_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_process_messages_status_next')
        batch_op.drop_column('next_attempt_at')
    with op.batch_alter_table('hazards', schema=None) as batch_op:
        for name in ('reopened_at', 'repeat_count'):
            batch_op.drop_column(name)
