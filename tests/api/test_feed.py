"""Likes, history and the personal feed, on real embedded parts with placed vectors:
three unrelated topics of 20 images each, so what a taste should bring up is known."""

from functools import partial

import numpy as np
import pytest

from api.recorder import Recorder
from core.vectors import IMAGE, VectorPoint
from services.signals import record
from tests.factories import bearer, place

DIM = 32
TOPICS = {"cats": 100, "maps": 200, "boats": 300}
"""Topic -> first image id; each topic has ids first+1 .. first+20."""


def unit(x):
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def topic_of(image_id: int) -> str:
    return next(name for name, first in TOPICS.items() if first < image_id <= first + 20)


@pytest.fixture
def topics(app_runtime):
    rng = np.random.default_rng(7)
    basis = np.linalg.qr(rng.normal(size=(DIM, DIM)))[0].astype(np.float32)
    points = []
    for k, first in enumerate(TOPICS.values()):
        vectors = unit(basis[k] + 0.5 * rng.normal(size=(20, DIM)) / np.sqrt(DIM))
        points += [VectorPoint(id=first + 1 + i, vectors={IMAGE: v}, payload={"source": "web", "caption": f"{first + 1 + i}"})
                   for i, v in enumerate(vectors)]
    place(app_runtime, points)


def feed(client, headers, limit=10):
    response = client.get("/api/feed", params={"limit": limit}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def like(client, headers, *image_ids):
    for image_id in image_ids:
        response = client.put(f"/api/images/{image_id}/like", headers=headers)
        assert response.status_code == 200, response.text


def test_likes_turn_the_feed_toward_the_liked_topic(client, app_runtime, topics):
    ana = bearer(app_runtime, "ana")
    cold = feed(client, ana)
    assert not cold["personal"] and len(cold["results"]) == 10
    like(client, ana, 101, 102, 103)
    page = feed(client, ana)
    assert page["personal"]
    ids = [r["id"] for r in page["results"]]
    assert len(ids) == 10 and all(topic_of(i) == "cats" for i in ids)
    assert not {101, 102, 103} & set(ids)  # never what you already like
    assert all(r["reason"].startswith("because you liked") and r["because_image"] in (101, 102, 103)
               for r in page["results"])


def test_pages_never_repeat_an_image(client, app_runtime, topics):
    ana = bearer(app_runtime, "ana")
    like(client, ana, 101, 201)
    seen = [r["id"] for _ in range(4) for r in feed(client, ana, limit=12)["results"]]
    assert len(seen) == len(set(seen)) == 48


def test_two_interests_share_the_page_by_weight(client, app_runtime, topics):
    ana = bearer(app_runtime, "ana")
    like(client, ana, 101, 102, 103, 201)  # three cats, one map
    topics_shown = [topic_of(r["id"]) for r in feed(client, ana, limit=12)["results"]]
    assert topics_shown.count("cats") == 9 and topics_shown.count("maps") == 3
    assert topics_shown[:2] == ["cats", "maps"] or topics_shown[:3].count("maps") == 1  # interleaved, not stacked


def test_one_users_signals_never_reach_anothers_feed(client, app_runtime, topics):
    ana, bob = bearer(app_runtime, "ana"), bearer(app_runtime, "bob")
    like(client, ana, 101, 102, 103)
    like(client, bob, 301, 302)
    assert {topic_of(r["id"]) for r in feed(client, bob)["results"]} == {"boats"}
    assert {topic_of(r["id"]) for r in feed(client, ana)["results"]} == {"cats"}
    assert [i["image_id"] for i in client.get("/api/me/history", headers=bob).json()] == [302, 301]


def test_a_search_counts_toward_the_taste_with_its_reason(client, app_runtime, topics):
    ana = bearer(app_runtime, "ana")
    assert client.get("/api/search", params={"q": "anything"}, headers=ana).status_code == 200
    page = feed(client, ana)
    assert page["personal"] and page["results"][0]["reason"] == "because you searched 'anything'"


@pytest.mark.unsettled
def test_the_feed_right_after_a_search_has_its_pull(client, app_runtime, topics):
    """The history writer lingers to write searches in batches; the feed opened next waits
    for the searcher's own."""
    app = client.app
    app.state.recorder.close()
    app.state.recorder = Recorder(partial(record, app_runtime), linger=60)  # a write surely still waits
    ana = bearer(app_runtime, "ana")
    assert client.get("/api/search", params={"q": "anything"}, headers=ana).status_code == 200
    page = feed(client, ana)
    assert page["personal"] and page["results"][0]["reason"] == "because you searched 'anything'"


def test_like_is_idempotent_and_unlike_takes_the_taste_back(client, app_runtime, topics):
    ana = bearer(app_runtime, "ana")
    first = client.put("/api/images/101/like", headers=ana).json()
    again = client.put("/api/images/101/like", headers=ana).json()
    assert (first["liked"], first["changed"], again["changed"]) == (True, True, False)
    assert [i["id"] for i in client.get("/api/me/likes", headers=ana).json()] == [101]
    assert client.put("/api/images/4242/like", headers=ana).status_code == 404
    gone = client.delete("/api/images/101/like", headers=ana).json()
    assert (gone["liked"], gone["changed"]) == (False, True)
    assert client.delete("/api/images/101/like", headers=ana).json()["changed"] is False
    assert client.get("/api/me/likes", headers=ana).json() == []
    assert not feed(client, ana)["personal"]


def test_history_lists_searches_clicks_and_likes_newest_first_and_clears(client, app_runtime, topics):
    ana = bearer(app_runtime, "ana")
    client.get("/api/search", params={"q": "a cat"}, headers=ana)
    client.get("/api/images/101/similar", headers=ana)
    like(client, ana, 102)
    history = client.get("/api/me/history", headers=ana).json()
    assert [(h["kind"], h["query"], h["image_id"]) for h in history] == [
        ("like", None, 102), ("click", None, 101), ("text", "a cat", None)]
    assert client.get("/api/me/history", params={"page": 2, "limit": 2}, headers=ana).json()[0]["kind"] == "text"
    assert client.delete("/api/me/history", headers=ana).status_code == 204
    assert client.get("/api/me/history", headers=ana).json() == []
    assert client.get("/api/me/likes", headers=ana).json() == []
    assert not feed(client, ana)["personal"]


def test_the_cold_start_feed_shows_the_most_liked_first(client, app_runtime, topics):
    for name in ("ana", "bob"):
        like(client, bearer(app_runtime, name), 205)
    like(client, bearer(app_runtime, "cy"), 305)
    results = feed(client, bearer(app_runtime, "dee"))["results"]
    assert [(r["id"], r["reason"]) for r in results[:3:2]] == [(205, "liked by 2 people"), (305, "liked by 1 person")]
    assert results[1]["reason"] == "new"


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"cursor": -1}, {"cursor": "yesterday"}])
def test_bad_feed_parameters(client, params):
    assert client.get("/api/feed", params=params).status_code == 422


