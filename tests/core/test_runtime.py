"""The embedded defaults: with no Redis URL findimage runs its own Valkey server."""

import redis

from core.config import Settings
from core.runtime import Runtime
from core.valkey import EmbeddedValkey


def test_runtime_starts_and_stops_an_embedded_valkey(tmp_path, tiny_model, embedder):
    settings = Settings(data_dir=tmp_path / "data", clip={"model": tiny_model})
    runtime = Runtime.open(settings, embedder=embedder)
    url = runtime.redis.connection_pool.connection_kwargs
    assert runtime.redis.ping() and url["host"] == "127.0.0.1"
    runtime.close()
    probe = redis.Redis(host=url["host"], port=url["port"], socket_connect_timeout=1)
    try:
        probe.ping()
        alive = True
    except redis.ConnectionError:
        alive = False
    assert not alive


def test_queued_work_survives_a_restart_of_the_embedded_valkey(tmp_path):
    with EmbeddedValkey(tmp_path / "valkey") as url:
        redis.Redis.from_url(url).rpush("rq:queue:findimage-ingest", "index-1")
    with EmbeddedValkey(tmp_path / "valkey") as url:
        assert redis.Redis.from_url(url).lrange("rq:queue:findimage-ingest", 0, -1) == [b"index-1"]
