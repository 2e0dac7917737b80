"""Finding an image by the words in it: the real OCR model (rapidocr's PP-OCRv6) reads
rendered screenshots, BM25 indexes the words, and the engine fuses them with CLIP. The CLIP
model is the tiny random one, so whatever is found by words is found by OCR alone."""

import pytest
from fastapi.testclient import TestClient
from rq import Queue
from typer.testing import CliRunner

from cli.main import app
from cli.serving import create_app
from core.config import OcrSettings
from core.models import Image, ImageSource, ImageText, TextStatus
from core.runtime import Runtime
from core.texts import progress
from services.ingest import submit_image
from services.queue import ingest_queue
from services.search import search_text
from tests.factories import LOOPBACK, photo, screenshot
from tests.polling import wait_until_idle, wait_until_read
from worker.context import using_runtime
from worker.indexing import index_images
from worker.ocr import queue_unread, read_image_text
from worker.runner import run_worker

SHOTS = {
    "error": ["Traceback (most recent call last):", "ConnectionRefusedError: port 5432 refused", "worker exited with code 137"],
    "deploy": ["Deploy pipeline failed at stage migrate", "rollback started by release bot"],
    "revenue": ["Quarterly revenue grew 14 percent", "pipeline review on Thursday"],
}


@pytest.fixture(params=["edge", "server"])
def reading(request, settings):
    """The app with OCR on (``all``: every image is read), on each vector backend, with the
    screenshots and two photos uploaded and read."""
    settings = settings.model_copy(update={"ocr": OcrSettings(mode="all")})
    if request.param == "server":
        settings = settings.model_copy(update={"qdrant_url": ":memory:"})
    with TestClient(create_app(settings), client=LOOPBACK) as client:
        ids = {}
        for name, lines in SHOTS.items():
            ids[name] = upload(client, screenshot(lines, dark=name == "error"), f"{name}.png")
        for seed in range(2):
            ids[f"photo{seed}"] = upload(client, photo(seed), f"IMG_{seed}.jpg")
        if request.param == "server":  # a Qdrant server has its workers elsewhere: run one here
            run_worker(client.app.state.runtime, burst=True)
        wait_until_idle(client.app.state.runtime, timeout=120)
        wait_until_read(client.app.state.runtime)
        yield client, ids


def upload(client, data: bytes, name: str) -> int:
    response = client.post("/api/images", files=[("files", (name, data, "image/png"))])
    assert response.status_code == 202, response.text
    return response.json()["images"][0]["id"]


def search(client, q: str, **params) -> dict:
    response = client.get("/api/search", params={"q": q, **params})
    assert response.status_code == 200, response.text
    return response.json()


def test_a_screenshot_is_found_by_two_of_its_words_with_the_words_marked(reading):
    client, ids = reading
    body = search(client, "port refused")
    first = body["results"][0]
    assert first["id"] == ids["error"]
    assert "words" in first["matched"] and first["strong"] and body["strong_count"] >= 1
    snippet = first["snippets"][0]
    assert snippet["field"] == "ocr"
    marked = [snippet["text"][a:b].lower() for a, b in snippet["marks"]]
    assert marked == ["port", "refused"]
    body = search(client, "revenue Thursday")
    assert body["results"][0]["id"] == ids["revenue"]
    snippet = body["results"][0]["snippets"][0]
    assert sorted(snippet["text"][a:b].lower() for a, b in snippet["marks"]) == ["revenue", "thursday"]


def test_a_phrase_must_be_there_word_for_word_and_an_excluded_word_must_not(reading):
    client, ids = reading
    assert [r["id"] for r in search(client, '"pipeline failed"')["results"]] == [ids["deploy"]]
    assert [r["id"] for r in search(client, '"failed pipeline"')["results"]] == []
    both = {r["id"] for r in search(client, "pipeline")["results"] if "words" in r["matched"]}
    assert both == {ids["deploy"], ids["revenue"]}
    without = search(client, "pipeline -rollback")["results"]
    assert ids["deploy"] not in {r["id"] for r in without} and without[0]["id"] == ids["revenue"]


def test_has_text_keeps_what_ocr_read_text_in_and_the_photos_have_none(reading):
    client, ids = reading
    found = {r["id"] for r in search(client, "anything has:text")["results"]}
    assert found == {ids["error"], ids["deploy"], ids["revenue"]}
    with client.app.state.runtime.session() as session:
        photo_text = session.get(ImageText, ids["photo0"])
    assert photo_text.status == TextStatus.read and photo_text.text == ""
    assert client.get("/api/status").json()["ocr"] == {"mode": "all", "read": 5, "skipped": 0, "failed": 0, "waiting": 0}


