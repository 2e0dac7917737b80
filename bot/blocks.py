"""Block Kit messages: result pages, the feed, usage. Pure functions of what to show.

How an image appears in Slack: one shared in Slack is shown from Slack itself (an
``image`` block with ``slack_file``: no public URL needed); one uploaded on the web needs
a URL Slack can fetch: a signed, expiring thumbnail link when ``public_base_url`` is set,
else a text link to it and no picture.
"""

import json
from dataclasses import dataclass

USAGE = (
    "*findimage* finds your team's images.\n"
    "• `/findimage a dog on a beach`: images that show it, say it (text in screenshots) or were posted with it\n"
    "• Narrow it: `\"exact phrase\"`, `-word`, `in:#channel`, `from:@name`, `after:2026-03-01`, "
    "`before:`, `on:`, `has:text`, `is:liked`\n"
    "• `/findimage feed`: images picked for you from your likes and searches, and a link to the web feed\n"
    "• `/findimage backfill` (workspace admins): index this channel's images from before I joined\n"
    "• `/findimage reposts on` (or `off`): say in a thread when an image posted here was posted before\n"
    "• `/findimage help`: this message\n"
    "Under each result: *Like* (it feeds your taste) and *More like this*. "
    "Reacting to an image message in a channel likes it too."
)

LIKE, SIMILAR, PAGE = "findimage_like", "findimage_similar", "findimage_page"
SHARE = "findimage_share"
HIDE, RUN_SEARCH = "findimage_not_interested", "findimage_run_search"
"""App Home's "Not interested" and "Search again" buttons."""
FIND_SIMILAR = "findimage_find_similar"
"""Callback id of the "Find similar images" message shortcut (the manifest names it)."""
"""Action ids of the buttons (the paging ones get ``_previous``/``_next`` appended: ids
must differ within a block)."""


@dataclass(frozen=True)
class Shown:
    """One image as Slack shows it."""

    id: int
    score: float | None
    caption: str | None
    slack_file_id: str | None
    """Set for an image shared in Slack (shown with a ``slack_file`` block)."""
    image_url: str | None
    """A URL Slack can fetch (a signed link), for an image from elsewhere."""
    web_url: str
    """The image in findimage's web app."""
    note: str | None = None
    """Why it is here (the feed's reason)."""
    snippet: object | None = None
    """Where its words matched (``services.snippets.Snippet``): shown with the words in bold."""


def results_message(title: str, shown: list[Shown], *, previous: dict | None, following: dict | None,
                    query: str | None = None) -> dict:
    """A page of results with Like, More like this and Share under each, and paging buttons
    (``previous``/``following`` are the pages' descriptions, or None). ``query``: what
    was searched, said beside a shared image."""
    blocks: list[dict] = [_section(title)]
    if not shown:
        blocks.append(_section("Nothing found. Try other words, or fewer of them."))
    for item in shown:
        blocks += _image_blocks(item, query)
    paging = [
        _button(label, f"{PAGE}_{which}", json.dumps(target, separators=(",", ":")))
        for label, which, target in (("◀ Previous", "previous", previous), ("Next ▶", "next", following))
        if target is not None
    ]
    if paging:
        blocks.append({"type": "actions", "elements": paging})
    return {"text": title, "blocks": blocks}


def _image_blocks(item: Shown, query: str | None = None) -> list[dict]:
    alt = (item.caption or f"image {item.id}")[:2000]
    details = [f"*{escape(item.caption[:200])}*" if item.caption and not _caption_snippet(item) else f"image {item.id}"]
    if item.snippet is not None:
        details.append(marked(item.snippet.text, item.snippet.marks))
    if item.score is not None:
        details.append(f"score {item.score:.3f}")
    if item.note:
        details.append(escape(item.note))
    details.append(f"<{item.web_url}|open>")
    blocks: list[dict] = []
    if item.slack_file_id:
        blocks.append({"type": "image", "slack_file": {"id": item.slack_file_id}, "alt_text": alt})
    elif item.image_url:
        blocks.append({"type": "image", "image_url": item.image_url, "alt_text": alt})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(details)}]})
    blocks.append({
        "type": "actions",
        "elements": [_button("♥ Like", LIKE, str(item.id)), _button("More like this", SIMILAR, str(item.id)),
                     _button("Share", SHARE, json.dumps({"id": item.id, "q": query}, separators=(",", ":")))],
    })
    return blocks


def _caption_snippet(item: Shown) -> bool:
    return item.snippet is not None and item.snippet.field == "caption"


def marked(text: str, marks: list[tuple[int, int]]) -> str:
    """``text`` as mrkdwn with the marked words in bold (and everything else escaped)."""
    out, at = [], 0
    for start, end in marks:
        out += [escape(text[at:start]), f"*{escape(text[start:end])}*"]
        at = end
    return "".join([*out, escape(text[at:])])


def shared_message(item: Shown, sharer: str, query: str | None) -> dict:
    """An image posted into a conversation by someone, with what they searched."""
    said = f"<@{sharer}> shared an image" + (f" found for *{escape(query)}*" if query else "")
    blocks = _image_blocks(item)[:-1]  # no buttons: they would act for whoever presses them
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"{said} with /findimage"}]})
    return {"text": said, "blocks": blocks}


def home_view(focus: list[dict], feed_title: str, feed: list[Shown], searches: list[str], statuses: list[str]) -> dict:
    """The App Home tab: what the person asked for there (``focus``: a search's or a more
    like this's blocks), their feed with Like, Not interested and More like this, their
    recent searches (press to run again), and how indexing the conversations they are in is
    getting on."""
    blocks: list[dict] = [*focus, *([{"type": "divider"}] if focus else []), _section(f"*{feed_title}*")]
    for item in feed:
        blocks += _image_blocks(item)[:-1]
        blocks.append({"type": "actions", "elements": [
            _button("♥ Like", LIKE, str(item.id)), _button("Not interested", HIDE, str(item.id)),
            _button("More like this", SIMILAR, str(item.id))]})
    if not feed:
        blocks.append(_section("No images yet: share some in a channel I am in."))
    if searches:
        blocks += [{"type": "divider"}, _section("*Your recent searches*"),
                   {"type": "actions", "elements": [_button(q[:75], RUN_SEARCH, q) for q in searches]}]
    if statuses:
        blocks += [{"type": "divider"}, _section("*Indexing your conversations*\n" + "\n".join(statuses))]
    return {"type": "home", "blocks": blocks[:100]}  # Slack's limit for a view


def text_message(text: str) -> dict:
    return {"text": text, "blocks": [_section(text)]}


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def _button(label: str, action_id: str, value: str) -> dict:
    return {"type": "button", "text": {"type": "plain_text", "text": label}, "action_id": action_id, "value": value}


def escape(text: str) -> str:
    """Slack's mrkdwn escapes: a caption cannot turn into a mention or a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
