import pytest
from fastapi.testclient import TestClient

from cli.serving import create_app
from tests.factories import LOOPBACK


@pytest.fixture
def client(settings):
    """The app as ``findimage serve`` runs it: its lifespan opens the embedded parts and
    starts the ingest worker thread."""
    with TestClient(create_app(settings), client=LOOPBACK) as client:
        yield client


@pytest.fixture
def app_runtime(client):
    return client.app.state.runtime


@pytest.fixture(params=["edge", "server"])
def any_client(request, settings):
    """The app on each vector backend: the embedded Qdrant Edge shard, and a Qdrant server
    (qdrant-client's local mode stands in for it)."""
    if request.param == "server":
        settings = settings.model_copy(update={"qdrant_url": ":memory:"})
    with TestClient(create_app(settings), client=LOOPBACK) as client:
        yield client


@pytest.fixture
def any_runtime(any_client):
    return any_client.app.state.runtime
