"""The "Find similar images" shortcut on a message with an image, and Share on results."""

import json
from pathlib import Path
from urllib.parse import urlencode

import yaml

from bot.blocks import FIND_SIMILAR
from tests.bot.conftest import TEAM, _ids, buttons, event, settle, shown_images, signed_post, slash
from tests.bot.test_events import file_share, indexed_slack_image
from tests.factories import distinct_jpeg
from tests.polling import wait_for_status


def shortcut(client, slack, message: dict, user: str = "U1", channel: str = "C1"):
    payload = {
        "type": "message_action", "callback_id": FIND_SIMILAR, "trigger_id": f"trigger-{next(_ids)}",
        "team": {"id": TEAM, "domain": "test"}, "user": {"id": user, "team_id": TEAM}, "channel": {"id": channel},
        "message": message, "message_ts": message["ts"], "response_url": f"{slack.url}/response/{next(_ids)}",
        "api_app_id": "A1",
    }
    response = signed_post(client, urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")
    assert response.status_code == 200, response.text


def upload_web_images(bot, count=4) -> list[int]:
    ids = []
    for n in range(count):
        answer = bot.post("/api/images", files=[("files", (f"w{n}.jpg", distinct_jpeg(100 + n), "image/jpeg"))])
        ids.append(answer.json()["images"][0]["id"])
    return ids


def test_on_an_indexed_image_it_answers_privately_with_its_neighbours(bot, slack, bot_runtime):
    others = upload_web_images(bot)
    file = slack.add_file("F1", distinct_jpeg(1))
    message = file_share(file)
    event(bot, message)
    image = indexed_slack_image(bot_runtime)
    wait_for_status(bot_runtime, others)
    shortcut(bot, slack, message)
    (reply,) = slack.wait_for_responses(1)
    assert reply["response_type"] == "ephemeral"
    shown = shown_images(reply)
    assert shown and image.id not in shown and set(shown) <= set(others)


def test_on_an_image_not_indexed_yet_it_queues_it_and_answers_once_it_is(bot, slack, bot_runtime):
    others = upload_web_images(bot)
    wait_for_status(bot_runtime, others)
    file = slack.add_file("F2", distinct_jpeg(2))
    shortcut(bot, slack, file_share(file))
    first, ready = slack.wait_for_responses(2, timeout=60)
    assert "not indexed yet" in first["text"]
    assert ready["replace_original"] is True and set(shown_images(ready)) <= set(others) and shown_images(ready)
    settle(bot)


def test_a_message_without_an_image_says_so(bot, slack):
    shortcut(bot, slack, {"type": "message", "ts": "1.0", "user": "U1", "text": "hello"})
    (reply,) = slack.wait_for_responses(1)
    assert "no image" in reply["text"]


def test_every_shortcut_in_the_manifest_has_a_listener():
    manifest = yaml.safe_load((Path(__file__).parents[2] / "bot" / "manifest.yaml").read_text())
    assert [s["callback_id"] for s in manifest["features"]["shortcuts"]] == [FIND_SIMILAR]


# Share ---------------------------------------------------------------------------------


def press_share(client, slack, value: str, channel: str, user: str = "U1"):
    payload = {
        "type": "block_actions", "team": {"id": TEAM, "domain": "test"}, "user": {"id": user, "team_id": TEAM},
        "api_app_id": "A1", "trigger_id": f"trigger-{next(_ids)}", "channel": {"id": channel},
        "response_url": f"{slack.url}/response/{next(_ids)}",
        "container": {"type": "message", "channel_id": channel, "is_ephemeral": True},
        "actions": [{"type": "button", "action_id": "findimage_share", "block_id": "b", "value": value,
                     "action_ts": "1.0"}],
    }
    response = signed_post(client, urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")
    assert response.status_code == 200, response.text


def share_value(reply: dict, image_id: int) -> str:
    values = buttons(reply)["findimage_share"]
    return next(v for v in values if json.loads(v)["id"] == image_id)


def test_share_posts_a_result_into_the_conversation_with_who_and_what(bot, slack, bot_runtime):
    (image_id,) = upload_web_images(bot, 1)
    wait_for_status(bot_runtime, [image_id])
    slash(bot, slack, "harbour at dusk")
    (results,) = slack.wait_for_responses(1)
    press_share(bot, slack, share_value(results, image_id), channel="C1")
    shared = slack.wait_for_responses(2)[1]
    assert "Shared image" in shared["text"] and shared["response_type"] == "ephemeral"
    (post,) = slack.called("chat.postMessage")
    assert post.params["channel"] == "C1"
    assert "<@U1> shared an image found for *harbour at dusk*" in post.params["text"]


def test_a_private_conversations_image_is_shared_only_back_into_it(bot, slack, bot_runtime):
    slack.channels["U1"] = ["G1"]
    file = slack.add_file("F7", distinct_jpeg(7), channel="G1", public=False)
    event(bot, file_share(file, channel="G1", channel_type="group"))
    image = indexed_slack_image(bot_runtime)
    value = json.dumps({"id": image.id, "q": "offsite"})
    press_share(bot, slack, value, channel="C2")
    refused = slack.wait_for_responses(1)[0]
    assert "private conversation" in refused["text"] and not slack.called("chat.postMessage")
    press_share(bot, slack, value, channel="G1")
    assert "Shared image" in slack.wait_for_responses(2)[1]["text"]
    assert [c.params["channel"] for c in slack.called("chat.postMessage")] == ["G1"]
