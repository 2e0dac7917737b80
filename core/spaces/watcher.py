"""Keeping a process in step with the vector spaces: every ``interval`` seconds the watcher
follows the database (``LiveSpaces.refresh``), drops spaces retired a while ago, and runs
whatever else the process asks of it (a worker queues the next step of a stalled reindex).
"""

import logging
import threading
from collections.abc import Callable, Sequence

import redis

from core.errors import FindImageError
from core.spaces.live import LiveSpaces

log = logging.getLogger(__name__)
POLL = 5.0
"""Seconds between a process's looks at the vector spaces."""


class SpaceWatcher:
    def __init__(self, live: LiveSpaces, also: Sequence[Callable[[], object]] = (), interval: float = POLL):
        self.actions = [live.refresh, live.drop_old, *also]
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="findimage-spaces", daemon=True)

    def start(self) -> "SpaceWatcher":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def check(self) -> None:
        """One look; errors are logged (the next look tries again)."""
        for action in self.actions:
            try:
                action()
            except (FindImageError, redis.RedisError) as exc:
                log.warning("Vector spaces: %s", getattr(exc, "message", exc))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.check()
