import pytest
from fastapi.testclient import TestClient

from api.main import create_app


@pytest.fixture
def client(settings):
    """The app as ``findimage serve`` runs it: its lifespan opens the embedded parts and
    starts the ingest worker thread."""
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def app_runtime(client):
    return client.app.state.runtime
