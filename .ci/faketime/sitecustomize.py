"""Make `time.sleep` work under Debian 12's libfaketime; on PYTHONPATH only in `.ci/any-day`.

`.ci/any-day` runs the tests with libfaketime preloaded and `FAKETIME_DONT_FAKE_MONOTONIC=1`,
so that the monotonic clock (asyncio's, every timeout's) stays real. libfaketime 0.9.10, the
version Debian 12 ships, then turns `clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, …)` into
a negative time and the call fails with EINVAL (libfaketime issue 426, fixed in 0.9.11).
Python 3.11 and later sleep with exactly that call, so every `time.sleep` raises
`OSError: [Errno 22]`, among them the one in `subprocess.Popen.wait(timeout=…)`.

Python imports `sitecustomize` at start-up from its path, so every Python process of the run
(pytest and the `zhoubao` processes it starts, which inherit PYTHONPATH) gets a `time.sleep`
that waits in `select` for a relative time instead, which libfaketime leaves alone.
"""

from __future__ import annotations

import os
import select
import time


def _sleep(seconds: float) -> None:
    """Wait `seconds` on the real monotonic clock, as `time.sleep` does."""
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        select.select([], [], [], left)


_preloaded = "faketime" in os.environ.get("LD_PRELOAD", "")
if _preloaded and os.environ.get("FAKETIME_DONT_FAKE_MONOTONIC") == "1":
    time.sleep = _sleep  # noqa: TID251 - replacing it, not calling it
