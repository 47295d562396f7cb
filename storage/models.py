"""ORM models: the whole schema of zhoubao in one place."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import IntEnum, StrEnum
from typing import Any, ClassVar, Final

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Explicit constraint names keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime stored as UTC; SQLite would otherwise hand back naive values."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSON}


class Role(StrEnum):
    STAFF = "staff"
    EDITOR = "editor"
    INSPECTOR = "inspector"
    ADMIN = "admin"


class IssueStatus(StrEnum):
    OPEN = "open"  # windows may submit
    CLOSED = "closed"  # intake over, draft compiled
    PUBLISHED = "published"


class ItemStatus(StrEnum):
    CONFIRMED = "confirmed"
    WITHDRAWN = "withdrawn"


class OutboxStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"  # claimed by the lease holder of `claim_epoch`; on its way
    SENT = "sent"
    FAILED = "failed"


class Lane(IntEnum):
    """Which messages go first: a reply to a person's own update, before everything else."""

    REPLY = 0
    BULK = 1  # prompts, reminders, notices to other people


class Window(Base):
    """A department's reporting desk in the hall, e.g. 商务厅窗口."""

    __tablename__ = "windows"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    short_name: Mapped[str] = mapped_column(String(50), unique=True)
    position: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


DISPLAY_NAME_LENGTH: Final = 200  # a longer name from a channel is cut when binding


class Member(Base):
    """A person on one channel, bound to a window (staff) or to the hall (other roles)."""

    __tablename__ = "members"
    __table_args__ = (UniqueConstraint("channel", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[str] = mapped_column(String(200))
    chat_id: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str] = mapped_column(String(DISPLAY_NAME_LENGTH), default="")
    window_id: Mapped[int | None] = mapped_column(ForeignKey("windows.id"))
    role: Mapped[str] = mapped_column(String(20))
    bound_at: Mapped[datetime]
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Invite(Base):
    """A one-time code that binds whoever sends it to a window and role.

    Only a keyed hash of the code is stored (HMAC-SHA256 under the key in the data folder,
    `handlers.binding.hash_code`): the database alone does not give a usable code away.
    """

    __tablename__ = "invites"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Which key hashed it (`handlers.binding.key_id`): a process with another key (a second
    # server without a copy of invite.key) can tell that it cannot recognise these codes.
    key_id: Mapped[str | None] = mapped_column(String(16))
    window_id: Mapped[int | None] = mapped_column(ForeignKey("windows.id"))
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_by: Mapped[int | None] = mapped_column(ForeignKey("members.id"))


class Issue(Base):
    """One issue of the bulletin: 2022年第31期（总第406期）."""

    __tablename__ = "issues"
    __table_args__ = (
        UniqueConstraint("year", "number"),
        UniqueConstraint("total_number"),
        UniqueConstraint("period_start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(Integer)
    number: Mapped[int] = mapped_column(Integer)
    total_number: Mapped[int] = mapped_column(Integer)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    issue_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default=IssueStatus.OPEN)
    opened_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    deadline_at: Mapped[datetime | None]  # intake closes then; the editor may extend it


class Item(Base):
    """One news item a window submitted for an issue."""

    __tablename__ = "items"

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id"), index=True)
    window_id: Mapped[int] = mapped_column(ForeignKey("windows.id"), index=True)
    subsection: Mapped[str] = mapped_column(String(50))
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default=ItemStatus.CONFIRMED)
    author_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    position: Mapped[int | None] = mapped_column(Integer)  # editor's order; None: default order
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ItemRevision(Base):
    """The text an item had before an edit: nothing a window wrote is overwritten."""

    __tablename__ = "item_revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    subsection: Mapped[str] = mapped_column(String(50))
    edited_by: Mapped[int] = mapped_column(ForeignKey("members.id"))
    edited_at: Mapped[datetime]


class WindowReport(Base):
    """A window's explicit answer for an issue beyond its items (本周无动态, exempt)."""

    __tablename__ = "window_reports"

    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id"), primary_key=True)
    window_id: Mapped[int] = mapped_column(ForeignKey("windows.id"), primary_key=True)
    no_news: Mapped[bool] = mapped_column(Boolean, default=False)
    exempt: Mapped[bool] = mapped_column(Boolean, default=False)
    reopened: Mapped[bool] = mapped_column(Boolean, default=False)  # may submit after closing
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    updated_at: Mapped[datetime]


class StatisticFigure(Base):
    """Year-to-date accepted and completed counts of one category, for one issue."""

    __tablename__ = "statistic_figures"

    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id"), primary_key=True)
    category: Mapped[str] = mapped_column(String(50), primary_key=True)
    accepted: Mapped[int] = mapped_column(BigInteger)
    completed: Mapped[int] = mapped_column(BigInteger)
    entered_by: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    entered_at: Mapped[datetime]


class InspectionResult(Base):
    """The inspector's verdict on one checklist criterion, for one issue."""

    __tablename__ = "inspection_results"

    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id"), primary_key=True)
    criterion: Mapped[str] = mapped_column(String(50), primary_key=True)
    verdict: Mapped[str] = mapped_column(Text)
    entered_by: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    entered_at: Mapped[datetime]


class ConversationState(Base):
    """Where one person's conversation stands, so a restart resumes at the same step."""

    __tablename__ = "conversation_states"

    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    chat_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    conversation: Mapped[str] = mapped_column(String(50))
    state: Mapped[str] = mapped_column(String(100))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime]


class ProcessedUpdate(Base):
    """Ledger of handled updates: a redelivered update is dropped.

    Pruned after the retention period (`storage.repositories.retention`), except the
    scheduler's job claims (channel "scheduler"), which are few and kept.
    """

    __tablename__ = "processed_updates"
    __table_args__ = (Index("ix_processed_updates_processed_at", "processed_at"),)  # pruning

    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    update_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    processed_at: Mapped[datetime]


class ChatGuard(Base):
    """What is kept of a chat that no member uses, or that guesses invite codes.

    Counters, never a row per message: a stranger's messages are counted here, answered at
    most once per interval, and its wrong invite codes lock it out for a while.
    """

    __tablename__ = "chat_guards"
    __table_args__ = (Index("ix_chat_guards_last_seen_at", "last_seen_at"),)  # pruning

    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    chat_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    messages: Mapped[int] = mapped_column(BigInteger, default=0)
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]  # the last answer sent to this chat
    wrong_codes: Mapped[int] = mapped_column(Integer, default=0)  # since wrong_since
    wrong_since: Mapped[datetime | None]
    locked_until: Mapped[datetime | None]  # invite codes refused until then