def test_results_say_whether_you_like_each_image(client, app_runtime, topics):
    ana, bob = bearer(app_runtime, "ana"), bearer(app_runtime, "bob")
    like(client, ana, 101)

    def hearts(headers, path, **params):
        results = client.get(path, params=params, headers=headers).json()["results"]
        return {r["id"] for r in results if r["liked"]}, {r["id"] for r in results}

    liked, shown = hearts(ana, "/api/images/102/similar")
    assert 101 in shown and liked == {101}
    assert hearts(bob, "/api/images/102/similar")[0] == set()  # ana's heart is hers alone
    liked, shown = hearts(ana, "/api/search", q="101", limit=100)
    assert 101 in shown and liked == {101}
    assert client.get("/api/images/101", headers=ana).json()["liked"] is True
    assert client.get("/api/images/101", headers=bob).json()["liked"] is False


def scroll(client, headers, pages, limit=12):
    """``pages`` pages of one scroll, each asked for with the last one's cursor."""
    found, cursor = [], None
    for _ in range(pages):
        params = {"limit": limit, **({"cursor": cursor} if cursor is not None else {})}
        page = client.get("/api/feed", params=params, headers=headers).json()
        found.append(page)
        cursor = page["next_cursor"]
    return found


@pytest.mark.parametrize("pool_depth", [200, 10], ids=["kept candidates", "candidates used up page by page"])
def test_the_feed_never_runs_dry(client, app_runtime, topics, pool_depth, monkeypatch):
    monkeypatch.setattr("services.feed.POOL_DEPTH", pool_depth)
    ana = bearer(app_runtime, "ana")
    like(client, ana, 101)
    pages = scroll(client, ana, 6)
    ids = [[r["id"] for r in page["results"]] for page in pages]
    assert [len(page) for page in ids] == [12] * 6  # 59 fresh images, then the ones shown before
    assert [page["caught_up"] for page in pages] == [False] * 4 + [True] * 2
    fresh = [i for page in ids for i in page][:59]
    assert len(set(fresh)) == 59 and 101 not in fresh  # each fresh image once, never the liked one
    assert ids[4][:11] == fresh[48:59] and ids[4][11:] == [101]  # the last fresh, then caught up: the liked one
    assert [r["liked"] for r in pages[4]["results"]] == [False] * 11 + [True]
    assert set(ids[5]) == set(ids[0])  # round again: least recently shown first
    reasons = {r["reason"] for r in pages[5]["results"]}
    assert reasons == {"seen before"}
    later = feed(client, ana, limit=12)  # a new visit: nothing is fresh, and still a full page
    assert later["caught_up"] and len(later["results"]) == 12


