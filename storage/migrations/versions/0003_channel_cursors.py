"""Channel cursors: a channel's update offset survives a restart.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "channel_cursors",
        sa.Column("channel", sa.String(length=50), nullable=False),
        sa.Column("cursor", sa.String(length=200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("channel", name=op.f("pk_channel_cursors")),
    )


def downgrade() -> None:
    op.drop_table("channel_cursors")