class OutboxMessage(Base):
    """A message waiting to be sent (or sent, or given up on) by the dispatcher."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),  # dispatcher
        # `zhoubao status`: the newest failed messages, a backward scan that stops after a few
        # rows (PostgreSQL otherwise fetches every failed message of all time and sorts them).
        # Also serves everything a plain (status) index did, which it replaces.
        Index("ix_outbox_status_id", "status", "id"),
        # The dispatcher: the head (lowest id) of each chat's queued messages in each lane, an
        # index-only range scan of the queued rows of one channel, in group order (0008).
        Index("ix_outbox_queue", "status", "channel", "chat_id", "lane", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(20), index=True)
    chat_id: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)  # text and choices
    document_name: Mapped[str | None] = mapped_column(String(200))
    document: Mapped[bytes | None] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(20), default=OutboxStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    lane: Mapped[int] = mapped_column(SmallInteger, default=Lane.BULK, server_default="1")
    claim_epoch: Mapped[int | None] = mapped_column(BigInteger)  # while status is `sending`
    # Parts of the message (pieces of a long text, text then file) that reached the chat.
    parts_sent: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Lease(Base):
    """Who runs the scheduler and the outbox now; another process takes over when it expires."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime]
    # Taken anew (another holder, or the same after it expired): one more. A message is
    # claimed under the epoch, and a claim of an older epoch is stale.
    epoch: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class ChannelCursor(Base):
    """Where a channel's update stream stands (Telegram's getUpdates offset), across restarts."""

    __tablename__ = "channel_cursors"

    channel: Mapped[str] = mapped_column(String(50), primary_key=True)
    cursor: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime]


class ChannelState(Base):
    """A channel's connection state as the running service last saw it, for `zhoubao status`."""

    __tablename__ = "channel_states"

    channel: Mapped[str] = mapped_column(String(50), primary_key=True)
    status: Mapped[str] = mapped_column(String(50))
    detail: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]


class Account(Base):
    """A person who logs in to the editor's console (editor, inspector or administrator).

    Only an argon2 hash of the password is stored (`bot.console.passwords`).
    """

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    login: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(DISPLAY_NAME_LENGTH), default="")
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    password_changed_at: Mapped[datetime]


class WebSession(Base):
    """A console login: revocable, surviving restarts. The cookie holds a token; only its
    SHA-256 is stored, so the table alone does not let anyone in."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))  # what every form of the session carries
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    address: Mapped[str] = mapped_column(String(64), default="")


class LoginThrottle(Base):
    """Failed logins counted per key ("login:<name>" or "address:<ip>") in a window."""

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]
