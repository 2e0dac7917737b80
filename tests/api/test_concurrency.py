"""One person doing many things at once (two tabs, the bot and the web page): every
request answers, no signal is lost, and the taste is what its signals make."""

import random
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from cli.serving import create_app
from core.db import create_db_engine
from core.models import Like, SearchEvent, Signal, SignalKind, Taste, as_utc
from core.vectors import IMAGE, TEXT, VectorPoint
from recommender import taste as taste_math
from services.tastes import to_taste
from tests.factories import LOOPBACK, place, reset_schema

THREADS, EVENTS = 8, 25
IMAGES = 6


@pytest.fixture(params=["sqlite", "postgresql"])
def client(request, settings, postgres_url):
    if request.param == "postgresql" and not postgres_url:
        pytest.skip("FINDIMAGE_TEST_DATABASE_URL is not set (.ci/run sets it when PostgreSQL answers on 127.0.0.1:5432)")
    if request.param == "postgresql":
        settings = settings.model_copy(update={"database_url": postgres_url})
        engine = create_db_engine(settings)
        reset_schema(engine)
    with TestClient(create_app(settings), client=LOOPBACK) as client:
        yield client
    if request.param == "postgresql":
        reset_schema(engine)
        engine.dispose()


def test_concurrent_searches_clicks_likes_and_unlikes_of_one_user(client):
    runtime = client.app.state.runtime
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(IMAGES, runtime.embedder.dim)).astype(np.float32)
    place(runtime, [VectorPoint(id=i + 1, vectors={IMAGE: v, TEXT: v}, payload={"caption": f"picture {i}"})
                    for i, v in enumerate(vectors)])

    def act(seed: int) -> list[tuple[str, int]]:
        choose = random.Random(seed)
        answers = []
        for n in range(EVENTS):
            image_id = choose.randint(1, IMAGES)
            kind = choose.choice(["search", "similar", "like", "unlike"])
            if kind == "search":
                answer = client.get("/api/search", params={"q": f"picture {seed} {n}"})
            elif kind == "similar":
                answer = client.get(f"/api/images/{image_id}/similar")
            elif kind == "like":
                answer = client.put(f"/api/images/{image_id}/like")
            else:
                answer = client.delete(f"/api/images/{image_id}/like")
            answers.append((kind, answer.status_code))
        return answers

    with ThreadPoolExecutor(THREADS) as pool:
        answers = [a for thread in pool.map(act, range(THREADS)) for a in thread]
    failed = [a for a in answers if a[1] >= 300]
    assert not failed, failed
    searches_and_clicks = sum(1 for kind, _ in answers if kind in ("search", "similar"))

    user_id = client.get("/api/me").json()["id"]
    with runtime.session() as session:
        events = session.exec(select(SearchEvent).where(SearchEvent.user_id == user_id)).all()
        likes = session.exec(select(Like).where(Like.user_id == user_id)).all()
        signals = session.exec(select(Signal).where(Signal.user_id == user_id)).all()
        stored = session.get(Taste, user_id)
    assert len(events) == searches_and_clicks  # every search and click is in the history ...
    by_kind = {kind: [s for s in signals if s.kind == kind] for kind in SignalKind}
    assert len(by_kind[SignalKind.search]) + len(by_kind[SignalKind.click]) == searches_and_clicks  # ... and the taste
    assert sorted(s.image_id for s in by_kind[SignalKind.like]) == sorted(like.image_id for like in likes)

    # The taste holds every signal once: the same total weight and direction as an exact rebuild.
    params = runtime.settings.taste
    now = time.time()
    rebuilt = taste_math.build_taste(
        [taste_math.Signal(s.id, np.frombuffer(s.vector, np.float32), s.weight, as_utc(s.created_at).timestamp())
         for s in signals],
        runtime.embedder.dim, now, params.half_life, params.max_interests, params.join_above,
    )
    kept = taste_math.decayed(to_taste(stored), now, params.half_life)
    assert kept.weights.sum() == pytest.approx(rebuilt.weights.sum(), rel=1e-4)
    np.testing.assert_allclose(kept.sums.sum(axis=0), rebuilt.sums.sum(axis=0), rtol=1e-3, atol=1e-4)
