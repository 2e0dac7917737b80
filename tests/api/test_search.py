"""GET /api/search on real embedded parts, with stored vectors placed so the answer is known."""

import numpy as np
import pytest
from sqlmodel import select

from core.models import SearchEvent, SearchKind, User
from core.vectors import IMAGE, TEXT, VectorPoint
from services.search import query_vector
from tests.factories import bearer
from tests.factories import place as place_points

QUERY = "a red bicycle against a brick wall"


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x)).astype(np.float32)


def place(any_runtime, near: int = 40, far: int = 10, **payload):
    """Images 1..near drift away from the query's vector step by step (so their order is
    known); images 1001.. point elsewhere."""
    q = query_vector(any_runtime, QUERY)
    rng = np.random.default_rng(0)
    away = unit(rng.normal(size=q.shape))
    away = unit(away - (away @ q) * q)  # orthogonal to the query
    points = [
        VectorPoint(id=i, vectors={IMAGE: unit(q + 0.02 * i * away)}, payload={"image_id": i, "source": "web", **payload})
        for i in range(1, near + 1)
    ]
    points += [
        VectorPoint(id=1000 + i, vectors={IMAGE: unit(-q + 0.3 * rng.normal(size=q.shape))}, payload={"source": "web"})
        for i in range(1, far + 1)
    ]
    place_points(any_runtime, points)
    return q


def search(any_client, **params):
    response = any_client.get("/api/search", params={"q": QUERY, **params})
    assert response.status_code == 200, response.text
    return response.json()


def test_images_closest_to_the_query_come_first_with_urls_and_scores(any_client, any_runtime):
    place(any_runtime)
    body = search(any_client, limit=5)
    assert [r["id"] for r in body["results"]] == [1, 2, 3, 4, 5]
    first = body["results"][0]
    assert first["matched"] == ["image"] and first["score"] > 0.99
    assert first["thumbnail_url"] == "/api/images/1/thumbnail" and first["file_url"] == "/api/images/1/file"
    assert body["total_found"] == 50


def test_a_caption_match_is_fused_with_the_image_matches(any_client, any_runtime):
    q = place(any_runtime)
    other = unit(-q)
    place_points(any_runtime, 
        [VectorPoint(id=500, vectors={IMAGE: other, TEXT: q}, payload={"caption": "red bike", "source": "slack"})]
    )
    results = search(any_client, limit=3)["results"]
    # 500 is first by its caption and last by its picture; found by both, it leads image 1,
    # which only the image index found first.
    assert [r["id"] for r in results] == [500, 1, 2]
    assert results[0]["matched"] == ["image", "text"] and results[0]["caption"] == "red bike"
    assert results[0]["score"] == pytest.approx(1.0, abs=1e-4)
    assert results[1]["matched"] == ["image"]


def test_pages_never_repeat_or_skip_even_when_images_arrive_between_them(any_client, any_runtime):
    q = place(any_runtime)
    first = search(any_client, page=1)
    place_points(any_runtime, [VectorPoint(id=999, vectors={IMAGE: q}, payload={"source": "web"})])  # would rank first
    later = [search(any_client, page=p) for p in (2, 3, 4)]
    ids = [r["id"] for page in [first, *later] for r in page["results"]]
    assert len(ids) == len(set(ids)) == 50 and 999 not in ids
    assert [len(page["results"]) for page in [first, *later]] == [15, 15, 15, 5]
    assert search(any_client, page=1)["results"][0]["id"] == 999  # a new search sees it
    assert search(any_client, page=9)["results"] == []


def test_filters_hold(any_client, any_runtime):
    place(any_runtime)
    place_points(any_runtime, 
        [
            VectorPoint(id=i, vectors={IMAGE: query_vector(any_runtime, QUERY)}, payload={"source": "slack", "channel": "C1",
                                                                                      "uploader": "ana", "created_at": 2e9})
            for i in (200, 201)
        ]
    )
    assert {r["id"] for r in search(any_client, source="slack")["results"]} == {200, 201}
    assert {r["id"] for r in search(any_client, channel="C1", uploader="ana")["results"]} == {200, 201}
    assert search(any_client, uploader="bo")["results"] == []
    assert {r["id"] for r in search(any_client, after="2033-01-01T00:00:00Z")["results"]} == {200, 201}
    assert {200, 201}.isdisjoint(r["id"] for r in search(any_client, before="2033-01-01T00:00:00Z", limit=100)["results"])


def test_score_threshold_cuts_weak_matches_and_counts_the_strong_ones(any_client, any_runtime):
    q = place(any_runtime)
    strong = search(any_client, score_threshold=0.9, limit=100)
    expected = [i for i in range(1, 41) if float(unit(q + 0.02 * i * _away(q)) @ q) >= 0.9]
    assert strong["total_found"] == len(strong["results"]) > 0
    assert all(r["score"] >= 0.9 for r in strong["results"])
    assert len(strong["results"]) in (len(expected), len(expected) - 1, len(expected) + 1)  # float32 at the edge


def test_searches_are_recorded_for_the_caller(any_client, any_runtime):
    place(any_runtime)
    search(any_client, page=2, source="web", score_threshold=0.5)
    any_client.get("/api/search", params={"q": "  a   cat "}, headers=bearer(any_runtime, "ana"))
    with any_runtime.session() as session:
        events = list(session.exec(select(SearchEvent).order_by(SearchEvent.id)))
        users = [session.get(User, e.user_id).name for e in events]
    assert [(user, e.kind, e.query, e.page) for user, e in zip(users, events)] == [
        ("local", SearchKind.text, QUERY, 2),
        ("ana", SearchKind.text, "a cat", 1),
    ]
    assert events[0].filters == {"source": "web", "score_threshold": 0.5} and events[0].result_count == 15


@pytest.mark.parametrize(
    "params",
    [{"q": ""}, {"q": "   "}, {"q": "x", "limit": 0}, {"q": "x", "page": 0}, {"q": "x", "source": "fax"},
     {"q": "x", "after": "yesterday"}, {"q": "x", "score_threshold": 2}, {"q": "x" * 501}, {}],
)
def test_bad_parameters_get_a_clear_error(any_client, params):
    response = any_client.get("/api/search", params=params)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request" and response.json()["error"]["message"]


def test_search_still_answers_without_redis(any_client, any_runtime, monkeypatch):
    place(any_runtime)
    monkeypatch.setattr(any_runtime.redis.connection_pool, "connection_kwargs", {"host": "127.0.0.1", "port": 1})
    any_runtime.redis.connection_pool.disconnect()
    assert [r["id"] for r in search(any_client, limit=3)["results"]] == [1, 2, 3]


def test_a_lost_vector_store_answers_503(any_client, any_runtime):
    any_runtime.vectors.close()
    response = any_client.get("/api/search", params={"q": QUERY})
    assert response.status_code == 503 and response.json()["error"]["code"] == "service_unavailable"


def _away(q):
    rng = np.random.default_rng(0)
    away = unit(rng.normal(size=q.shape))
    return unit(away - (away @ q) * q)
