"""What a request's answer need not wait for: a search's or a click's place in the
person's history and taste, written on a thread of its own after the response has left.

Entries are written in the order asked, in batches: the writer takes what has come within
``LINGER`` seconds of the first (at most ``BATCH``) and writes it together (for each person
one transaction, one read and one write of the taste), so that history costs a few
transactions a second however many searches come, and a burst of searches does not meet a
write after every answer. Waiting for the writes (``wait_idle``, ``wait_for_earlier``)
writes what is waiting at once; a person's requests wait only for their own (their
history, their feed), and only when some are still waiting. At most ``WAITING`` entries
wait: past that a request waits for room (so a flood of searches on a slow database slows
down rather than filling memory, and no click is dropped). The process finishes them
before it stops."""

import logging
import threading
import time
from collections.abc import Callable, Hashable, Sequence

from core.errors import ServiceUnavailable

log = logging.getLogger(__name__)

WAITING = 1000
LINGER = 0.2
"""Seconds a first entry waits for others to be written with."""
BATCH = 100


class Recorder:
    def __init__(self, write: Callable[[Sequence], None], waiting: int = WAITING, linger: float = LINGER) -> None:
        """``write(entries)`` keeps a batch of entries (``services.signals.record``)."""
        self._write = write
        self._linger = linger
        self._batch = min(BATCH, waiting)
        """Entries written at once without lingering: a full batch, or no room left for more."""
        self._room = threading.Semaphore(waiting)
        self._changed = threading.Condition()
        self._waiting: list = []
        self._since = 0.0
        """When the oldest waiting entry came (``time.monotonic``)."""
        self._asked = self._done = self._hurry_to = 0
        """Entries asked for and written so far; write at once until ``_done`` reaches ``_hurry_to``."""
        self._last_of: dict[Hashable, int] = {}
        """For each person with entries not yet written: the number of their latest (``_asked`` then)."""
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="findimage-recorder", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        """Entries asked for and not yet written."""
        return self._asked - self._done

    def record(self, entry, who: Hashable = None) -> None:
        """Write ``entry`` (``who``'s, when given) soon, waiting for room first if
        ``WAITING`` entries wait; a database or vector store outage only loses it with a warning."""
        self._room.acquire()
        with self._changed:
            if not self._waiting:
                self._since = time.monotonic()
            self._waiting.append(entry)
            self._asked += 1
            if who is not None:
                self._last_of[who] = self._asked
            self._changed.notify_all()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Whether every entry asked for so far is written (within ``timeout`` seconds)."""
        with self._changed:
            return self._wait_for(self._asked, timeout)

    def wait_for_earlier(self, who: Hashable = None, timeout: float = 30.0) -> None:
        """Wait until every entry asked for before this call (``who``'s only, when given) is
        written: a history or a feed shows the search just made, and forgetting a history
        must not be followed by a search made just before it."""
        with self._changed:
            self._wait_for(self._asked if who is None else self._last_of.get(who, 0), timeout)

    def close(self) -> None:
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        self._thread.join()

    def _wait_for(self, asked: int, timeout: float) -> bool:
        """Whether the first ``asked`` entries are written (within ``timeout`` seconds),
        writing them at once; called holding ``_changed``."""
        if self._done >= asked:
            return True
        self._hurry_to = max(self._hurry_to, asked)
        self._changed.notify_all()
        return self._changed.wait_for(lambda: self._done >= asked, timeout)

    def _next_batch(self) -> list:
        """The entries to write next, once the oldest has lingered (or someone waits for
        them, or a batch is full); empty when closing with nothing left."""
        with self._changed:
            while True:
                hurry = self._closing or self._done < self._hurry_to or len(self._waiting) >= self._batch
                left = self._since + self._linger - time.monotonic()
                if self._waiting and (hurry or left <= 0):
                    batch, self._waiting[:BATCH] = self._waiting[:BATCH], []
                    return batch  # what is left waited already: it goes next
                if self._closing:
                    return []
                self._changed.wait(left if self._waiting else None)

    def _run(self) -> None:
        while batch := self._next_batch():
            try:
                self._write(batch)
            except ServiceUnavailable:
                log.warning("%d searches not recorded in history: the database or vector store is unavailable", len(batch))
            except Exception:
                log.exception("%d searches not recorded in history", len(batch))
            finally:
                with self._changed:
                    self._done += len(batch)
                    for who in [who for who, last in self._last_of.items() if last <= self._done]:
                        del self._last_of[who]
                    self._changed.notify_all()
                for _ in batch:
                    self._room.release()
