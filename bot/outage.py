"""One log line when the database becomes unreachable, and one when it is back.

While PostgreSQL restarts, every part of `zhoubao run` that touches the database fails and
retries: the channels' pumps (the update is not confirmed, so it comes again), the lease, the
weekly tick, the outbox and the channel states. A traceback from each of them every few
seconds would bury the one fact an administrator needs; so they report here, and the outage
is logged once when it begins and once when it ends, with how long it lasted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from storage.errors import is_unreachable

logger = logging.getLogger(__name__)


class DatabaseOutage:
    """Tracks whether the database is reachable, from what the callers saw."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._since: float | None = None
        self.outages = 0  # how many began in this process (for tests and status)

    @property
    def down(self) -> bool:
        return self._since is not None

    def failed(self, error: BaseException, doing: str) -> bool:
        """Note a failure; True if it was the database being unreachable (already logged).

        False means another kind of error: the caller logs it with its traceback.
        """
        if not is_unreachable(error):
            return False
        if self._since is None:
            self._since = self._clock()
            self.outages += 1
            logger.warning(
                "database unreachable; retrying until it is back",
                extra={"doing": doing, "error": f"{type(error).__name__}: {error}"[:200]},
            )
        return True

    def succeeded(self) -> None:
        """Note a success: ends an outage, if one was going on."""
        if self._since is None:
            return
        lasted = self._clock() - self._since
        self._since = None
        logger.warning("database reachable again", extra={"after_seconds": round(lasted, 1)})


# One per process: the outage is the database's, whichever part of the process noticed it.
database_outage = DatabaseOutage()
