"""What every listener shares: the replies it builds, the threads its work runs on, and
the one way its errors are reported."""

import asyncio
import functools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from bot.replies import Replies
from core.config import SlackSettings
from core.errors import FindImageError
from core.runtime import Runtime

log = logging.getLogger(__name__)

WORKERS = 2
"""Threads doing the listeners' work. Few: more only contend with the event loop (and its
acks) for the interpreter, and the searches themselves are CPU-bound."""


class ListenerWork:
    """The threads the listeners' work runs on (off the event loop), and how many listeners
    are still at work after their ack: a shutdown, or a test, waits for them instead of
    guessing how long they take."""

    def __init__(self, workers: int = WORKERS):
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="findimage-slack")
        self._under_way = 0
        self._changed = threading.Condition()

    async def run(self, function, *args):
        return await asyncio.get_running_loop().run_in_executor(self.pool, function, *args)

    def begin(self) -> None:
        with self._changed:
            self._under_way += 1

    def end(self) -> None:
        with self._changed:
            self._under_way -= 1
            self._changed.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """True once no listener is at work; False if that took over ``timeout`` s."""
        with self._changed:
            return self._changed.wait_for(lambda: self._under_way == 0, timeout)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


@dataclass(frozen=True)
class Listening:
    """Handed to each listener package's ``register``."""

    replies: Replies
    work: ListenerWork
    runtime_of: Callable[[], Runtime]
    slack: SlackSettings

    async def run(self, function, *args):
        """``function(*args)`` on the listeners' threads."""
        return await self.work.run(function, *args)

    def reported(self, listener):
        """Listeners report their own errors (through ``report``) instead of raising into
        slack-bolt: when a listener fails within bolt's 10 ms ack poll, bolt (1.30) forgets
        the ack and answers Slack 404, which Slack counts against the app and retries. A
        listener counts as at work from its first step to its end."""

        @functools.wraps(listener)
        async def wrapper(*args, **kwargs):
            self.work.begin()  # the listener's first step, taken as soon as bolt starts it
            try:
                await listener(*args, **kwargs)
            except Exception as error:
                await report(error, kwargs.get("respond"))
            finally:
                self.work.end()

        return wrapper


async def report(error: Exception, respond=None) -> None:
    """The one error handler: our errors become a short private reply; anything else is
    logged, and said so. (Events have no one to answer: they are only logged.)"""
    if isinstance(error, FindImageError):
        log.warning("Slack request refused: %s", error.message)
        text = f":warning: {error.message}"
    else:
        log.exception("The Slack listener failed", exc_info=error)
        text = ":warning: Something went wrong on findimage's side; it has been logged. Try again in a moment."
    if respond is None:
        return
    try:
        await respond(response_type="ephemeral", replace_original=False, text=text)
    except Exception:  # the response URL failed too: the request was acknowledged all the same
        log.exception("Could not tell the Slack user about the error either")
