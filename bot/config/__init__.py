"""Settings from one TOML file: bulletin template, numbering, schedule, windows, storage, channels.

`load_config` is the only way in: every problem (missing file, TOML syntax, a bad value)
becomes one `ConfigError` whose message names the file, the dotted key and the problem,
in Chinese for the administrator. `write_default_config` copies `default_config.toml`
(`zhoubao init`; with `force`, over an existing file that it backs up first).

One job a module:

- `load`: reading the file, and writing the default one;
- `model`: the whole file (`Config`) and the checks across its sections;
- `sections`: [bulletin], [numbering], [schedule], [intake], [draft], [[windows]], [storage],
  [security];
- `endpoints`: [channels] and [server];
- `fields`: the types of values and the `Problem` a check raises;
- `bounds`: the patterns and bounds values must keep (most set by the database's columns);
- `explain`: pydantic's and tomllib's errors as one Chinese message naming the key;
- `messages`: every text the administrator reads.
"""

from bot.config.endpoints import (
    DEFAULT_LISTEN,
    ChannelsConfig,
    ConsoleChannelConfig,
    DingtalkChannelConfig,
    ServerConfig,
    TelegramChannelConfig,
    WechatChannelConfig,
    WecomChannelConfig,
)
from bot.config.load import default_config_text, load_config, write_default_config
from bot.config.model import Config
from bot.config.sections import (
    BulletinConfig,
    CriterionConfig,
    DistributionConfig,
    DraftConfig,
    IntakeConfig,
    NumberingConfig,
    ReminderConfig,
    ScheduleConfig,
    SecurityConfig,
    StatisticsCategoryConfig,
    StorageConfig,
    SubsectionConfig,
    WindowConfig,
)

__all__ = [
    "DEFAULT_LISTEN",
    "BulletinConfig",
    "ChannelsConfig",
    "Config",
    "ConsoleChannelConfig",
    "CriterionConfig",
    "DingtalkChannelConfig",
    "DistributionConfig",
    "DraftConfig",
    "IntakeConfig",
    "NumberingConfig",
    "ReminderConfig",
    "ScheduleConfig",
    "SecurityConfig",
    "ServerConfig",
    "StatisticsCategoryConfig",
    "StorageConfig",
    "SubsectionConfig",
    "TelegramChannelConfig",
    "WechatChannelConfig",
    "WecomChannelConfig",
    "WindowConfig",
    "default_config_text",
    "load_config",
    "write_default_config",
]
