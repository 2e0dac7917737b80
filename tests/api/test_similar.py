"""GET /api/images/{id}/similar: neighbours of a clicked image, from its stored vectors."""

import numpy as np
import pytest
from sqlmodel import select

from core.models import SearchEvent, SearchKind, User
from core.vectors import IMAGE, TEXT, VectorPoint
from tests.factories import bearer, place

DIM = 32


def unit(x):
    return (x / np.linalg.norm(x)).astype(np.float32)


@pytest.fixture
def placed(any_runtime):
    """Image 1 (captioned) is clicked. Images 2..40 look more and more unlike it; images
    50..90 have captions more and more unlike its caption, and look like nothing near it."""
    rng = np.random.default_rng(1)
    basis = np.linalg.qr(rng.normal(size=(DIM, DIM)))[0].astype(np.float32)
    look, caption, away, elsewhere = basis[0], basis[1], basis[2], basis[3]
    points = [VectorPoint(id=1, vectors={IMAGE: look, TEXT: caption}, payload={"caption": "the clicked one"})]
    points += [VectorPoint(id=i, vectors={IMAGE: unit(look + 0.03 * i * away)}, payload={}) for i in range(2, 41)]
    points += [
        VectorPoint(id=i, vectors={IMAGE: unit(elsewhere + 0.01 * i * away), TEXT: unit(caption + 0.03 * (i - 48) * away)},
                    payload={"caption": f"caption {i}"})
        for i in range(50, 91)
    ]
    place(any_runtime, points)
    return look


def similar(any_client, image_id, page=1, **headers):
    response = any_client.get(f"/api/images/{image_id}/similar", params={"page": page}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["results"]


def test_a_page_has_seven_from_each_index_interleaved_without_the_clicked_image(any_client, placed):
    results = similar(any_client, 1)
    assert [r["id"] for r in results] == [2, 50, 3, 51, 4, 52, 5, 53, 6, 54, 7, 55, 8, 56]
    assert [r["matched"] for r in results[:2]] == [["image"], ["text"]]
    assert results[1]["caption"] == "caption 50" and results[0]["thumbnail_url"] == "/api/images/2/thumbnail"


def test_pages_continue_without_overlap(any_client, placed):
    pages = [[r["id"] for r in similar(any_client, 1, page=p)] for p in (1, 2, 3)]
    assert pages[1] == [9, 57, 10, 58, 11, 59, 12, 60, 13, 61, 14, 62, 15, 63]
    flat = [i for page in pages for i in page]
    assert len(flat) == len(set(flat)) == 42


def test_an_image_without_caption_fills_the_page_from_the_image_index(any_client, any_runtime, placed):
    place(any_runtime, [VectorPoint(id=100, vectors={IMAGE: placed}, payload={})])
    results = similar(any_client, 100)
    assert [r["id"] for r in results] == [1, *range(2, 15)]
    assert all(r["matched"] == ["image"] for r in results)


def test_no_model_runs_and_the_click_is_recorded(any_client, any_runtime, placed, monkeypatch):
    def refuse(*_):
        raise AssertionError("the model must not run for a click")

    monkeypatch.setattr(any_runtime.embedder, "embed_texts", refuse)
    monkeypatch.setattr(any_runtime.embedder, "embed_pixels", refuse)
    similar(any_client, 1, page=2, **bearer(any_runtime, "ana"))
    with any_runtime.session() as session:
        (event,) = session.exec(select(SearchEvent))
        user = session.get(User, event.user_id).name
    assert (user, event.kind, event.image_id, event.page, event.result_count) == ("ana", SearchKind.click, 1, 2, 14)


def test_unknown_image_and_bad_page(any_client, placed):
    response = any_client.get("/api/images/4242/similar")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert any_client.get("/api/images/1/similar", params={"page": 0}).status_code == 422
    assert any_client.get("/api/images/1/similar", params={"page": 21}).status_code == 422
