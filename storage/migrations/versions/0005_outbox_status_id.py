"""Outbox index on (status, id): the newest failed messages without reading them all.

`zhoubao status` lists the ten newest failed messages. With only a (status) index PostgreSQL
fetched every failed message of all time and sorted them (1.6 ms for 385 of them on ten years
of a 60-window hall, growing with every message given up on); (status, id) is scanned backwards
and stops after ten rows. It also covers what the (status) index served, so it replaces it and
the outbox keeps as many indexes to update per write.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_outbox_status_id"), "outbox", ["status", "id"])
    op.drop_index(op.f("ix_outbox_status"), table_name="outbox")


def downgrade() -> None:
    op.create_index(op.f("ix_outbox_status"), "outbox", ["status"], unique=False)
    op.drop_index(op.f("ix_outbox_status_id"), table_name="outbox")
