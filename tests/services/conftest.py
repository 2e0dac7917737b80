"""The services' tests that run on each database."""

import pytest

from core.runtime import Runtime
from tests.factories import reset_schema


@pytest.fixture(params=["sqlite", "postgresql"])
def db_runtime(request, settings, embedder, postgres_url):
    if request.param == "postgresql" and not postgres_url:
        pytest.skip("FINDIMAGE_TEST_DATABASE_URL is not set (.ci/run sets it when PostgreSQL answers on 127.0.0.1:5432)")
    url = postgres_url if request.param == "postgresql" else None
    runtime = Runtime.open(settings.model_copy(update={"database_url": url}), embedder=embedder)
    reset_schema(runtime.engine)
    yield runtime
    reset_schema(runtime.engine)
    runtime.close()
