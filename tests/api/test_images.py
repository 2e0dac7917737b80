"""Upload -> queued -> indexed, through the HTTP API on embedded Valkey, Qdrant Edge and SQLite."""

import io
from datetime import datetime, timedelta

import numpy as np
import pytest
from PIL import Image as PILImage
from sqlmodel import select

from core.models import Image
from core.vectors import IMAGE, TEXT
from services.ingest import BATCH
from tests.factories import SVG, distinct_jpeg, image_bytes, png_claiming_size
from tests.polling import wait_for_status


def upload(client, *files, caption=None):
    data = {"caption": caption} if caption else {}
    return client.post(
        "/api/images",
        files=[("files", (name, content, "application/octet-stream")) for name, content in files],
        data=data,
    )


def test_upload_is_queued_then_indexed_with_both_vectors(client, app_runtime):
    response = upload(client, ("duck.jpg", distinct_jpeg(1)), ("pond.png", image_bytes("PNG")), caption="a duck on a pond")
    assert response.status_code == 202
    images = response.json()["images"]
    assert [i["status"] for i in images] == ["queued", "queued"]
    assert images[0]["mime"] == "image/jpeg" and images[1]["mime"] == "image/png"

    ids = [i["id"] for i in images]
    wait_for_status(app_runtime, ids)
    body = client.get(f"/api/images/{ids[0]}").json()
    assert body["status"] == "indexed" and body["indexed_at"] and body["caption"] == "a duck on a pond"

    points = {p.id: p for p in app_runtime.vectors.retrieve(ids)}
    assert set(points) == set(ids)
    dim = app_runtime.embedder.dim
    for point in points.values():
        assert point.vectors[IMAGE].shape == (dim,) and point.vectors[TEXT].shape == (dim,)
        assert point.payload["source"] == "web" and point.payload["caption"] == "a duck on a pond"
    # The stored image vector is the model's embedding of the uploaded picture.
    expected = app_runtime.embedder.embed_images([PILImage.open(io.BytesIO(distinct_jpeg(1))).convert("RGB")])[0]
    assert float(np.dot(points[ids[0]].vectors[IMAGE], expected)) > 0.999
    expected_text = app_runtime.embedder.embed_texts(["a duck on a pond"])[0]
    assert float(np.dot(points[ids[0]].vectors[TEXT], expected_text)) > 0.999


def test_an_image_without_caption_has_no_text_vector_and_its_file_name_is_its_words(client, app_runtime):
    (image,) = upload(client, ("harbour-at-dusk.jpg", distinct_jpeg(2))).json()["images"]
    wait_for_status(app_runtime, [image["id"]])
    (point,) = app_runtime.vectors.retrieve([image["id"]])
    assert set(point.vectors) == {IMAGE, "words"}
    assert image["filename"] == "harbour-at-dusk.jpg" and point.payload["words"] == "harbour at dusk jpg"


def test_exact_duplicate_returns_the_stored_image(client, app_runtime):
    first = upload(client, ("a.jpg", distinct_jpeg(3))).json()["images"][0]
    wait_for_status(app_runtime, [first["id"]])
    again = upload(client, ("renamed.jpg", distinct_jpeg(3))).json()["images"][0]
    assert again["id"] == first["id"] and again["duplicate"] is True and again["status"] == "indexed"
    with app_runtime.session() as session:
        assert len(session.exec(select(Image)).all()) == 1


def test_file_and_thumbnail_are_served_with_cache_headers(client, app_runtime):
    original = image_bytes("PNG", size=(1200, 600))
    (image,) = upload(client, ("big.png", original)).json()["images"]
    response = client.get(f"/api/images/{image['id']}/file")
    assert response.status_code == 200 and response.content == original
    assert response.headers["content-type"] == "image/png"
    etag = response.headers["etag"]
    assert "immutable" in response.headers["cache-control"]
    assert client.get(f"/api/images/{image['id']}/file", headers={"If-None-Match": etag}).status_code == 304

    thumb = client.get(f"/api/images/{image['id']}/thumbnail")
    assert thumb.headers["content-type"] == "image/jpeg"
    assert PILImage.open(io.BytesIO(thumb.content)).size == (384, 192)


def test_delete_removes_row_vectors_and_files(client, app_runtime):
    (image,) = upload(client, ("d.jpg", distinct_jpeg(4))).json()["images"]
    wait_for_status(app_runtime, [image["id"]])
    assert client.delete(f"/api/images/{image['id']}").status_code == 204
    assert client.get(f"/api/images/{image['id']}").status_code == 404
    assert app_runtime.vectors.retrieve([image["id"]]) == []
    assert not app_runtime.files.original_path(image["sha256"]).exists()
    assert not app_runtime.files.thumbnail_path(image["sha256"]).exists()
    assert client.delete(f"/api/images/{image['id']}").status_code == 404


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (b"", 400, "invalid_image"),
        (bytes(range(256)) * 10, 415, "unsupported_media_type"),
        (SVG, 415, "unsupported_media_type"),
        (image_bytes("JPEG", size=(300, 200))[:-300], 400, "invalid_image"),
        (png_claiming_size(100_000, 100_000), 413, "image_too_large"),
    ],
    ids=["empty", "random-bytes", "svg", "truncated-jpeg", "bomb"],
)
def test_bad_files_get_a_clear_error_and_leave_nothing_behind(client, app_runtime, content, status, code):
    response = upload(client, ("photo.jpg", content))
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    with app_runtime.session() as session:
        assert session.exec(select(Image)).all() == []
    assert not any(p.is_file() for p in app_runtime.files.root.rglob("*"))
    assert app_runtime.redis.llen(f"rq:queue:{app_runtime.settings.queue_name}") == 0


