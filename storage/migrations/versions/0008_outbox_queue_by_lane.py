"""The queue index ordered by lane before id: a chat's oldest message in each lane, streamed.

A reply overtakes its own chat's bulk messages (within a lane a chat's messages keep their
order), so the dispatcher's pick groups the queued rows by (chat_id, lane). With the index on
(status, channel, chat_id, lane, id) that grouping reads the index in order, the lowest id of
each group first, with no sort.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index(op.f("ix_outbox_queue"), table_name="outbox")
    op.create_index(
        op.f("ix_outbox_queue"), "outbox", ["status", "channel", "chat_id", "lane", "id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_outbox_queue"), table_name="outbox")
    op.create_index(
        op.f("ix_outbox_queue"), "outbox", ["status", "channel", "chat_id", "id", "lane"]
    )
