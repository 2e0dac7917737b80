"""POST /api/images/search-similar: seed 001's contract, on real embedded parts."""

import time

import numpy as np
import pytest
from sqlmodel import func, select

from core.config import LimitSettings
from core.decoding import decode_scaled
from core.models import Image, SearchEvent, SearchKind
from core.vectors import IMAGE, VectorPoint
from tests.factories import distinct_jpeg, place

EXAMPLE = distinct_jpeg(7, size=(320, 240))


def look_of(runtime, data: bytes) -> np.ndarray:
    return runtime.embedder.embed_images([decode_scaled(data, runtime.embedder.image_size, 0, LimitSettings())])[0]


def ask(client, data=EXAMPLE, name="duck.jpg", **form):
    return client.post("/api/images/search-similar", files={"image_file": (name, data, "image/jpeg")}, data=form)


@pytest.fixture
def placed(app_runtime):
    look = look_of(app_runtime, EXAMPLE)
    rng = np.random.default_rng(3)
    points = [VectorPoint(id=7, vectors={IMAGE: look}, payload={"caption": "the duck", "source": "web"})]
    for i in range(20, 40):
        other = rng.normal(size=look.shape).astype(np.float32)
        points.append(VectorPoint(id=i, vectors={IMAGE: other / np.linalg.norm(other)}, payload={"source": "slack"}))
    place(app_runtime, points)
    return look


def test_the_image_that_looks_the_same_comes_first_in_seed_001s_shape(client, app_runtime, placed):
    response = ask(client)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"query_image", "results", "total_found"}
    assert "duck.jpg" in body["query_image"] and "320x240" in body["query_image"]
    first = body["results"][0]
    assert first["image_uri"].endswith("/api/images/7/file") and first["image_uri"].startswith("http")
    assert first["score"] == pytest.approx(1.0, abs=1e-3)
    assert first["metadata"]["caption"] == "the duck" and first["metadata"]["source"] == "web"
    assert body["total_found"] == len(body["results"]) == 10  # the default limit


def test_limit_and_threshold(client, placed):
    assert ask(client, limit="3").json()["total_found"] == 3
    strong = ask(client, score_threshold="0.99").json()
    assert [r["metadata"]["id"] for r in strong["results"]] == [7] and strong["total_found"] == 1


def test_no_match_is_an_empty_list(client):
    body = ask(client).json()
    assert body["results"] == [] and body["total_found"] == 0


@pytest.mark.parametrize(
    "data, status, code",
    [
        (b"not an image at all", 415, "unsupported_media_type"),
        (EXAMPLE[: len(EXAMPLE) // 2], 400, "invalid_image"),
        (b"", 400, "invalid_image"),
    ],
)
def test_bad_files_are_refused_as_uploads_are(client, data, status, code):
    response = ask(client, data=data)
    assert response.status_code == status and response.json()["error"]["code"] == code


def test_a_file_over_the_size_limit_is_413(client, app_runtime, monkeypatch):
    monkeypatch.setattr(app_runtime.settings.limits, "max_upload_bytes", 1000)
    response = ask(client)  # a few kilobytes
    assert response.status_code == 413 and response.json()["error"]["code"] == "image_too_large"


def test_nothing_of_the_upload_is_kept_and_the_search_is_recorded(client, app_runtime, placed):
    with app_runtime.session() as session:
        images_before = session.exec(select(func.count()).select_from(Image)).one()
    ask(client)
    with app_runtime.session() as session:
        assert session.exec(select(func.count()).select_from(Image)).one() == images_before
        (event,) = session.exec(select(SearchEvent))
    assert event.kind == SearchKind.image and "duck.jpg" in event.query and event.result_count == 10
    files = app_runtime.settings.files_dir
    assert not files.exists() or not any(p.is_file() for p in files.rglob("*"))


def test_a_lost_vector_store_is_503(client, app_runtime):
    app_runtime.vectors.close()
    response = ask(client)
    assert response.status_code == 503 and "vector store" in response.json()["error"]["message"].lower()


def test_a_slow_model_is_504(client, app_runtime, monkeypatch):
    monkeypatch.setattr(app_runtime.settings.limits, "search_timeout", 0.2)
    embed = app_runtime.embedder.embed_images
    monkeypatch.setattr(app_runtime.embedder, "embed_images", lambda images: time.sleep(1) or embed(images))
    response = ask(client)
    assert response.status_code == 504 and response.json()["error"]["code"] == "timeout"