def test_nothing_strong_is_said_when_no_words_match(reading):
    client, _ = reading
    body = search(client, "zebra giraffe")
    assert body["strong_count"] == 0 and all(not r["strong"] for r in body["results"])
    assert body["results"]  # the closest images still come, below the notice


def test_a_malformed_filter_is_a_422_that_names_it(reading):
    client, _ = reading
    response = client.get("/api/search", params={"q": "revenue before:2026-13-40"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_query" and "before:2026-13-40" in error["message"]


# The stages, driven one at a time (no worker thread) -----------------------------------


@pytest.fixture
def staged(settings, embedder):
    settings = settings.model_copy(update={"ocr": OcrSettings(mode="all")})
    runtime = Runtime.open(settings, embedder=embedder)
    yield runtime
    runtime.close()


def take_in(runtime: Runtime, data: bytes, **fields) -> int:
    image, _ = submit_image(runtime, ingest_queue(runtime), data, source=ImageSource.web, **fields)
    return image.id


def test_a_clip_indexed_image_is_searchable_while_its_ocr_job_waits(staged):
    image_id = take_in(staged, screenshot(SHOTS["deploy"]), caption="release notes")
    index_images(staged, [image_id])
    ocr = Queue(staged.settings.ocr.queue_name, connection=staged.redis)
    assert ocr.get_job_ids() == [f"ocr-{image_id}"]  # read later, from its own queue
    found = search_text(staged, "release notes")
    assert found.results[0].id == image_id and "words" in found.results[0].matched  # its caption already
    assert search_text(staged, '"pipeline failed"').results == []  # its OCR words not yet
    with using_runtime(staged):
        assert read_image_text(image_id) == TextStatus.read
    assert [m.id for m in search_text(staged, '"pipeline failed"').results] == [image_id]


def test_an_ocr_time_out_or_failure_counts_as_no_text_and_the_image_stays_searchable(staged):
    slow = staged.settings.model_copy(update={"ocr": OcrSettings(mode="all", timeout=0.001)})
    staged.settings = slow
    image_id = take_in(staged, screenshot(SHOTS["error"]), caption="the outage")
    index_images(staged, [image_id])
    with using_runtime(staged):
        assert read_image_text(image_id) == TextStatus.failed
    with staged.session() as session:
        row = session.get(ImageText, image_id)
        assert "timed out" in row.error and row.text == ""
    assert search_text(staged, "outage").results[0].id == image_id

    other = take_in(staged, screenshot(SHOTS["revenue"]), caption="board slides")
    index_images(staged, [other])
    with staged.session() as session:
        staged.files.delete(session.get(Image, other).sha256)  # its bytes cannot be read any more
    with using_runtime(staged):
        assert read_image_text(other) == TextStatus.failed
    assert search_text(staged, "board slides").results[0].id == other
    with staged.session() as session:
        assert {session.get(Image, i).status.value for i in (image_id, other)} == {"indexed"}


def test_auto_reads_the_screenshot_and_skips_the_photo(staged, cli_env):
    staged.settings = staged.settings.model_copy(update={"ocr": OcrSettings(mode="auto")})
    shot, picture = take_in(staged, screenshot(SHOTS["revenue"])), take_in(staged, photo(3))
    index_images(staged, [shot, picture])
    with using_runtime(staged):
        assert read_image_text(shot) == TextStatus.read
        assert read_image_text(picture) == TextStatus.skipped
    with staged.session() as session:
        assert progress(session) == {"read": 1, "skipped": 1, "failed": 0, "waiting": 0}
    shown = CliRunner().invoke(app, ["ocr", "--status"])
    assert shown.exit_code == 0 and "1 read, 1 skipped (no text likely), 0 failed or timed out, 0 waiting" in shown.output


def test_ocr_off_queues_nothing(staged):
    staged.settings = staged.settings.model_copy(update={"ocr": OcrSettings(mode="off")})
    image_id = take_in(staged, screenshot(SHOTS["revenue"]))
    index_images(staged, [image_id])
    assert Queue(staged.settings.ocr.queue_name, connection=staged.redis).count == 0


def test_images_indexed_before_ocr_are_queued_for_it_once(staged):
    staged.settings = staged.settings.model_copy(update={"ocr": OcrSettings(mode="off")})
    old = [take_in(staged, screenshot([f"archive {n}"])) for n in range(3)]
    index_images(staged, old)
    staged.settings = staged.settings.model_copy(update={"ocr": OcrSettings(mode="all")})  # the upgrade
    assert queue_unread(staged) == 3
    assert queue_unread(staged) == 0  # they wait on the queue: not queued twice
    assert Queue(staged.settings.ocr.queue_name, connection=staged.redis).get_job_ids() == [f"ocr-{i}" for i in old]
