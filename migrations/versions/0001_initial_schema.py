"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-23 18:48:31.851979
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import engine.infra.db

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('org_nodes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('path', sa.String(length=512), nullable=False),
    sa.Column('head_user_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['parent_id'], ['org_nodes.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    with op.batch_alter_table('org_nodes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_org_nodes_parent_id'), ['parent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_org_nodes_path'), ['path'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=100), nullable=False),
    sa.Column('email', sa.String(length=200), nullable=True),
    sa.Column('password_hash', sa.String(length=256), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('locale', sa.String(length=10), nullable=False),
    sa.Column('created_at', engine.infra.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['org_nodes.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('username')
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_users_org_id'), ['org_id'], unique=False)
    # org_nodes and users refer to each other: the head-of-unit key is added once both tables exist.
    with op.batch_alter_table('org_nodes', schema=None) as batch_op:
        batch_op.create_foreign_key('fk_org_head_user', 'users', ['head_user_id'], ['id'])

    op.create_table('outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', engine.infra.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('recipient_id', sa.Integer(), nullable=True),
    sa.Column('recipient_role', sa.String(length=32), nullable=True),
    sa.Column('recipient_org_id', sa.Integer(), nullable=True),
    sa.Column('channel', sa.String(length=32), nullable=True),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', engine.infra.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('sent_at', engine.infra.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['recipient_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['recipient_org_id'], ['org_nodes.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_recipient_id'), ['recipient_id'], unique=False)
        batch_op.create_index('ix_outbox_status_next', ['status', 'next_attempt_at'], unique=False)

    op.create_table('process_definitions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('source_xml', sa.Text(), nullable=False),
    sa.Column('spec_json', sa.Text(), nullable=False),
    sa.Column('forms', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('task_meta', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('deployed_at', engine.infra.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('deployed_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['deployed_by_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key', 'version')
    )
    with op.batch_alter_table('process_definitions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_process_definitions_key'), ['key'], unique=False)
        batch_op.create_index(batch_op.f('ix_process_definitions_sha256'), ['sha256'], unique=False)

    op.create_table('role_grants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['org_nodes.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('user_id', 'role', 'org_id')
    )
    with op.batch_alter_table('role_grants', schema=None) as batch_op:
        batch_op.create_index('ix_role_grants_role_org', ['role', 'org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_role_grants_user_id'), ['user_id'], unique=False)

    op.create_table('process_instances',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('definition_id', sa.Integer(), nullable=False),
    sa.Column('business_key', sa.String(length=100), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('state_json', sa.Text(), nullable=False),
    sa.Column('next_timer_at', engine.infra.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('started_at', engine.infra.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', engine.infra.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('completed_at', engine.infra.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['definition_id'], ['process_definitions.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('process_instances', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_process_instances_business_key'), ['business_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_process_instances_definition_id'), ['definition_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_process_instances_next_timer_at'), ['next_timer_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_process_instances_status'), ['status'], unique=False)

    op.create_table('hazards',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('unit_serial', sa.Integer(), nullable=False),
    sa.Column('location', sa.String(length=200), nullable=False),
    sa.Column('check_item', sa.String(length=500), nullable=True),
    sa.Column('problem', sa.Text(), nullable=False),
    sa.Column('measures', sa.Text(), nullable=True),
    sa.Column('completion', sa.Text(), nullable=True),
    sa.Column('responsible_person', sa.String(length=100), nullable=True),
    sa.Column('checked_at', sa.Date(), nullable=True),
    sa.Column('closed_at', engine.infra.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('remarks', sa.Text(), nullable=True),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('grade', sa.String(length=16), nullable=True),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('deadline', sa.Date(), nullable=True),
    sa.Column('plan_owner', sa.String(length=100), nullable=True),
    sa.Column('plan_measures', sa.Text(), nullable=True),
    sa.Column('plan_deadline', sa.Date(), nullable=True),
    sa.Column('plan_contingency', sa.Text(), nullable=True),
    sa.Column('plan_funds', sa.String(length=200), nullable=True),
    sa.Column('temporary_measures', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('instance_id', sa.Integer(), nullable=True),
    sa.Column('reported_by_id', sa.Integer(), nullable=False),
    sa.Column('reported_at', engine.infra.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', engine.infra.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instances.id'], ),
    sa.ForeignKeyConstraint(['reported_by_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['school_id'], ['org_nodes.id'], ),
    sa.ForeignKeyConstraint(['unit_id'], ['org_nodes.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('unit_id', 'unit_serial')
    )
    with op.batch_alter_table('hazards', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hazards_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_hazards_category'), ['category'], unique=False)
        batch_op.create_index(batch_op.f('ix_hazards_closed_at'), ['closed_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_hazards_deadline'), ['deadline'], unique=False)
        batch_op.create_index(batch_op.f('ix_hazards_grade'), ['grade'], unique=False)
        batch_op.create_index(batch_op.f('ix_hazards_instance_id'), ['instance_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_hazards_reported_at'), ['reported_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_hazards_school_id'), ['school_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_hazards_source'), ['source'], unique=False)
        batch_op.create_index(batch_op.f('ix_hazards_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_hazards_unit_id'), ['unit_id'], unique=False)

    op.create_table('human_tasks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=False),
    sa.Column('hazard_id', sa.Integer(), nullable=True),
    sa.Column('spiff_task_id', sa.String(length=36), nullable=False),
    sa.Column('bpmn_id', sa.String(length=100), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('lane', sa.String(length=64), nullable=True),
    sa.Column('stage', sa.String(length=16), nullable=True),
    sa.Column('candidate_role', sa.String(length=32), nullable=True),
    sa.Column('candidate_org_id', sa.Integer(), nullable=True),
    sa.Column('assignee_id', sa.Integer(), nullable=True),
    sa.Column('claimed_at', engine.infra.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('due_at', engine.infra.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('form', sa.String(length=200), nullable=True),
    sa.Column('created_at', engine.infra.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('completed_at', engine.infra.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('completed_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['assignee_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['candidate_org_id'], ['org_nodes.id'], ),
    sa.ForeignKeyConstraint(['completed_by_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['hazard_id'], ['hazards.id'], ),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instances.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('instance_id', 'spiff_task_id')
    )
    with op.batch_alter_table('human_tasks', schema=None) as batch_op:
        batch_op.create_index('ix_human_tasks_assignee_state', ['assignee_id', 'state'], unique=False)
        batch_op.create_index('ix_human_tasks_candidates', ['candidate_role', 'candidate_org_id', 'state'], unique=False)
        batch_op.create_index(batch_op.f('ix_human_tasks_completed_by_id'), ['completed_by_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_human_tasks_hazard_id'), ['hazard_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_human_tasks_instance_id'), ['instance_id'], unique=False)
        batch_op.create_index('ix_human_tasks_state_due', ['state', 'due_at'], unique=False)

    op.create_table('events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('occurred_at', engine.infra.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('instance_id', sa.Integer(), nullable=True),
    sa.Column('hazard_id', sa.Integer(), nullable=True),
    sa.Column('task_id', sa.Integer(), nullable=True),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['hazard_id'], ['hazards.id'], ),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instances.id'], ),
    sa.ForeignKeyConstraint(['task_id'], ['human_tasks.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_events_hazard_id'), ['hazard_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_events_instance_id'), ['instance_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_events_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_events_occurred_at'), ['occurred_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('org_nodes', schema=None) as batch_op:
        batch_op.drop_constraint('fk_org_head_user', type_='foreignkey')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_events_occurred_at'))
        batch_op.drop_index(batch_op.f('ix_events_kind'))
        batch_op.drop_index(batch_op.f('ix_events_instance_id'))
        batch_op.drop_index(batch_op.f('ix_events_hazard_id'))

    op.drop_table('events')
    with op.batch_alter_table('human_tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_human_tasks_state_due')
        batch_op.drop_index(batch_op.f('ix_human_tasks_instance_id'))
        batch_op.drop_index(batch_op.f('ix_human_tasks_hazard_id'))
        batch_op.drop_index(batch_op.f('ix_human_tasks_completed_by_id'))
        batch_op.drop_index('ix_human_tasks_candidates')
        batch_op.drop_index('ix_human_tasks_assignee_state')

    op.drop_table('human_tasks')
    with op.batch_alter_table('hazards', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hazards_unit_id'))
        batch_op.drop_index(batch_op.f('ix_hazards_status'))
        batch_op.drop_index(batch_op.f('ix_hazards_source'))
        batch_op.drop_index(batch_op.f('ix_hazards_school_id'))
        batch_op.drop_index(batch_op.f('ix_hazards_reported_at'))
        batch_op.drop_index(batch_op.f('ix_hazards_instance_id'))
        batch_op.drop_index(batch_op.f('ix_hazards_grade'))
        batch_op.drop_index(batch_op.f('ix_hazards_deadline'))
        batch_op.drop_index(batch_op.f('ix_hazards_closed_at'))
        batch_op.drop_index(batch_op.f('ix_hazards_category'))
        batch_op.drop_index(batch_op.f('ix_hazards_campaign_id'))

    op.drop_table('hazards')
    with op.batch_alter_table('process_instances', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_process_instances_status'))
        batch_op.drop_index(batch_op.f('ix_process_instances_next_timer_at'))
        batch_op.drop_index(batch_op.f('ix_process_instances_definition_id'))
        batch_op.drop_index(batch_op.f('ix_process_instances_business_key'))

    op.drop_table('process_instances')
    with op.batch_alter_table('role_grants', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_role_grants_user_id'))
        batch_op.drop_index('ix_role_grants_role_org')

    op.drop_table('role_grants')
    with op.batch_alter_table('process_definitions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_process_definitions_sha256'))
        batch_op.drop_index(batch_op.f('ix_process_definitions_key'))

    op.drop_table('process_definitions')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_status_next')
        batch_op.drop_index(batch_op.f('ix_outbox_recipient_id'))

    op.drop_table('outbox')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_org_id'))

    op.drop_table('users')
    with op.batch_alter_table('org_nodes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_org_nodes_path'))
        batch_op.drop_index(batch_op.f('ix_org_nodes_parent_id'))

    op.drop_table('org_nodes')
