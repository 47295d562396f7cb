"""The outbox in two lanes, picked per chat, claimed under the lease's epoch, sent in parts.

- `outbox.lane`: 0 for a reply to a person's own update, 1 for everything else (prompts,
  reminders, notices); existing rows are bulk.
- `outbox.claim_epoch`: the lease epoch under which a message was claimed for sending (its
  status is then `sending`); a claim of an older epoch goes back to the queue.
- `outbox.parts_sent`: how many of a message's parts (a long Telegram text's pieces, a WeChat
  document's text then file) reached the chat, so a retry sends only the rest.
- `leases.epoch`: counts the times the lease changed hands (or was taken again after it
  expired); a process sends only while the epoch it holds is the lease's.
- Index `ix_outbox_queue` on (status, channel, chat_id, id, lane): the head of each chat's
  queue is an index-only range scan of the queued rows, whatever the years of sent ones.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("lane", sa.SmallInteger(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("claim_epoch", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("parts_sent", sa.Integer(), nullable=False, server_default="0"))
    op.create_index(
        op.f("ix_outbox_queue"), "outbox", ["status", "channel", "chat_id", "id", "lane"]
    )
    with op.batch_alter_table("leases") as batch:
        batch.add_column(sa.Column("epoch", sa.BigInteger(), nullable=False, server_default="0"))


def downgrade() -> None:
    # A message claimed when the downgrade runs goes back to the queue.
    op.execute("UPDATE outbox SET status = 'queued' WHERE status = 'sending'")
    with op.batch_alter_table("leases") as batch:
        batch.drop_column("epoch")
    op.drop_index(op.f("ix_outbox_queue"), table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("parts_sent")
        batch.drop_column("claim_epoch")
        batch.drop_column("lane")
