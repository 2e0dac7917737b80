"""Per-user rate limits, counted in Redis so that they hold across API replicas.

A fixed one-minute window per user: simple and cheap (one round trip), at the price of
letting up to twice the rate through across a window's edge.
"""

import time

import redis

from core.errors import RateLimited, ServiceUnavailable

WINDOW = 60


def take(connection: redis.Redis, what: str, user_id: int, amount: int, per_minute: int) -> None:
    """Count ``amount`` of ``what`` against the user's limit, or raise ``RateLimited``
    (and count nothing) when it would go over."""
    now = time.time()
    key = f"findimage:rate:{what}:{user_id}:{int(now // WINDOW)}"
    try:
        with connection.pipeline() as pipe:
            used, _ = pipe.incrby(key, amount).expire(key, 2 * WINDOW).execute()
            if used > per_minute:
                connection.decrby(key, amount)
    except redis.RedisError as exc:
        raise ServiceUnavailable(f"The queue server is unavailable, try again shortly: {exc}") from exc
    if used > per_minute:
        retry_after = max(1, int(WINDOW - now % WINDOW))
        raise RateLimited(f"At most {per_minute} {what} a minute: try again in {retry_after} s.", retry_after)
