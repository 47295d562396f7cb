"""The kill test, short form: 10 SIGKILLs of a real `zhoubao run` during a week of 20 windows.

The scenario is `kill_week.py`'s: the windows and the editor in their Telegram chats through
the loopback Bot API server, the process killed at random moments (the seed is printed; set
KILLS_SEED to repeat a run) and started again under libfaketime at chosen moments of a fixed
week. The long form (100 kills) is `python -m benchmarks --only kills`; its figures are in
docs/reliability.md.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.bot.channels.kill_week import LIBFAKETIME, NO_LIBFAKETIME, Plan, Week


async def test_every_confirmed_item_is_in_the_draft_once_when_zhoubao_run_is_killed_10_times(
    tmp_path: Path,
) -> None:
    # Not a skip: CI installs faketime (.ci/run), and a machine without it must say so.
    assert LIBFAKETIME.exists(), NO_LIBFAKETIME
    seed = os.environ.get("KILLS_SEED")
    plan = Plan(kills=10, seed=int(seed) if seed else None)
    week = Week(plan, tmp_path)
    result = await week.run()
    print(result.summary())  # the figures, with the seed, under `pytest -s` or on failure

    assert result.problems == [], result.summary()
    assert result.kills == 10
    assert result.confirmed_items > 0, result.summary()
    assert result.items_in_draft == result.confirmed_items
    assert result.windows_prompted == result.windows == 20
    assert result.silent_windows_reminded == result.silent_windows
    assert result.drafts >= 1
