"""Per-user rate limits on the real Valkey: a sliding minute, not a fixed one."""

import pytest
import redis

from core import ratelimit
from core.errors import RateLimited

MINUTE = 1_800_000_000.0  # a minute's start (divisible by 60)


@pytest.fixture
def clock(monkeypatch, valkey_url):
    redis.Redis.from_url(valkey_url).flushall()
    now = [MINUTE]
    monkeypatch.setattr(ratelimit.time, "time", lambda: now[0])
    return now


def take(valkey_url, amount, at, clock):
    clock[0] = at
    ratelimit.take(redis.Redis.from_url(valkey_url), "uploads", 7, amount, per_minute=10)


def test_a_burst_across_a_minutes_edge_counts_against_the_limit(valkey_url, clock):
    take(valkey_url, 10, MINUTE + 50, clock)  # the whole limit, late in a minute
    with pytest.raises(RateLimited) as refused:  # 10 seconds on: a fixed window would allow 10 more
        take(valkey_url, 5, MINUTE + 70, clock)
    # 10 x 50/60 still counts at :10; 5 more fit once 10 x (1 - t/60) <= 5, at :30 of that minute
    assert refused.value.retry_after == 20
    take(valkey_url, 5, MINUTE + 90, clock)
    with pytest.raises(RateLimited):
        take(valkey_url, 1, MINUTE + 91, clock)  # 10 x 29/60 + 5 + 1 > 10


def test_a_refused_request_is_not_counted_and_users_are_apart(valkey_url, clock):
    take(valkey_url, 8, MINUTE + 5, clock)
    with pytest.raises(RateLimited) as refused:
        take(valkey_url, 3, MINUTE + 6, clock)
    assert refused.value.retry_after == 62  # 54 s to the next minute, then 7.5 until 8 x (1 - t/60) + 3 <= 10
    take(valkey_url, 2, MINUTE + 7, clock)  # the refused 3 did not count
    ratelimit.take(redis.Redis.from_url(valkey_url), "uploads", 8, 10, per_minute=10)  # another user


def test_more_than_the_limit_at_once_never_fits(valkey_url, clock):
    with pytest.raises(RateLimited) as refused:
        take(valkey_url, 11, MINUTE, clock)
    assert "At most 10 uploads a minute" in str(refused.value)
