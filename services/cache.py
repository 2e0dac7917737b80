"""What a request may keep in Redis for the next one (a query's vector, a ranking, a
taste's feed candidates): an optimisation only, so with Redis down every read is a miss
and every write is skipped, and the request still answers."""

import hashlib
import logging

import redis

from core.runtime import Runtime

log = logging.getLogger(__name__)


def cache_get(runtime: Runtime, key: str) -> bytes | None:
    try:
        return runtime.redis.get(key)
    except redis.RedisError:
        log.warning("Cache unavailable (Redis); answering without it")
        return None


def cache_set(runtime: Runtime, entries: dict[str, tuple[bytes | str, int]]) -> None:
    """Write ``{key: (value, ttl seconds)}`` in one round trip."""
    if not entries:
        return
    try:
        with runtime.redis.pipeline(transaction=False) as pipe:
            for key, (value, ttl) in entries.items():
                pipe.set(key, value, ex=ttl)
            pipe.execute()
    except redis.RedisError:
        pass


def digest(*parts: str | bytes) -> str:
    """A short key for what ``parts`` say."""
    sha = hashlib.sha256()
    for part in parts:
        sha.update(part if isinstance(part, bytes) else part.encode())
        sha.update(b"\x00")
    return sha.hexdigest()[:32]
