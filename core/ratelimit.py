"""Per-user rate limits, counted in Redis so that they hold across API replicas.

A sliding window: this minute's count plus the last minute's, weighted by how much of it
the past 60 s still cover (Cloudflare's estimate). One round trip, like a fixed window,
without a fixed window's flaw of letting twice the rate through across a minute's edge.
"""

import math
import time

import redis

from core.errors import RateLimited, ServiceUnavailable

WINDOW = 60


def take(connection: redis.Redis, what: str, user_id: int, amount: int, per_minute: int) -> None:
    """Count ``amount`` of ``what`` against the user's limit, or raise ``RateLimited``
    (and count nothing) when it would go over."""
    minute, into = divmod(time.time(), WINDOW)
    key = _key(what, user_id, minute)
    try:
        with connection.pipeline() as pipe:
            previous, used, _ = pipe.get(_key(what, user_id, minute - 1)).incrby(key, amount).expire(key, 2 * WINDOW).execute()
            previous = int(previous or 0)
            over = used + previous * (1 - into / WINDOW) > per_minute
            if over:
                connection.decrby(key, amount)
    except redis.RedisError as exc:
        raise ServiceUnavailable(f"The queue server is unavailable, try again shortly: {exc}") from exc
    if over:
        retry_after = max(1, math.ceil(wait(previous, used - amount, amount, per_minute, into)))
        raise RateLimited(f"At most {per_minute} {what} a minute: try again in {retry_after} s.", retry_after)


def wait(previous: int, used: int, amount: int, per_minute: int, into: float) -> float:
    """Seconds until ``amount`` more fits, if nothing else is taken meanwhile: ``previous``
    and ``used`` were taken in the last minute and this one, ``into`` seconds ago it began."""
    room = per_minute - used - amount
    if amount > per_minute:
        return WINDOW  # never fits: "a minute" is the honest answer to a request this large
    if room >= 0 and previous:  # this minute: once enough of the last one has slid out
        return max(0.0, WINDOW * (1 - room / previous) - into)
    # the next minute, where this one's count slides out
    return WINDOW - into + max(0.0, WINDOW * (1 - (per_minute - amount) / used))


def _key(what: str, user_id: int, minute: float) -> str:
    return f"findimage:rate:{what}:{user_id}:{int(minute)}"
