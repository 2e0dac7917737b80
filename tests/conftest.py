"""Shared fixtures: real parts everywhere.

- one embedded Valkey server for the session, flushed before each test;
- the tiny random-weight CLIP saved once as an open_clip ``local-dir:`` model;
- a fresh data dir (SQLite, Qdrant Edge shard, files) per test.
"""

import os
from collections.abc import Iterator

import pytest
import redis

from core.config import ClipSettings, Settings, WorkerSettings
from core.embedder import ClipEmbedder, save_tiny_test_model
from core.queue import EmbeddedValkey
from core.runtime import Runtime


@pytest.fixture(scope="session")
def valkey_url(tmp_path_factory) -> Iterator[str]:
    with EmbeddedValkey(tmp_path_factory.mktemp("valkey")) as url:
        yield url


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    return save_tiny_test_model(tmp_path_factory.mktemp("tiny-clip"))


@pytest.fixture(scope="session")
def embedder(tiny_model) -> ClipEmbedder:
    embedder = ClipEmbedder(ClipSettings(model=tiny_model))
    embedder.load()
    return embedder


@pytest.fixture
def settings(tmp_path, valkey_url, tiny_model) -> Settings:
    redis.Redis.from_url(valkey_url).flushall()
    return Settings(
        data_dir=tmp_path / "data",
        redis_url=valkey_url,
        clip=ClipSettings(model=tiny_model),
        worker=WorkerSettings(batch_size=8, max_retries=2, retry_intervals=[0], index_when_idle_for=0),
    )


@pytest.fixture
def runtime(settings, embedder) -> Iterator[Runtime]:
    runtime = Runtime.open(settings, embedder=embedder)
    yield runtime
    runtime.close()


@pytest.fixture
def postgres_url() -> str | None:
    return os.environ.get("FINDIMAGE_TEST_DATABASE_URL")
