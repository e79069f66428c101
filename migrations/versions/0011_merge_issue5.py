"""merge the statistics, look-back, notices, schedules and notification-link branches

Revision ID: 0011
Revises: 0006, 0007, 0008, 0009, 0010
Create Date: 2026-11-23
"""
revision = "0011"
down_revision = ("0006", "0007", "0008", "0009", "0010")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
