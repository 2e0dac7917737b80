"""Shared fixtures: real parts everywhere.

- one embedded Valkey server for the session, flushed before each test;
- the tiny random-weight CLIP saved once as an open_clip ``local-dir:`` model, and
  exported once to ONNX: tests run on the default backend, as users do;
- a fresh data dir (SQLite, Qdrant Edge shard, files) per test.
"""

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, make_url, text

from core.clip import Embedder, open_embedder
from core.clip.torch_backend import MODEL_CONFIGS, TorchEmbedder, save_random_model, save_tiny_test_model
from core.config import TINY_TEST_MODEL, ClipSettings, OcrSettings, Settings, WorkerSettings, get_settings
from core.runtime import Runtime
from core.valkey import EmbeddedValkey

KEPT_ENVIRONMENT = {"FINDIMAGE_TEST_DATABASE_URL", "FINDIMAGE_TEST_ARTIFACTS", "FINDIMAGE_CHROMIUM", "FINDIMAGE_SCREENSHOTS"}
"""The test suite's own variables; every other ``FINDIMAGE_*`` is the developer's."""


@pytest.fixture(autouse=True)
def settled_requests(request, monkeypatch):
    """A test client's request returns once the app has also written what it writes after
    answering (``api.recorder``: history and taste), as a person would see it a moment
    later; an app under a live server (the browser tests) is not waited for, nor one in a
    test marked ``unsettled`` (what a request sees of the writes before it is its subject)."""
    from starlette.testclient import TestClient

    if request.node.get_closest_marker("unsettled"):
        return

    request = TestClient.request

    def settled(self, *args, **kwargs):
        response = request(self, *args, **kwargs)
        recorder = getattr(getattr(getattr(self.app, "state", None), "recorder", None), "wait_idle", None)
        if recorder is not None:
            assert recorder(30), "the app's history writes were still running after 30 s"
        return response

    monkeypatch.setattr(TestClient, "request", settled)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path_factory):
    """Tests see none of the developer's settings: no exported ``FINDIMAGE_*`` variable and
    no ``.env`` file (Settings reads one from the working directory, and so do the
    processes the tests start, which inherit it). Logging is put back as it was, too."""
    for name in list(os.environ):
        if name.startswith("FINDIMAGE_") and name not in KEPT_ENVIRONMENT:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
    get_settings.cache_clear()
    handlers, level = logging.root.handlers[:], logging.root.level
    yield
    get_settings.cache_clear()
    # A CLI test configures logging onto CliRunner's stream, which is closed once it returns:
    # later tests' log lines would go to it ("--- Logging error ---").
    logging.root.handlers[:], logging.root.level = handlers, level


@pytest.fixture(scope="session")
def valkey_url(tmp_path_factory) -> Iterator[str]:
    with EmbeddedValkey(tmp_path_factory.mktemp("valkey")) as url:
        yield url


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    return save_tiny_test_model(tmp_path_factory.mktemp("tiny-clip"))


@pytest.fixture(scope="session")
def other_model(tmp_path_factory) -> str:
    """Another tiny random CLIP, with 16-d embeddings: a model to reindex into."""
    config = json.loads((MODEL_CONFIGS / f"{TINY_TEST_MODEL}.json").read_text())
    return save_random_model({**config, "embed_dim": 16}, tmp_path_factory.mktemp("other-clip"))


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory) -> Path:
    """The session's ONNX exports, which are also the benches' (the ``exports`` of their work
    dir, ``tests/test_benches.py``): a test process exports the tiny model once."""
    return tmp_path_factory.getbasetemp() / "bench-work" / "exports"


@pytest.fixture(scope="session")
def embedder(tiny_model, models_dir, tmp_path_factory) -> Embedder:
    """The default backend (ONNX Runtime), its export made once for the session."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"), models_dir=models_dir, clip=ClipSettings(model=tiny_model))
    return open_embedder(settings)


@pytest.fixture(scope="session")
def torch_embedder(tiny_model) -> TorchEmbedder:
    embedder = TorchEmbedder(ClipSettings(model=tiny_model, backend="torch", precision="fp32"))
    embedder.load()
    return embedder


@pytest.fixture
def settings(tmp_path, valkey_url, tiny_model, models_dir) -> Settings:
    redis.Redis.from_url(valkey_url).flushall()
    return Settings(
        data_dir=tmp_path / "data",
        redis_url=valkey_url,
        models_dir=models_dir,
        clip=ClipSettings(model=tiny_model),
        worker=WorkerSettings(batch_size=8, max_retries=2, retry_intervals=[0], index_when_idle_for=0, ocr_after_idle=0),
        allowed_hosts=["testserver"],  # the Host Starlette's TestClient sends
        ocr=OcrSettings(mode="off"),  # on in the tests of text search (tests/services/test_text_search.py)
    )


@pytest.fixture
def runtime(settings, embedder) -> Iterator[Runtime]:
    runtime = Runtime.open(settings, embedder=embedder)
    yield runtime
    runtime.close()


@pytest.fixture(scope="session")
def postgres_url() -> str | None:
    """``FINDIMAGE_TEST_DATABASE_URL``, or None. The tests reset its schema, so each
    pytest-xdist worker gets a database of its own on that server (``test_gw0`` for
    ``test``), created on first use."""
    url = os.environ.get("FINDIMAGE_TEST_DATABASE_URL")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url or not worker:
        return url
    given = make_url(url)
    own = given.set(database=f"{given.database}_{worker}")
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            if connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": own.database}).first() is None:
                connection.execute(text(f'CREATE DATABASE "{own.database}"'))
    finally:
        admin.dispose()
    return own.render_as_string(hide_password=False)


@pytest.fixture
def cli_env(settings, monkeypatch):
    """The test settings as environment variables, for the CLI (which reads its own)."""
    monkeypatch.setenv("FINDIMAGE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("FINDIMAGE_REDIS_URL", settings.redis_url)
    monkeypatch.setenv("FINDIMAGE_CLIP__MODEL", settings.clip.model)
    monkeypatch.setenv("FINDIMAGE_MODELS_DIR", str(settings.models_dir))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
