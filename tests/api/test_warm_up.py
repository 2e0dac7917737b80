"""The query model loads as the app starts, so the first searches do not wait for it."""

import time

from fastapi.testclient import TestClient

from cli.serving import create_app
from core.clip.onnx_backend import OnnxEmbedder
from tests.factories import LOOPBACK, distinct_jpeg


def test_the_first_searches_find_the_query_model_loaded(settings, monkeypatch):
    opened = []
    real = OnnxEmbedder._open_session

    def recorded(self, tower, threads):
        opened.append(tower)
        return real(self, tower, threads)

    monkeypatch.setattr(OnnxEmbedder, "_open_session", recorded)
    with TestClient(create_app(settings), client=LOOPBACK) as client:
        deadline = time.monotonic() + 30
        while not {"text", "visual"} <= set(opened):  # no request made yet
            assert time.monotonic() < deadline, f"the query model did not load as the app started: {opened}"
            time.sleep(0.05)
        loaded = len(opened)
        assert client.get("/api/search", params={"q": "a duck"}).status_code == 200
        found = client.post("/api/images/search-similar", files={"image_file": ("q.jpg", distinct_jpeg(3), "image/jpeg")})
        assert found.status_code == 200, found.text
        assert len(opened) == loaded  # both searches ran on what was loaded