def test_oversized_file_is_413(client, app_runtime):
    limit = app_runtime.settings.limits.max_upload_bytes
    response = upload(client, ("huge.jpg", b"\xff\xd8" + b"\0" * limit))
    assert response.status_code == 413 and response.json()["error"]["code"] == "image_too_large"


def test_good_files_are_kept_when_others_in_the_request_are_bad(client, app_runtime):
    response = upload(client, ("ok.jpg", distinct_jpeg(5)), ("bad.jpg", b"not an image at all"))
    assert response.status_code == 202
    body = response.json()
    assert len(body["images"]) == 1
    assert body["rejected"] == [{"filename": "bad.jpg", "error": {"code": "unsupported_media_type", "message": body["rejected"][0]["error"]["message"]}}]
    wait_for_status(app_runtime, [body["images"][0]["id"]])


def test_a_request_of_many_files_keeps_their_order_across_batches(client, app_runtime):
    """More files than one batch stores together: each still gets its own answer, in order."""
    limit = app_runtime.settings.limits.max_upload_bytes
    files = [(f"{i}.jpg", distinct_jpeg(200 + i)) for i in range(BATCH + 8)]
    files[3] = ("bad.jpg", b"not an image at all")
    files[BATCH + 1] = ("huge.jpg", b"\xff\xd8" + b"\0" * limit)
    files[BATCH + 2] = ("again.jpg", files[0][1])  # the first file, in the next batch
    body = upload(client, *files, caption="the offsite").json()

    assert [r["filename"] for r in body["rejected"]] == ["bad.jpg", "huge.jpg"]
    assert [r["error"]["code"] for r in body["rejected"]] == ["unsupported_media_type", "image_too_large"]
    images = body["images"]
    kept = [name for name, _ in files if name not in ("bad.jpg", "huge.jpg")]
    assert [i["filename"] for i in images] == [name if name != "again.jpg" else "0.jpg" for name in kept]
    assert images[0]["id"] == images[BATCH]["id"] and images[BATCH]["duplicate"] is True  # the stored image
    new = [i["id"] for i in images if not i["duplicate"]]
    assert len(new) == BATCH + 5 and all(i["caption"] == "the offsite" for i in images)
    wait_for_status(app_runtime, new)


def test_unknown_image_is_a_404_envelope(client):
    response = client.get("/api/images/999999")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_upload_without_files_is_422_envelope(client):
    response = client.post("/api/images", data={"caption": "nothing"})
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_request"


def test_health_readiness_and_status(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready == {"status": "ready", "images_indexed": 0, "model": ready["model"], "vector_space": 1}
    status = client.get("/api/status").json()  # what is under way: for a user, not a probe
    assert status["ocr"] == {"mode": "off", "read": 0, "skipped": 0, "failed": 0, "waiting": 0}
    assert (status["images_indexed"], status["reindexing_into"], status["slack_history"]) == (0, None, {})


def test_several_images_read_at_once_in_the_order_asked(client, app_runtime):
    ids = [i["id"] for i in upload(client, ("a.jpg", distinct_jpeg(40)), ("b.jpg", distinct_jpeg(41))).json()["images"]]
    wait_for_status(app_runtime, ids)
    asked = [ids[1], 999_999, ids[0], ids[1]]  # unknown ids are left out, repeats answered once
    body = client.get("/api/images", params={"ids": asked}).json()
    assert [(i["id"], i["status"]) for i in body] == [(ids[1], "indexed"), (ids[0], "indexed")]
    assert client.get("/api/images").status_code == 422
    too_many = client.get("/api/images", params={"ids": list(range(1, 102))})
    assert too_many.status_code == 422 and too_many.json()["error"]["code"] == "invalid_request"


def test_times_in_answers_carry_their_zone(client, app_runtime):
    """SQLite hands datetimes back without a zone; every answer says they are UTC."""
    uploaded = client.post("/api/images", files={"files": ("a.jpg", distinct_jpeg(41), "image/jpeg")}).json()
    image_id = uploaded["images"][0]["id"]
    wait_for_status(app_runtime, [image_id])
    client.put(f"/api/images/{image_id}/like")
    client.get("/api/search", params={"q": "anything"})
    times = [client.get(f"/api/images/{image_id}").json()[key] for key in ("created_at", "indexed_at")]
    times += [client.get("/api/me/likes").json()[0]["liked_at"]]
    times += [entry["at"] for entry in client.get("/api/me/history").json()]
    assert len(times) == 5
    for moment in times:
        assert datetime.fromisoformat(moment).utcoffset() == timedelta(0), moment
