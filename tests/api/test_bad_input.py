"""Bad input, case by case: each gets a clear 4xx and leaves no row, file, vector or job
behind; odd but real images (CMYK, 16-bit, animated, 1x1) are accepted and converted."""

import io

import pytest
from PIL import Image as PILImage
from sqlmodel import select

from core.models import Image
from tests.factories import SVG, image_bytes, png_claiming_size
from tests.polling import wait_for_status


def real_bomb() -> bytes:
    """A 100-megapixel one-bit PNG: a few kilobytes that would take gigabytes decoded."""
    out = io.BytesIO()
    PILImage.new("1", (10_000, 10_000)).save(out, "PNG", optimize=True)
    return out.getvalue()


def animated_webp() -> bytes:
    frames = [PILImage.new("RGB", (40, 30), (i * 80, 20, 200 - i * 60)) for i in range(3)]
    out = io.BytesIO()
    frames[0].save(out, "WEBP", save_all=True, append_images=frames[1:], duration=80, loop=0)
    return out.getvalue()


def sixteen_bit_png() -> bytes:
    out = io.BytesIO()
    PILImage.new("I;16", (48, 32), 40_000).save(out, "PNG")
    return out.getvalue()


BAD = {
    "zero-bytes": (b"", 400, "invalid_image"),
    "random-bytes-named-jpg": (bytes(range(256)) * 40, 415, "unsupported_media_type"),
    "truncated-jpeg": (image_bytes("JPEG", size=(300, 200))[:-300], 400, "invalid_image"),
    "truncated-png": (image_bytes("PNG", size=(300, 200), color=(1, 2, 3))[:60], 400, "invalid_image"),
    "png-decompression-bomb": (real_bomb(), 413, "image_too_large"),
    "header-claims-100k-by-100k": (png_claiming_size(100_000, 100_000), 413, "image_too_large"),
    "svg": (SVG, 415, "unsupported_media_type"),
    "html": (b"<!doctype html><html><script>alert(1)</script></html>", 415, "unsupported_media_type"),
    "gif-php-polyglot": (b"GIF89a<?php system($_GET['c']); ?>", 415, "unsupported_media_type"),
}


@pytest.mark.parametrize(("content", "status", "code"), BAD.values(), ids=BAD.keys())
def test_bad_file_gets_a_clear_error_and_leaves_nothing_behind(client, app_runtime, content, status, code):
    response = client.post("/api/images", files={"files": ("photo.jpg", content, "image/jpeg")})
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and len(error["message"]) > 10
    with app_runtime.session() as session:
        assert session.exec(select(Image)).all() == []
    assert not any(p.is_file() for p in app_runtime.files.root.rglob("*"))
    assert app_runtime.redis.llen(f"rq:queue:{app_runtime.settings.queue_name}") == 0
    assert app_runtime.vectors.count() == 0


GOOD = {
    "cmyk-jpeg": (image_bytes("JPEG", mode="CMYK", color=(0, 255, 255, 0)), "image/jpeg"),
    "16-bit-png": (sixteen_bit_png(), "image/png"),
    "animated-webp": (animated_webp(), "image/webp"),
    "1x1-png": (image_bytes("PNG", size=(1, 1)), "image/png"),
}


@pytest.mark.parametrize(("content", "mime"), GOOD.values(), ids=GOOD.keys())
def test_odd_but_real_images_are_accepted_and_converted(client, app_runtime, content, mime):
    response = client.post("/api/images", files={"files": ("odd.bin", content, "application/octet-stream")})
    assert response.status_code == 202, response.text
    image = response.json()["images"][0]
    assert image["mime"] == mime
    wait_for_status(app_runtime, [image["id"]])
    thumbnail = client.get(image["thumbnail_url"])
    assert thumbnail.headers["content-type"] == "image/jpeg"
    assert PILImage.open(io.BytesIO(thumbnail.content)).mode == "RGB"  # converted for the model and browsers
    assert client.get("/api/search", params={"q": "anything"}).json()["results"][0]["id"] == image["id"]


def test_a_real_jpeg_carrying_php_is_only_ever_served_as_an_image(client, app_runtime):
    payload = image_bytes("JPEG") + b"<?php system($_GET['c']); ?><script>alert(1)</script>"
    image = client.post("/api/images", files={"files": ("shell.php", payload, "application/x-php")}).json()["images"][0]
    served = client.get(image["file_url"])
    assert served.headers["content-type"] == "image/jpeg" and served.headers["x-content-type-options"] == "nosniff"
    stored = [p.name for p in app_runtime.files.root.rglob("*") if p.is_file()]
    assert stored and not any("shell" in name or name.endswith(".php") for name in stored)  # named by content


def test_too_many_files_in_one_request(client, app_runtime):
    limit = app_runtime.settings.limits.max_files_per_request
    files = [("files", (f"{i}.png", b"x", "image/png")) for i in range(limit + 1)]
    response = client.post("/api/images", files=files)
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_many_files"


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/search", {"q": "cat", "page": -1}),
        ("/api/search", {"q": "cat", "limit": 100_000}),
        ("/api/search", {"q": "cat", "source": "ftp"}),
        ("/api/search", {"q": "cat", "after": "last tuesday"}),
        ("/api/search", {"q": "cat", "score_threshold": "high"}),
        ("/api/search", {"q": ""}),
        ("/api/search", {"q": "x" * 501}),
        ("/api/feed", {"limit": 0}),
        ("/api/me/history", {"page": 0}),
        ("/api/images/1/similar", {"page": 999}),
        ("/api/images/not-a-number", {}),
    ],
    ids=["negative-page", "huge-limit", "unknown-source", "bad-date", "bad-threshold", "empty-query",
         "long-query", "zero-limit", "page-zero", "page-past-the-end", "id-not-a-number"],
)
def test_bad_query_parameters_are_422_with_a_message(client, path, params):
    response = client.get(path, params=params)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and error["message"]
