"""The feed's impressions on both databases: a page is never shown twice within the
window, and an image shown before the window is renewed (an upsert on each dialect)."""

import time

import numpy as np
import pytest

from core.access import Viewer
from core.accounts import create_user
from core.models import LikeSource
from core.runtime import Runtime
from core.vectors import IMAGE, VectorPoint
from recommender.feed import feed_page
from recommender.signals import like
from tests.factories import place, reset_schema

DAY = 24 * 3600
ANYONE = Viewer()
"""A user with no Slack identity: sees web images (all there are here)."""


@pytest.fixture(params=["sqlite", "postgresql"])
def runtime(request, settings, embedder, postgres_url):
    if request.param == "postgresql" and not postgres_url:
        pytest.skip("FINDIMAGE_TEST_DATABASE_URL is not set (.ci/run sets it when PostgreSQL answers on 127.0.0.1:5432)")
    url = postgres_url if request.param == "postgresql" else None
    runtime = Runtime.open(settings.model_copy(update={"database_url": url}), embedder=embedder)
    reset_schema(runtime.engine)
    yield runtime
    reset_schema(runtime.engine)
    runtime.close()


def test_pages_do_not_repeat_and_old_impressions_are_renewed(runtime):
    rng = np.random.default_rng(3)
    direction = rng.normal(size=32)
    vectors = direction + 0.3 * rng.normal(size=(12, 32))
    place(runtime, [VectorPoint(id=i + 1, vectors={IMAGE: v.astype(np.float32)}, payload={}) for i, v in enumerate(vectors)])
    now = time.time()
    with runtime.session() as session:
        user = create_user(session, "ana").id
        like(runtime, session, user, 1, LikeSource.web)
        first = [item.id for item in feed_page(runtime, session, user, ANYONE, limit=6, now=now).items]
        second = [item.id for item in feed_page(runtime, session, user, ANYONE, limit=6, now=now + 1).items]
        assert len(first) == 6 and len(second) == 5  # 11 not liked, none twice
        assert not set(first) & set(second)
        # Past the window (14 days) the first page may come back; shown again, it is renewed.
        later = now + 15 * DAY
        again = [item.id for item in feed_page(runtime, session, user, ANYONE, limit=6, now=later).items]
        assert set(again) == set(first)
        after = [item.id for item in feed_page(runtime, session, user, ANYONE, limit=6, now=later + 1).items]
        assert not set(after) & set(again)
