"""Each view in the browser: what it shows, its errors, the keyboard, phone width and
the dark scheme. Screenshots of every view at desktop and phone width are saved too
(``make screenshots`` puts them in docs/screenshots for the README)."""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from core.accounts import create_user, issue_token
from core.models import TokenKind
from tests.factories import distinct_jpeg
from tests.web.conftest import DESKTOP, PHONE, SHAPES, LiveServer

SCREENSHOTS = os.environ.get("FINDIMAGE_SCREENSHOTS") and Path(os.environ["FINDIMAGE_SCREENSHOTS"]).resolve()
"""Where to also save the views' screenshots under stable names (the README's)."""


def test_cold_feed_then_infinite_scroll_without_repeats_then_caught_up(page, live):
    ids = live.upload({f"photo {i}": distinct_jpeg(i) for i in range(30)})
    live.wait_indexed(ids)
    page.goto("/#/feed")
    expect(page.get_by_role("status")).to_contain_text("does not know your taste yet")
    tiles = page.get_by_role("list", name="Your feed").locator(".tile")
    expect(tiles).to_have_count(24)
    page.get_by_role("button", name="Show more").scroll_into_view_if_needed()
    expect(tiles).to_have_count(48)  # the 6 fresh ones left, then 18 seen before: it never runs dry
    shown = [int(tile.get_attribute("data-id")) for tile in tiles.all()]
    assert sorted(shown[:30]) == sorted(ids)  # every image once before any comes again
    note = page.get_by_text("You are all caught up")
    expect(note).to_be_visible()
    # The note stands between the last fresh image and the first seen before.
    after = note.locator("xpath=following-sibling::li[contains(@class, 'tile')][1]")
    assert int(after.get_attribute("data-id")) == shown[30]
    expect(page.get_by_text("No images yet")).to_have_count(0)


def test_not_interested_hides_an_image_from_the_feed_with_undo(page, live):
    ids = live.upload({f"photo {i}": distinct_jpeg(i) for i in range(3)})
    live.wait_indexed(ids)
    page.goto("/#/feed")
    tiles = page.get_by_role("list", name="Your feed").locator(".tile")
    expect(tiles).to_have_count(3)
    first = int(tiles.first.get_attribute("data-id"))
    page.get_by_role("button", name=f"Not interested in photo {ids.index(first)}").click()
    expect(page.get_by_text("Hidden: not in your feed again.")).to_be_visible()
    page.get_by_role("button", name="Undo").click()
    expect(page.get_by_text("Hidden: not in your feed again.")).to_have_count(0)
    page.get_by_role("button", name=f"Not interested in photo {ids.index(first)}").click()
    expect(page.get_by_role("button", name="Undo")).to_be_focused()
    page.reload()
    expect(tiles).to_have_count(2)  # seen before, both, and never the hidden one
    assert first not in [int(tile.get_attribute("data-id")) for tile in tiles.all()]


def test_an_empty_library_says_so(page, live):
    page.goto("/#/feed")
    expect(page.get_by_text("No images yet: upload some, or share them in Slack.")).to_be_visible()


def test_search_filters_live_in_the_url(page, live):
    live.wait_indexed(live.upload(dict(list(SHAPES.items())[:3])))
    page.goto("/#/search")
    page.get_by_role("searchbox").fill("circle")
    page.get_by_text("Filters").click()
    page.get_by_label("Source").select_option("slack")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page).to_have_url(re.compile(r"#/search\?q=circle&source=slack"))
    expect(page.get_by_role("status")).to_contain_text("Nothing matches “circle” with these filters")

    page.get_by_label("Source").select_option("web")
    page.get_by_label("Least score").fill("-1")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.get_by_role("list", name="Search results").locator(".tile")).to_have_count(3)
    page.reload()  # the URL alone brings back the same search, filters included
    expect(page.get_by_label("Source")).to_have_value("web")
    expect(page.get_by_role("list", name="Search results").locator(".tile")).to_have_count(3)


def test_search_by_example_image_with_limit_and_threshold(page, live, tmp_path):
    live.wait_indexed(live.upload(SHAPES))
    example = tmp_path / "example.png"
    example.write_bytes(SHAPES["a red circle"])
    page.goto("/#/search")
    page.get_by_label("How many similar images").fill("2")
    page.locator(".example input[type=file]").set_input_files(example)
    tiles = page.get_by_role("list", name="Search results").locator(".tile")
    expect(tiles).to_have_count(2)
    expect(tiles.first.locator(".score")).to_have_text("1.000")  # the same picture is stored
    expect(page.get_by_role("status")).to_contain_text("2 images look like example.png")

    page.get_by_text("Filters").click()
    page.get_by_label("Least score").fill("0.999")
    page.get_by_label("How many similar images").fill("10")
    page.locator(".example input[type=file]").set_input_files(example)
    expect(tiles).to_have_count(1)


