"""The whole configuration file, and the checks that span its sections."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, model_validator

from bot.config import messages
from bot.config.endpoints import ChannelsConfig, ServerConfig
from bot.config.fields import Problem, Section, check_unique
from bot.config.sections import (
    BulletinConfig,
    DraftConfig,
    IntakeConfig,
    NumberingConfig,
    ScheduleConfig,
    SecurityConfig,
    StorageConfig,
    WindowConfig,
)


class Config(Section):
    """The whole configuration file."""

    bulletin: BulletinConfig
    numbering: NumberingConfig | None = None  # absent: the first issue is its year's 第1期
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    intake: IntakeConfig = Field(default_factory=IntakeConfig)
    draft: DraftConfig = Field(default_factory=DraftConfig)
    windows: Annotated[tuple[WindowConfig, ...], Field(min_length=1)]
    storage: StorageConfig = Field(default_factory=StorageConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    channels: ChannelsConfig = Field(default_factory=ChannelsConfig)
    security: SecurityConfig = Field(default_factory=SecurityConfig)

    @model_validator(mode="before")
    @classmethod
    def _validate_storage_defaults(cls, data: Any) -> Any:
        # An absent [storage] must still resolve its paths against the file's directory.
        if isinstance(data, dict) and "storage" not in data:
            return {**data, "storage": {}}
        return data

    @model_validator(mode="after")
    def _check_windows(self) -> Config:
        check_unique((item.name for item in self.windows), ("windows",), "name")
        check_unique((item.short_name for item in self.windows), ("windows",), "short_name")
        check_unique((item.order for item in self.windows), ("windows",), "order")
        return self

    @model_validator(mode="after")
    def _check_one_listen(self) -> Config:
        telegram = self.channels.telegram
        if (
            self.server.listen is not None
            and "listen" in telegram.model_fields_set
            and telegram.listen != self.server.listen
        ):
            raise Problem(messages.LISTEN_TWICE, ("server", "listen"))
        return self

    @property
    def listen(self) -> str:
        """host:port of zhoubao's web server: `[server] listen`, else the Telegram section's."""
        return self.server.listen or self.channels.telegram.listen

    def windows_in_order(self) -> tuple[WindowConfig, ...]:
        """Return the windows sorted by `order`."""
        return tuple(sorted(self.windows, key=lambda window: window.order))