def test_an_interest_whose_candidates_ran_out_is_searched_again_beside_the_kept_ones(client, app_runtime, topics,
                                                                                    monkeypatch):
    """Cats take 6 of 8 a page: of their 10 kept candidates 4 are left for the second page,
    so they are searched again; the maps' 8 left are enough, and kept."""
    monkeypatch.setattr("services.feed.POOL_DEPTH", 10)
    ana = bearer(app_runtime, "ana")
    like(client, ana, 101, 102, 103, 201)  # three cats, one map
    pages = scroll(client, ana, 2, limit=8)
    shown = [[topic_of(r["id"]) for r in page["results"]] for page in pages]
    assert [(page.count("cats"), page.count("maps")) for page in shown] == [(6, 2), (6, 2)]
    ids = [r["id"] for page in pages for r in page["results"]]
    assert len(set(ids)) == 16 and not {101, 102, 103, 201} & set(ids)  # fresh, each once


def test_not_interested_keeps_an_image_out_of_the_feed_and_can_be_taken_back(client, app_runtime, topics):
    ana, bob = bearer(app_runtime, "ana"), bearer(app_runtime, "bob")
    like(client, ana, 101, 102)
    hidden = client.put("/api/images/103/not-interested", headers=ana)
    assert hidden.json() == {"image_id": 103, "not_interested": True, "changed": True}
    assert client.put("/api/images/103/not-interested", headers=ana).json()["changed"] is False
    seen = {r["id"] for page in scroll(client, ana, 8) for r in page["results"]}  # every image, and round again
    assert seen == (set(range(101, 121)) | set(range(201, 221)) | set(range(301, 321))) - {103}
    assert 103 in {r["id"] for r in feed(client, bob, limit=60)["results"]}  # only ana hid it
    undone = client.delete("/api/images/103/not-interested", headers=ana)
    assert undone.json() == {"image_id": 103, "not_interested": False, "changed": True}
    assert client.delete("/api/images/103/not-interested", headers=ana).json()["changed"] is False
    assert 103 in {r["id"] for page in scroll(client, ana, 6) for r in page["results"]}
    assert client.put("/api/images/999/not-interested", headers=ana).status_code == 404


def test_not_interested_steers_the_taste_away(client, app_runtime, topics):
    from recommender.taste import interests
    from services.tastes import taste_for

    ana = bearer(app_runtime, "ana")
    like(client, ana, *range(101, 106))
    stray = app_runtime.vectors.retrieve([120])[0].vectors[IMAGE]

    def closeness():
        with app_runtime.session() as session:
            user = client.get("/api/me", headers=ana).json()["id"]
            (interest,) = interests(taste_for(app_runtime, session, user, app_runtime.space), 0, 1e12)
        return float(interest.direction @ unit(stray))

    before = closeness()
    assert client.put("/api/images/120/not-interested", headers=ana).status_code == 200
    assert closeness() < before
    assert client.delete("/api/images/120/not-interested", headers=ana).status_code == 200
    assert closeness() == pytest.approx(before, abs=1e-5)


def test_an_image_deleted_after_the_feed_kept_its_candidates_never_shows(client, app_runtime, topics):
    from core.accounts import create_user, issue_token
    from core.models import TokenKind

    ana = bearer(app_runtime, "ana")
    with app_runtime.session() as session:
        admin = {"Authorization": f"Bearer {issue_token(session, create_user(session, 'admin', is_admin=True), TokenKind.api)}"}
    like(client, ana, 101)
    first = [r["id"] for r in feed(client, ana, limit=5)["results"]]  # the candidates of ana's taste are kept now
    gone = next(i for i in range(102, 121) if i not in first)
    assert client.delete(f"/api/images/{gone}", headers=admin).status_code == 204
    later = [r["id"] for _ in range(4) for r in feed(client, ana, limit=5)["results"]]
    assert gone not in later and len(later) == 20
    assert {topic_of(i) for i in later[:13]} == {"cats"}  # the 13 other cats still come first
