"""Text in images, in the browser: a screenshot found by its words with them highlighted,
and the filter panel writing the query language into the box."""

import os
import re
import time
from pathlib import Path

from playwright.sync_api import expect

from core.config import OcrSettings
from tests.factories import photo, screenshot
from tests.web.conftest import DESKTOP, LiveServer

SCREENSHOTS = os.environ.get("FINDIMAGE_SCREENSHOTS") and Path(os.environ["FINDIMAGE_SCREENSHOTS"]).resolve()


def wait_read(server: LiveServer, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while (ocr := server.api.get("/api/status").json()["ocr"])["waiting"]:
        assert time.monotonic() < deadline, f"OCR did not finish: {ocr}"
        time.sleep(0.2)


def test_a_screenshot_is_found_by_its_words_and_they_are_highlighted(browser, settings, shots):
    with LiveServer(settings.model_copy(update={"ocr": OcrSettings(mode="auto")})) as server:
        server.wait_indexed(server.upload({
            "": screenshot(["Quarterly revenue grew 14 percent", "pipeline review on Thursday"]),
            "team offsite": photo(1),
            "the build log": screenshot(["error: worker exited with code 137", "retrying in 30 s"], dark=True),
        }))
        wait_read(server)
        context = browser.new_context(viewport=DESKTOP, base_url=server.url)
        page = context.new_page()
        page.goto("/#/search")
        page.get_by_role("searchbox").fill("revenue thursday")
        page.get_by_text("Filters").click()
        page.get_by_label("Has text").check()
        expect(page.get_by_role("searchbox")).to_have_value("revenue thursday has:text")  # the panel writes the syntax
        page.get_by_role("button", name="Search", exact=True).click()
        expect(page).to_have_url(re.compile(r"q=revenue\+thursday\+has%3Atext"))
        results = page.get_by_role("list", name="Search results").locator(".tile")
        expect(results).to_have_count(2)  # the photo has no text
        first = results.first
        expect(first.locator("mark")).to_have_text(["revenue", "Thursday"])
        expect(first.locator(".strong")).to_be_visible()
        expect(first.locator("img")).to_have_css("object-fit", "contain")  # 16:10: its lines are not cropped
        expect(page.get_by_role("status")).to_contain_text("1 strong match")
        path = shots(page, "search-text")
        if SCREENSHOTS:
            Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
            Path(SCREENSHOTS, "search-text-desktop.png").write_bytes(path.read_bytes())

        page.get_by_role("searchbox").fill("giraffe")
        page.get_by_role("button", name="Search", exact=True).click()
        expect(page.get_by_role("status")).to_contain_text("No strong match for “giraffe”; the closest images are below.")
        expect(page.locator(".tile", has_text="team offsite").locator("img")).to_have_css("object-fit", "cover")  # 4:3
        context.close()