def test_api_errors_read_as_messages(page, live, tmp_path):
    page.goto("/#/image/987654")
    expect(page.get_by_role("alert")).to_contain_text("No image with id 987654.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Image not available")

    fake = tmp_path / "notes.jpg"
    fake.write_bytes(b"these are not the pixels you are looking for" * 10)
    page.goto("/#/upload")
    page.locator(".drop input[type=file]").set_input_files(fake)
    page.get_by_role("button", name="Upload").click()
    expect(page.locator(".uploads .state.rejected")).to_contain_text("Rejected:")
    assert live.api.get("/api/feed").json()["results"] == []  # nothing of it was kept

    page.goto("/#/feed")
    page.context.set_offline(True)
    page.get_by_role("link", name="Search").click()
    page.get_by_role("searchbox").fill("anything")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("findimage cannot be reached")
    page.context.set_offline(False)
    page.get_by_role("button", name="Dismiss").click()
    expect(page.get_by_role("alert")).to_be_hidden()


def test_like_from_the_keyboard(page, live):
    live.wait_indexed(live.upload(dict(list(SHAPES.items())[:2])))
    page.goto("/#/search")
    expect(page.get_by_role("searchbox")).to_be_focused()  # the search box has the focus at once
    page.keyboard.type("a blue square")
    page.keyboard.press("Enter")
    expect(page.get_by_role("list", name="Search results").locator(".tile")).to_have_count(2)

    def tab_to(selector: str, limit: int = 30) -> None:
        for _ in range(limit):
            page.keyboard.press("Tab")
            if page.evaluate(f"document.activeElement.matches({selector!r})"):
                return
        raise AssertionError(f"Tab never reached {selector}")

    tab_to(".tile .heart")
    page.keyboard.press("Space")
    expect(page.locator(".tile .heart").first).to_have_attribute("aria-pressed", "true")
    tab_to(".tile a.thumb")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#/image/\d+$"))
    assert len(live.api.get("/api/me/likes").json()) == 1


def test_dark_scheme_is_readable(browser, live):
    context = browser.new_context(viewport=DESKTOP, base_url=live.url, color_scheme="dark")
    page = context.new_page()
    page.goto("/#/search")
    colours = page.evaluate("""() => {
        const rgb = (c) => c.match(/\\d+/g).slice(0, 3).map(Number);
        const style = (s) => getComputedStyle(document.querySelector(s));
        return { body: rgb(style('body').backgroundColor), text: rgb(style('body').color),
                 input: rgb(style('input[type=search]').color) };
    }""")
    context.close()
    assert contrast(colours["text"], colours["body"]) >= 7  # WCAG AAA for body text
    assert contrast(colours["input"], colours["body"]) >= 4.5
    assert luminance(colours["body"]) < 0.05


VIEWS = {
    "search": "/#/search?q=circle",
    "image": "/#/image/{first}",
    "feed": "/#/feed",
    "upload": "/#/upload",
    "history": "/#/history",
}


@pytest.mark.parametrize("width", ["desktop", "phone"])
def test_every_view_fits_and_is_photographed(browser, live, shots, width, tmp_path):
    ids = live.upload(SHAPES)
    live.wait_indexed(ids)
    live.api.put(f"/api/images/{ids[0]}/like")
    live.api.get("/api/search", params={"q": "circle"})
    context = browser.new_context(viewport=DESKTOP if width == "desktop" else PHONE, base_url=live.url)
    page = context.new_page()
    for name, url in VIEWS.items():
        page.goto(url.format(first=ids[0]))
        if name == "upload":
            files = [tmp_path / "harbour.png", tmp_path / "notes.jpg"]
            files[0].write_bytes(SHAPES["a teal triangle"])
            files[1].write_bytes(b"not an image")
            page.locator(".drop input[type=file]").set_input_files(files)
            page.get_by_label("Caption for harbour.png").fill("the harbour at dusk")
            page.get_by_role("button", name="Upload 2 images").click()
            expect(page.locator(".uploads .state.indexed")).to_have_count(1, timeout=60_000)
            expect(page.locator(".uploads .state.rejected")).to_contain_text("Rejected:")
        else:
            expect(page.locator(".tile, .history li").first).to_be_visible()
        page.wait_for_load_state("networkidle")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} is {overflow}px wider than a {width} screen"
        path = shots(page, name)
        if SCREENSHOTS:
            Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
            Path(SCREENSHOTS, f"{name}-{width}.png").write_bytes(path.read_bytes())
    context.close()


def luminance(rgb) -> float:
    def linear(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a, b) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_signing_in_with_a_login_link(browser, settings, shots):
    with LiveServer(settings.model_copy(update={"login_required": True})) as server:
        runtime = server.server.config.app.state.runtime
        with runtime.session() as session:
            link = f"/login/{issue_token(session, create_user(session, 'ana'), TokenKind.login)}"
        context = browser.new_context(viewport=DESKTOP, base_url=server.url)
        page = context.new_page()
        page.goto("/#/feed")  # not signed in: the page says how to sign in
        expect(page.get_by_role("alert")).to_contain_text("Log in first")
        expect(page.get_by_role("alert")).to_contain_text("/findimage feed")
        shots(page, "signed-out")
        page.goto(link)
        expect(page).to_have_url(re.compile(r"#/feed$"))
        expect(page.locator("#me")).to_have_text("ana")
        expect(page.get_by_role("alert")).to_be_hidden()
        expect(page.get_by_role("status")).to_contain_text("No images yet")
        context.close()
