"""Browser tests: the app served by uvicorn on loopback (embedded defaults, the tiny
CLIP), driven by Playwright in Debian's Chromium. Each test leaves screenshots in
``$FINDIMAGE_TEST_ARTIFACTS`` (default ``test-artifacts/``)/web/<test>/."""

import io
import os
import re
import shutil
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn
from PIL import Image, ImageDraw
from playwright.sync_api import Browser, Page, sync_playwright

from cli.serving import create_app

CHROMIUM = os.environ.get("FINDIMAGE_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("FINDIMAGE_TEST_ARTIFACTS", "test-artifacts")).resolve() / "web"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def browser() -> Browser:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"No Chromium at {CHROMIUM}: install Debian's chromium package (apt-get install chromium).")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        yield browser
        browser.close()


class LiveServer:
    """findimage as `findimage serve` runs it, on a free loopback port."""

    def __init__(self, settings):
        self.server = uvicorn.Server(uvicorn.Config(create_app(settings), port=0, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.05)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.api = httpx.Client(base_url=self.url, timeout=30)
        return self

    def __exit__(self, *_) -> None:
        self.api.close()
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def upload(self, pictures: dict[str, bytes]) -> list[int]:
        """Upload pictures (caption -> bytes) as the local user; their image ids."""
        ids = []
        for caption, data in pictures.items():
            answer = self.api.post("/api/images", files={"files": ("picture.png", data, "image/png")}, data={"caption": caption})
            answer.raise_for_status()
            ids.append(answer.json()["images"][0]["id"])
        return ids

    def wait_indexed(self, ids: list[int], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            images = self.api.get("/api/images", params={"ids": ids}).json()
            if len(images) == len(ids) and all(image["status"] == "indexed" for image in images):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"not indexed in time: {images}")
            time.sleep(0.1)


@pytest.fixture
def live(settings):
    with LiveServer(settings) as server:
        yield server


@pytest.fixture
def shots(request):
    """shots("step"): a full-page screenshot of ``page`` into this test's artifacts folder."""
    folder = ARTIFACTS / re.sub(r"[^\w.-]+", "_", request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    taken = []

    def shoot(page: Page, step: str) -> Path:
        path = folder / f"{len(taken) + 1:02d}-{step}.png"
        page.screenshot(path=path, full_page=True)
        taken.append(path)
        return path

    return shoot


@pytest.fixture
def page(browser, live, shots, request):
    """A desktop page on the app; it fails the test on any JavaScript error, and is
    photographed at the end whatever happened."""
    context = browser.new_context(viewport=DESKTOP, base_url=live.url)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_default_timeout(15_000)
    yield page
    shots(page, "end")
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


def picture(kind: str, color: tuple[int, int, int], size=(320, 240)) -> bytes:
    """A drawn picture (PNG): a shape of one colour on a pale ground, with some texture
    so that no two pictures share bytes."""
    image = Image.new("RGB", size, (235, 238, 242))
    draw = ImageDraw.Draw(image)
    w, h = size
    for x in range(0, w, 16):
        draw.line([(x, 0), (x + h // 3, h)], fill=tuple(min(255, c // 4 + 180) for c in color), width=2)
    box = (w * 0.25, h * 0.2, w * 0.75, h * 0.8)
    if kind == "circle":
        draw.ellipse(box, fill=color)
    elif kind == "square":
        draw.rectangle(box, fill=color)
    else:
        draw.polygon([(w * 0.5, h * 0.1), (w * 0.85, h * 0.85), (w * 0.15, h * 0.85)], fill=color)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


SHAPES = {
    "a red circle": picture("circle", (220, 40, 40)),
    "a blue square": picture("square", (40, 80, 220)),
    "a green triangle": picture("triangle", (40, 170, 80)),
    "an orange circle": picture("circle", (245, 140, 30)),
    "a purple square": picture("square", (140, 60, 190)),
    "a teal triangle": picture("triangle", (20, 160, 160)),
}
