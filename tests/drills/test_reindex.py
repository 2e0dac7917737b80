"""Drill: ``findimage reindex`` into another CLIP model while ``findimage serve`` (on the
embedded defaults) takes searches and uploads.

What we promise: no downtime. Every search during the reindex answers 200 with results
(from the old vectors, then the new), uploads during it are taken and end up in the new
space, and the command reports the switch.
"""

import subprocess
import threading
import time

import httpx
import pytest

from tests.drills.conftest import FINDIMAGE, ServeProcess, upload

pytestmark = pytest.mark.slow
IMAGES = 30


def status_when(client: httpx.Client, condition, timeout: float = 60.0) -> dict:
    """Poll ``/api/status`` until ``condition(answer)``; the last answer."""
    deadline = time.monotonic() + timeout
    while not condition(answer := client.get("/api/status").json()):
        assert time.monotonic() < deadline, answer
        time.sleep(0.2)
    return answer


def test_reindex_into_another_model_with_no_downtime(settings, other_model, tmp_path):
    env = {
        "FINDIMAGE_DATA_DIR": str(settings.data_dir),
        "FINDIMAGE_CLIP__MODEL": settings.clip.model,
        "FINDIMAGE_MODELS_DIR": str(settings.models_dir),
        "FINDIMAGE_WORKER__BATCH_SIZE": "4",
        "FINDIMAGE_WORKER__BATCHES_PER_JOB": "1",
    }
    serve = ServeProcess(env, tmp_path / "serve.log").start()
    answers, uploads, stop = [], [], threading.Event()

    def search_and_upload():
        with httpx.Client(base_url=serve.url, timeout=30) as client:
            while not stop.is_set():
                response = client.get("/api/search", params={"q": "a photo"})
                answers.append((response.status_code, len(response.json().get("results", []))))
                if len(answers) % 10 == 0:
                    uploads.append(upload(client, 1000 + len(uploads)).status_code)

    try:
        with httpx.Client(base_url=serve.url, timeout=30) as client:
            for seed in range(IMAGES):
                assert upload(client, seed).status_code == 202
            before = status_when(client, lambda r: r["images_indexed"] == IMAGES)
            thread = threading.Thread(target=search_and_upload)
            thread.start()
            try:
                command = subprocess.run(
                    [str(FINDIMAGE), "reindex", "--model", other_model],
                    env=serve.env, capture_output=True, text=True, timeout=180,
                )
            finally:
                stop.set()
                thread.join(60)
            after = status_when(client, lambda r: r["images_indexed"] == IMAGES + len(uploads))
    finally:
        serve.stop()

    assert command.returncode == 0, command.stdout + command.stderr + (tmp_path / "serve.log").read_text()
    assert "Switched" in command.stderr
    assert before["model"] == settings.clip.model and after["model"] == other_model
    assert after["vector_space"] != before["vector_space"] and after["reindexing_into"] is None
    assert len(answers) >= 20 and uploads and set(uploads) == {202}
    assert all(status == 200 and found > 0 for status, found in answers), answers
