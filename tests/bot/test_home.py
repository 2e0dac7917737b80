"""App Home: the feed, recent searches and indexing status, published on opening the tab
and again after a like or a "not interested"."""

import json
from urllib.parse import urlencode

from sqlmodel import select

from core.models import Like, NotInterested
from services.backfill import start_backfill
from tests.bot.conftest import TEAM, _ids, buttons, event, settle, shown_images, signed_post, slash
from tests.bot.test_shortcuts import upload_web_images
from tests.polling import wait_for_status


def published(slack) -> list[dict]:
    views = []
    for call in slack.called("views.publish"):
        view = call.params["view"]
        views.append(json.loads(view) if isinstance(view, str) else view)
    return views


def press_in_home(client, action_id: str, value: str, user: str = "U1"):
    payload = {
        "type": "block_actions", "team": {"id": TEAM, "domain": "test"}, "user": {"id": user, "team_id": TEAM},
        "api_app_id": "A1", "trigger_id": f"trigger-{next(_ids)}",
        "container": {"type": "view", "view_id": "V1"}, "view": {"id": "V1", "type": "home"},
        "actions": [{"type": "button", "action_id": action_id, "block_id": "b", "value": value, "action_ts": "1.0"}],
    }
    response = signed_post(client, urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")
    assert response.status_code == 200, response.text


def open_home(bot, user="U1"):
    event(bot, {"type": "app_home_opened", "user": user, "channel": "D1", "tab": "home"})
    settle(bot)


def test_home_shows_the_feed_recent_searches_and_indexing(bot, slack, bot_runtime):
    ids = upload_web_images(bot, 3)
    wait_for_status(bot_runtime, ids)
    slack.channels["U1"] = ["C1"]
    with bot_runtime.session() as session:
        start_backfill(session, "T1", "C1")
    slash(bot, slack, "harbour at dusk")
    slack.wait_for_responses(1)
    open_home(bot)
    (view,) = published(slack)
    assert view["type"] == "home" and set(shown_images(view)) == set(ids)
    assert buttons(view)["findimage_run_search"] == ["harbour at dusk"]
    assert "Indexing your conversations" in json.dumps(view) and "0 images (indexing)" in json.dumps(view)
    assert slack.called("views.publish")[0].params["user_id"] == "U1"

    press_in_home(bot, "findimage_run_search", "harbour at dusk")
    settle(bot)
    again = published(slack)[-1]
    assert "Images for *harbour at dusk*" in json.dumps(again)
    assert "findimage_share" not in buttons(again)  # nothing to share into from App Home


def test_a_like_or_not_interested_in_home_is_recorded_and_home_published_again(bot, slack, bot_runtime):
    ids = upload_web_images(bot, 3)
    wait_for_status(bot_runtime, ids)
    open_home(bot)
    press_in_home(bot, "findimage_like", str(ids[0]))
    settle(bot)
    press_in_home(bot, "findimage_not_interested", str(ids[1]))
    settle(bot)
    views = published(slack)
    assert len(views) == 3
    assert ids[1] not in shown_images(views[-1])
    with bot_runtime.session() as session:
        assert [like.image_id for like in session.exec(select(Like))] == [ids[0]]
        assert [n.image_id for n in session.exec(select(NotInterested))] == [ids[1]]


def test_a_like_given_elsewhere_refreshes_the_home_of_whoever_uses_it(bot, slack, bot_runtime):
    from tests.bot.test_events import TS, file_share, indexed_slack_image
    from tests.factories import distinct_jpeg

    wait_for_status(bot_runtime, upload_web_images(bot, 2))
    event(bot, file_share(slack.add_file("F7", distinct_jpeg(7))))
    indexed_slack_image(bot_runtime)
    open_home(bot, user="U3")
    assert "New and popular" in json.dumps(published(slack)[-1])
    heart = {"type": "reaction_added", "reaction": "heart", "item": {"type": "message", "channel": "C1", "ts": TS}}
    event(bot, {**heart, "user": "U3"})
    settle(bot)
    refreshed = published(slack)
    assert len(refreshed) == 2 and slack.called("views.publish")[-1].params["user_id"] == "U3"
    assert "Picked for you" in json.dumps(refreshed[-1])  # the like made the feed theirs
    event(bot, {**heart, "user": "U4"})  # U4 never opened the tab: nothing published for them
    settle(bot)
    assert [c.params["user_id"] for c in slack.called("views.publish")] == ["U3", "U3"]
