"""A user's whole visit, in a real browser: upload two images, see them indexed, find
them by text, open one and its similar images, like it, get a feed that follows the
like, see the search in the history, and clear it."""

import re

from playwright.sync_api import expect

from tests.web.conftest import SHAPES


def test_upload_search_click_like_feed_history(page, live, shots, tmp_path):
    others = live.upload({caption: data for caption, data in list(SHAPES.items())[2:]})
    live.wait_indexed(others)

    # Upload two images, each with its caption, and watch them get indexed.
    page.goto("/#/upload")
    files = []
    for name, caption in (("red.png", "a red circle"), ("blue.png", "a blue square")):
        files.append(tmp_path / name)
        files[-1].write_bytes(SHAPES[caption])
    page.locator(".drop input[type=file]").set_input_files(files)
    page.get_by_label("Caption for red.png").fill("a red circle")
    page.get_by_label("Caption for blue.png").fill("a blue square")
    shots(page, "upload-chosen")
    page.get_by_role("button", name="Upload 2 images").click()
    indexed = page.locator(".uploads .state.indexed")
    expect(indexed).to_have_count(2, timeout=60_000)
    expect(page.get_by_role("status")).to_contain_text("2 indexed")
    uploaded = [int(link.get_attribute("href").rsplit("/", 1)[1]) for link in indexed.locator("a").all()]
    assert live.api.get("/api/images", params={"ids": uploaded}).json()[0]["caption"] in ("a red circle", "a blue square")
    shots(page, "upload-indexed")

    # Search by text: both new images are among the results.
    page.get_by_role("link", name="Search").click()
    page.get_by_role("searchbox").fill("a red circle")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#/search\?q=a\+red\+circle"))
    results = page.get_by_role("list", name="Search results").locator(".tile")
    expect(results).to_have_count(6)
    found = [int(tile.get_attribute("data-id")) for tile in results.all()]
    assert set(uploaded) <= set(found)
    expect(page.get_by_role("status")).to_contain_text("strong match for “a red circle”")  # its caption holds every word
    shots(page, "search")

    # Click the red circle: its page, then more like it; Back returns to the results.
    page.get_by_role("link", name="a red circle").first.click()
    expect(page).to_have_url(re.compile(r"#/image/\d+$"))
    red = int(page.url.rsplit("/", 1)[1])
    expect(page.get_by_role("heading", level=1)).to_have_text("a red circle")
    similar = page.get_by_role("list", name="Similar images").locator(".tile")
    expect(similar.first).to_be_visible()
    assert red not in [int(tile.get_attribute("data-id")) for tile in similar.all()]
    shots(page, "image")

    # Like it: the heart fills at once, and stays filled after a reload (it was saved).
    heart = page.locator(".toolbar .heart")
    expect(heart).to_have_attribute("aria-pressed", "false")
    heart.click()
    expect(heart).to_have_attribute("aria-pressed", "true")
    page.reload()
    expect(page.locator(".toolbar .heart")).to_have_attribute("aria-pressed", "true")
    assert [like["id"] for like in live.api.get("/api/me/likes").json()] == [red]

    page.go_back()
    expect(page).to_have_url(re.compile(r"#/search\?q=a\+red\+circle"))
    expect(results).to_have_count(6)

    # The feed follows the like: personal, each image with its reason, the liked one left out
    # of the fresh images (with 6 images, the page goes on past "caught up" to the liked one).
    page.get_by_role("link", name="Feed").click()
    expect(page.get_by_role("status")).to_contain_text("Picked for you")
    feed = page.get_by_role("list", name="Your feed").locator("li")
    expect(page.get_by_text("You are all caught up")).to_be_visible()
    entries = [item.get_attribute("data-id") for item in feed.all()]
    fresh = [int(i) for i in entries[: entries.index(None)]]  # the tiles before the note (which has no id)
    assert len(fresh) == 5 and red not in fresh
    expect(page.locator(".reason").filter(has_text="because you liked “a red circle”").first).to_be_visible()
    shots(page, "feed")

    # History lists the search, the click and the like; clearing it empties it for good.
    page.get_by_role("link", name="History").click()
    history = page.get_by_role("list", name="Your history").locator("li")
    expect(history.filter(has_text="Searched “a red circle”").first).to_be_visible()  # twice: Back searched again
    expect(history.filter(has_text="Liked")).to_have_count(1)
    expect(history.filter(has_text="Looked for more like").first).to_be_visible()  # the reload looked again
    shots(page, "history")
    page.get_by_role("button", name="Clear history").click()
    page.get_by_role("button", name="Yes, clear it").click()
    expect(page.get_by_role("status")).to_contain_text("Your history is cleared")
    expect(history).to_have_count(0)
    page.reload()
    expect(page.get_by_role("status")).to_contain_text("Nothing here yet")
    assert live.api.get("/api/me/history").json() == []
