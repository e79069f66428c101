"""campaigns: checklist templates and items, campaigns, campaign units, item results, process messages,
message subscriptions, missed-hazard (应发现未发现) records

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-23 19:11:15.968995
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import engine.infra.db

revision = '0004'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('checklist_templates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=True),
    sa.Column('created_at', engine.infra.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('checklist_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('template_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=100), nullable=False),
    sa.Column('serial', sa.Integer(), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('methods', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('units', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('locations', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['template_id'], ['checklist_templates.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('template_id', 'position')
    )
    with op.batch_alter_table('checklist_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_checklist_items_template_id'), ['template_id'], unique=False)
    op.create_table('campaigns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('template_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('stages', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('sample_seed', sa.Integer(), nullable=True),
    sa.Column('sample', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=True),
    sa.Column('created_at', engine.infra.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instances.id'], ),
    sa.ForeignKeyConstraint(['org_id'], ['org_nodes.id'], ),
    sa.ForeignKeyConstraint(['template_id'], ['checklist_templates.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaigns_instance_id'), ['instance_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_campaigns_level'), ['level'], unique=False)
        batch_op.create_index(batch_op.f('ix_campaigns_org_id'), ['org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_campaigns_status'), ['status'], unique=False)
    op.create_table('message_subscriptions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('correlation', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instances.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('instance_id', 'name')
    )
    with op.batch_alter_table('message_subscriptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_subscriptions_instance_id'), ['instance_id'], unique=False)
        batch_op.create_index('ix_message_subscriptions_name_corr', ['name', 'correlation'], unique=False)
    op.create_table('process_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('correlation', sa.String(length=200), nullable=False),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('sender_instance_id', sa.Integer(), nullable=True),
    sa.Column('target_instance_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', engine.infra.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', engine.infra.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['sender_instance_id'], ['process_instances.id'], ),
    sa.ForeignKeyConstraint(['target_instance_id'], ['process_instances.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('process_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_process_messages_correlation'), ['correlation'], unique=False)
        batch_op.create_index(batch_op.f('ix_process_messages_name'), ['name'], unique=False)
        batch_op.create_index(batch_op.f('ix_process_messages_sender_instance_id'), ['sender_instance_id'], unique=False)
        batch_op.create_index('ix_process_messages_status_id', ['status', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_process_messages_target_instance_id'), ['target_instance_id'], unique=False)
    op.create_table('campaign_units',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('signed_at', engine.infra.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('signed_by_id', sa.Integer(), nullable=True),
    sa.Column('sent_back', sa.Integer(), nullable=False),
    sa.Column('returned_at', engine.infra.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], ),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instances.id'], ),
    sa.ForeignKeyConstraint(['org_id'], ['org_nodes.id'], ),
    sa.ForeignKeyConstraint(['signed_by_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('campaign_id', 'org_id')
    )
    with op.batch_alter_table('campaign_units', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaign_units_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_campaign_units_instance_id'), ['instance_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_campaign_units_org_id'), ['org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_campaign_units_status'), ['status'], unique=False)
    op.create_table('item_results',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_unit_id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('location', sa.String(length=200), nullable=False),
    sa.Column('result', sa.String(length=8), nullable=False),
    sa.Column('hazard_id', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('by_id', sa.Integer(), nullable=False),
    sa.Column('at', engine.infra.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['by_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['campaign_unit_id'], ['campaign_units.id'], ),
    sa.ForeignKeyConstraint(['hazard_id'], ['hazards.id'], ),
    sa.ForeignKeyConstraint(['item_id'], ['checklist_items.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('campaign_unit_id', 'item_id', 'location')
    )
    with op.batch_alter_table('item_results', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_item_results_campaign_unit_id'), ['campaign_unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_item_results_hazard_id'), ['hazard_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_item_results_item_id'), ['item_id'], unique=False)
        batch_op.create_index('ix_item_results_item_result', ['item_id', 'result'], unique=False)
    op.create_table('missed_hazards',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('hazard_id', sa.Integer(), nullable=False),
    sa.Column('item_result_id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('signer_id', sa.Integer(), nullable=True),
    sa.Column('found_level', sa.String(length=16), nullable=False),
    sa.Column('found_by_campaign_id', sa.Integer(), nullable=True),
    sa.Column('recorded_at', engine.infra.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], ),
    sa.ForeignKeyConstraint(['found_by_campaign_id'], ['campaigns.id'], ),
    sa.ForeignKeyConstraint(['hazard_id'], ['hazards.id'], ),
    sa.ForeignKeyConstraint(['item_result_id'], ['item_results.id'], ),
    sa.ForeignKeyConstraint(['org_id'], ['org_nodes.id'], ),
    sa.ForeignKeyConstraint(['person_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['signer_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('hazard_id', 'item_result_id')
    )
    with op.batch_alter_table('missed_hazards', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_missed_hazards_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_missed_hazards_hazard_id'), ['hazard_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_missed_hazards_item_result_id'), ['item_result_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_missed_hazards_level'), ['level'], unique=False)
        batch_op.create_index(batch_op.f('ix_missed_hazards_org_id'), ['org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_missed_hazards_person_id'), ['person_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('missed_hazards', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_missed_hazards_person_id'))
        batch_op.drop_index(batch_op.f('ix_missed_hazards_org_id'))
        batch_op.drop_index(batch_op.f('ix_missed_hazards_level'))
        batch_op.drop_index(batch_op.f('ix_missed_hazards_item_result_id'))
        batch_op.drop_index(batch_op.f('ix_missed_hazards_hazard_id'))
        batch_op.drop_index(batch_op.f('ix_missed_hazards_campaign_id'))
    op.drop_table('missed_hazards')
    with op.batch_alter_table('item_results', schema=None) as batch_op:
        batch_op.drop_index('ix_item_results_item_result')
        batch_op.drop_index(batch_op.f('ix_item_results_item_id'))
        batch_op.drop_index(batch_op.f('ix_item_results_hazard_id'))
        batch_op.drop_index(batch_op.f('ix_item_results_campaign_unit_id'))
    op.drop_table('item_results')
    with op.batch_alter_table('campaign_units', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaign_units_status'))
        batch_op.drop_index(batch_op.f('ix_campaign_units_org_id'))
        batch_op.drop_index(batch_op.f('ix_campaign_units_instance_id'))
        batch_op.drop_index(batch_op.f('ix_campaign_units_campaign_id'))
    op.drop_table('campaign_units')
    with op.batch_alter_table('process_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_process_messages_target_instance_id'))
        batch_op.drop_index('ix_process_messages_status_id')
        batch_op.drop_index(batch_op.f('ix_process_messages_sender_instance_id'))
        batch_op.drop_index(batch_op.f('ix_process_messages_name'))
        batch_op.drop_index(batch_op.f('ix_process_messages_correlation'))
    op.drop_table('process_messages')
    with op.batch_alter_table('message_subscriptions', schema=None) as batch_op:
        batch_op.drop_index('ix_message_subscriptions_name_corr')
        batch_op.drop_index(batch_op.f('ix_message_subscriptions_instance_id'))
    op.drop_table('message_subscriptions')
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaigns_status'))
        batch_op.drop_index(batch_op.f('ix_campaigns_org_id'))
        batch_op.drop_index(batch_op.f('ix_campaigns_level'))
        batch_op.drop_index(batch_op.f('ix_campaigns_instance_id'))
    op.drop_table('campaigns')
    with op.batch_alter_table('checklist_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_checklist_items_template_id'))
    op.drop_table('checklist_items')
    op.drop_table('checklist_templates')
