"""Strangers cost a counter, invite codes are stored hashed, old rows can be pruned.

- `chat_guards`: one row per chat that no member uses (or that guesses invite codes), with
  counters, instead of a ledger row and an outbox row for every message it sends.
- `invites.code` becomes `invites.code_hash` (HMAC-SHA256 of the code, 64 hex digits), with
  `invites.key_id` naming the key that hashed it. The key
  lives in the data folder, out of the migration's reach, so the existing plaintext codes
  cannot be hashed here: they are **retired**. Each one is replaced by a random value that
  no code hashes to, and an unused one expires now. Its row stays (who used which invite
  when); an administrator issues new codes with `zhoubao invite`.
- Indexes on `processed_updates.processed_at` and `chat_guards.last_seen_at` let the
  retention job delete old rows in small batches without scanning the tables.

Revision ID: 0006
Revises: 0005
"""

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RETIRED_PREFIX = "retired:"  # never a hex digest: no code can match it


def upgrade() -> None:
    op.create_table(
        "chat_guards",
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("chat_id", sa.String(length=200), nullable=False),
        sa.Column("messages", sa.BigInteger(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("wrong_codes", sa.Integer(), nullable=False),
        sa.Column("wrong_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("channel", "chat_id", name=op.f("pk_chat_guards")),
    )
    op.create_index(
        op.f("ix_chat_guards_last_seen_at"), "chat_guards", ["last_seen_at"], unique=False
    )
    op.create_index(
        op.f("ix_processed_updates_processed_at"),
        "processed_updates",
        ["processed_at"],
        unique=False,
    )
    _retire_plaintext_codes()
    with op.batch_alter_table("invites") as batch:
        batch.alter_column(
            "code",
            new_column_name="code_hash",
            existing_type=sa.String(length=32),
            type_=sa.String(length=64),
            existing_nullable=False,
        )
        batch.add_column(sa.Column("key_id", sa.String(length=16), nullable=True))


def _retire_plaintext_codes() -> None:
    invites = sa.table(
        "invites",
        sa.column("code", sa.String()),
        sa.column("expires_at", sa.DateTime(timezone=True)),
        sa.column("used_at", sa.DateTime(timezone=True)),
    )
    connection = op.get_bind()
    now = datetime.now(UTC)
    rows = connection.execute(sa.select(invites.c.code, invites.c.used_at)).all()
    for code, used_at in rows:
        values: dict[str, object] = {"code": RETIRED_PREFIX + secrets.token_hex(12)}
        if used_at is None:
            values["expires_at"] = now
        connection.execute(invites.update().where(invites.c.code == code).values(**values))


def downgrade() -> None:
    # The hashes stay hashes, cut to fit: no code issued after the upgrade works after a downgrade.
    op.execute("UPDATE invites SET code_hash = substr(code_hash, 1, 32)")
    with op.batch_alter_table("invites") as batch:
        batch.drop_column("key_id")
        batch.alter_column(
            "code_hash",
            new_column_name="code",
            existing_type=sa.String(length=64),
            type_=sa.String(length=32),
            existing_nullable=False,
        )
    op.drop_index(op.f("ix_processed_updates_processed_at"), table_name="processed_updates")
    op.drop_index(op.f("ix_chat_guards_last_seen_at"), table_name="chat_guards")
    op.drop_table("chat_guards")
