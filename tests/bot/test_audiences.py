"""An image shared in several conversations is seen by the members of any of them; a
reaction on any of its messages is a like; deleting one share keeps the others."""

from sqlmodel import select

from core.models import Image, Like
from tests.bot.conftest import event, settle, shown_images, slash
from tests.factories import distinct_jpeg
from tests.polling import wait_for_status


def share(bot, slack, file_id: str, channel: str, ts: str, text: str = "the launch poster"):
    event(bot, {"type": "message", "subtype": "file_share", "channel": channel, "channel_type": "group", "user": "U9",
                "text": text, "ts": ts, "files": [{"id": file_id, "mimetype": "image/jpeg"}]})
    settle(bot)


def seen_by(bot, slack, user: str) -> list[int]:
    before = len(slack.responses)
    slash(bot, slack, "the launch poster", user=user)
    return shown_images(slack.wait_for_responses(before + 1)[before])


def test_an_image_shared_in_two_private_channels_follows_both(bot, slack, bot_runtime):
    slack.channels.update({"U1": ["G1"], "U2": ["G2"], "U3": []})
    slack.add_file("F1", distinct_jpeg(1), channel="G1", public=False)
    share(bot, slack, "F1", "G1", "1700000001.000100")
    share(bot, slack, "F1", "G2", "1700000002.000100")  # the same file, shared again
    with bot_runtime.session() as session:
        (image,) = session.exec(select(Image)).all()
    wait_for_status(bot_runtime, [image.id])
    assert seen_by(bot, slack, "U1") == [image.id]
    assert seen_by(bot, slack, "U2") == [image.id]
    assert seen_by(bot, slack, "U3") == []

    event(bot, {"type": "reaction_added", "user": "U2", "reaction": "heart",
                "item": {"type": "message", "channel": "G2", "ts": "1700000002.000100"}})
    settle(bot)
    with bot_runtime.session() as session:
        assert [like.image_id for like in session.exec(select(Like))] == [image.id]

    event(bot, {"type": "message", "subtype": "message_deleted", "channel": "G1", "deleted_ts": "1700000001.000100",
                "ts": "1700000003.000100"})
    settle(bot)
    assert seen_by(bot, slack, "U1") == []  # G1's share is gone, G2's remains
    assert seen_by(bot, slack, "U2") == [image.id]
    event(bot, {"type": "message", "subtype": "message_deleted", "channel": "G2", "deleted_ts": "1700000002.000100",
                "ts": "1700000004.000100"})
    settle(bot)
    with bot_runtime.session() as session:
        assert session.exec(select(Image)).all() == []  # the last share went, and the image with it


def test_a_channel_made_private_keeps_its_images_to_its_members(bot, slack, bot_runtime):
    slack.channels.update({"U1": ["C1"], "U3": []})
    slack.add_file("F2", distinct_jpeg(2), channel="C1", public=True)
    event(bot, {"type": "message", "subtype": "file_share", "channel": "C1", "channel_type": "channel", "user": "U9",
                "text": "the launch poster", "ts": "1700000001.000100", "files": [{"id": "F2", "mimetype": "image/jpeg"}]})
    settle(bot)
    with bot_runtime.session() as session:
        (image,) = session.exec(select(Image)).all()
    wait_for_status(bot_runtime, [image.id])
    assert seen_by(bot, slack, "U3") == [image.id]  # a public channel's image: the whole workspace
    event(bot, {"type": "message", "subtype": "channel_convert_to_private", "channel": "C1", "channel_type": "group",
                "user": "U1", "text": "made this channel *private*.", "ts": "1700000002.000100"})
    settle(bot)
    assert seen_by(bot, slack, "U3") == []
    assert seen_by(bot, slack, "U1") == [image.id]
