"""The repost notice: off by default, on per channel, and never about an image the channel
cannot see."""

import io

from PIL import Image as PILImage

from tests.bot.conftest import event, settle, slash
from tests.factories import distinct_jpeg


def reencoded(data: bytes) -> bytes:
    """The same picture saved again: other bytes, the same image to the eye (and to CLIP)."""
    out = io.BytesIO()
    PILImage.open(io.BytesIO(data)).save(out, "JPEG", quality=60)
    return out.getvalue()


def share(bot, slack, file_id: str, data: bytes, channel: str, ts: str, public: bool = True):
    slack.add_file(file_id, data, channel=channel, public=public, ts=ts)
    event(bot, {"type": "message", "subtype": "file_share", "channel": channel,
                "channel_type": "channel" if public else "group", "user": "U1", "text": "look", "ts": ts,
                "files": [{"id": file_id, "mimetype": "image/jpeg"}]})
    settle(bot)


def notices(slack) -> list[dict]:
    return [c.params for c in slack.called("chat.postMessage") if c.params.get("thread_ts")]


def test_a_repost_gets_a_thread_reply_saying_where_it_was_before(bot, slack):
    slash(bot, slack, "reposts on", channel="C1")
    assert "posted before" in slack.wait_for_responses(1)[0]["text"]
    original = distinct_jpeg(1)
    share(bot, slack, "F1", original, "C1", "1700000001.000100")
    assert notices(slack) == []  # the first time is no repost
    share(bot, slack, "F2", reencoded(original), "C1", "1700000002.000100")
    (notice,) = notices(slack)
    assert notice["channel"] == "C1" and notice["thread_ts"] == "1700000002.000100"
    assert "Posted before in <#C1> by <@U1>" in notice["text"] and "archives/C1/p1700000001000100" in notice["text"]


def test_no_notice_where_it_is_off_or_about_an_image_the_channel_cannot_see(bot, slack):
    original = distinct_jpeg(2)
    share(bot, slack, "F3", original, "C3", "1700000003.000100")
    share(bot, slack, "F4", reencoded(original), "C3", "1700000004.000100")  # C3 never asked
    assert notices(slack) == []

    slash(bot, slack, "reposts on", channel="C1")
    secret = distinct_jpeg(3)
    share(bot, slack, "F5", secret, "G1", "1700000005.000100", public=False)
    share(bot, slack, "F6", reencoded(secret), "C1", "1700000006.000100")  # G1's image: C1 may not see it
    assert notices(slack) == []
