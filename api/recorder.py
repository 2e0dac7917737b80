"""What a request's answer need not wait for: a search's or a click's place in the
person's history and taste. Written on a thread of its own, one at a time in the order
asked (each write takes the user's lock anyway), after the response has left; the
process finishes them before it stops. At most ``WAITING`` writes wait: past that a
request waits for room (so a flood of searches on a slow database slows down rather than
filling memory, and no click is dropped)."""

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from core.errors import ServiceUnavailable

log = logging.getLogger(__name__)

WAITING = 1000


class Recorder:
    def __init__(self, waiting: int = WAITING) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="findimage-recorder")
        self._pending = 0
        self._idle = threading.Condition()
        self._room = threading.Semaphore(waiting)

    @property
    def pending(self) -> int:
        """Writes asked for and not yet done."""
        return self._pending

    def record(self, write, *args) -> None:
        """Run ``write(*args)`` later (waiting for room first if ``WAITING`` writes wait); a
        database or vector store outage only loses it with a warning."""
        self._room.acquire()
        with self._idle:
            self._pending += 1
        self._pool.submit(self._run, write, args)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Whether every write asked for so far is done (within ``timeout`` seconds)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def wait_for_earlier(self, timeout: float = 30.0) -> None:
        """Wait until every write asked for before this call is done (they run in order):
        forgetting a history must not be followed by a search made just before it."""
        self._pool.submit(lambda: None).result(timeout)

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def _run(self, write, args) -> None:
        try:
            write(*args)
        except ServiceUnavailable:
            log.warning("Search history not recorded: the database or vector store is unavailable")
        except Exception:
            log.exception("Search history not recorded")
        finally:
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()
            self._room.release()
