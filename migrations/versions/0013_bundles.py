"""deployment bundles: deployments, their stored files, and each definition's bundle, file and callee versions

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import engine.infra.db

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deployed_at", engine.infra.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deployed_by_id", sa.Integer(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("replace", sa.Boolean(), nullable=False),
        sa.Column("role_map", JSON, nullable=False),
        sa.ForeignKeyConstraint(["deployed_by_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "definition_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deployment_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["deployment_id"], ["deployments.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("deployment_id", "name"),
    )
    op.create_index(op.f("ix_definition_files_deployment_id"), "definition_files", ["deployment_id"], unique=False)
    with op.batch_alter_table("process_definitions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deployment_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("filename", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("callees", JSON, nullable=True))
        batch_op.create_index(batch_op.f("ix_process_definitions_deployment_id"), ["deployment_id"], unique=False)
        batch_op.create_foreign_key("fk_process_definitions_deployment_id", "deployments", ["deployment_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("process_definitions", schema=None) as batch_op:
        batch_op.drop_constraint("fk_process_definitions_deployment_id", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_process_definitions_deployment_id"))
        batch_op.drop_column("callees")
        batch_op.drop_column("filename")
        batch_op.drop_column("deployment_id")
    op.drop_index(op.f("ix_definition_files_deployment_id"), table_name="definition_files")
    op.drop_table("definition_files")
    op.drop_table("deployments")
