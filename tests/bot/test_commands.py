"""/findimage and its buttons, through signed requests to /slack/events."""

import numpy as np
from sqlmodel import select

from core.models import Like, LikeSource, SearchEvent, User
from core.vectors import IMAGE, VectorPoint
from services.search import query_vector
from tests.bot.conftest import buttons, click, settle, shown_images, slash
from tests.factories import place

QUERY = "a red bicycle against a brick wall"


def unit(x):
    return (x / np.linalg.norm(x)).astype(np.float32)


def place_near_query(runtime, count=12):
    """Web images 1..count, each a step further from the query (so their order is known)."""
    q = query_vector(runtime, QUERY)
    away = unit(np.random.default_rng(0).normal(size=q.shape))
    away = unit(away - (away @ q) * q)
    place(runtime, [VectorPoint(id=i, vectors={IMAGE: unit(q + 0.02 * i * away)}, payload={"source": "web"})
                    for i in range(1, count + 1)])


def test_help_is_a_private_usage_message(bot, slack):
    slash(bot, slack, "")
    (reply,) = slack.wait_for_responses(1)
    assert reply["response_type"] == "ephemeral"
    assert "/findimage a dog on a beach" in reply["text"] and "/findimage feed" in reply["text"]


def test_search_answers_privately_and_pages_by_editing_the_reply(bot, slack, bot_runtime):
    place_near_query(bot_runtime)
    ack = slash(bot, slack, QUERY)
    assert ack.text == ""  # acknowledged at once; the results come on the response URL
    (first,) = slack.wait_for_responses(1)
    assert first["response_type"] == "ephemeral"
    assert shown_images(first) == [1, 2, 3, 4, 5]
    assert "page 1 of 3" in first["blocks"][0]["text"]["text"]
    paging = buttons(first)
    assert "findimage_page_previous" not in paging

    click(bot, slack, "findimage_page_next", paging["findimage_page_next"][0])
    second = slack.wait_for_responses(2)[1]
    assert second["replace_original"] is True  # ephemeral replies are edited through response_url
    assert shown_images(second) == [6, 7, 8, 9, 10]
    click(bot, slack, "findimage_page_previous", buttons(second)["findimage_page_previous"][0])
    assert shown_images(slack.wait_for_responses(3)[2]) == [1, 2, 3, 4, 5]
    with bot_runtime.session() as session:  # the search is in the Slack user's history, once
        user = session.exec(select(User).where(User.slack_user == "U1")).one()
        assert [e.query for e in session.exec(select(SearchEvent).where(SearchEvent.user_id == user.id))] == [QUERY]


def test_like_button_likes_as_the_slack_user_and_more_like_this_shows_neighbours(bot, slack, bot_runtime):
    place_near_query(bot_runtime)
    click(bot, slack, "findimage_like", "3", user="U7")
    (liked,) = slack.wait_for_responses(1)
    assert liked["replace_original"] is False and "Liked image 3" in liked["text"]
    with bot_runtime.session() as session:
        user = session.exec(select(User).where(User.slack_team == "T1", User.slack_user == "U7")).one()
        (like,) = session.exec(select(Like).where(Like.user_id == user.id)).all()
        assert (like.image_id, like.source) == (3, LikeSource.slack)

    click(bot, slack, "findimage_similar", "3", user="U7")
    similar = slack.wait_for_responses(2)[1]
    assert similar["replace_original"] is True
    shown = shown_images(similar)
    assert shown and 3 not in shown and set(shown) <= set(range(1, 13))
    assert shown[:2] == [2, 4] or shown[:2] == [4, 2]  # its closest neighbours first


def test_feed_lists_images_and_hands_a_one_time_web_login_link(bot, slack, bot_runtime):
    place_near_query(bot_runtime, count=4)
    slash(bot, slack, "feed", user="U9")
    (reply,) = slack.wait_for_responses(1)
    assert sorted(shown_images(reply)) == [1, 2, 3, 4]
    link = reply["blocks"][-1]["elements"][0]["text"]
    path = link[link.index("/login/"):link.index("|")]
    login = bot.get(path, follow_redirects=False)
    assert login.status_code == 303
    me = bot.get("/api/me").json()
    assert me["slack_user"] == "U9" and me["slack_team"] == "T1"
    assert bot.get(path, follow_redirects=False).status_code != 303  # used once


def test_an_unknown_image_gets_a_short_private_error(bot, slack):
    click(bot, slack, "findimage_similar", "424242")
    (reply,) = slack.wait_for_responses(1)
    assert reply["response_type"] == "ephemeral" and reply["replace_original"] is False
    assert "not in the search index" in reply["text"]


def test_a_response_url_that_fails_is_logged_and_the_command_still_acknowledged(bot, slack, caplog):
    dead = "http://127.0.0.1:9/response/1"  # nothing listens there: every post to it fails
    ack = slash(bot, slack, "help", response_url=dead)  # slash() asserts Slack got its 200
    assert ack.status_code == 200
    settle(bot)
    assert "Could not tell the Slack user about the error either" in caplog.text
    slash(bot, slack, "help")  # the bot goes on answering
    (reply,) = slack.wait_for_responses(1)
    assert "/findimage feed" in reply["text"]


def test_words_found_are_shown_in_bold_and_a_weak_search_says_so(bot, slack, bot_runtime):
    from core.words import Words

    q = query_vector(bot_runtime, QUERY)
    words = Words(caption="Deploy pipeline failed at stage migrate")
    place(bot_runtime, [VectorPoint(id=1, vectors={IMAGE: q, **words.vectors()},
                                    payload={"source": "web", "caption": words.caption, **words.payload()})])
    slash(bot, slack, "pipeline failed")
    (reply,) = slack.wait_for_responses(1)
    assert shown_images(reply) == [1]
    details = next(b for b in reply["blocks"] if b["type"] == "context")["elements"][0]["text"]
    assert "*pipeline* *failed*" in details
    assert "No strong match" not in reply["blocks"][0]["text"]["text"]  # both words: a strong match

    slash(bot, slack, "zebra")
    weak = slack.wait_for_responses(2)[1]
    assert "No strong match; the closest images are below." in weak["blocks"][0]["text"]["text"]


def test_a_malformed_filter_gets_a_private_reply_that_names_it(bot, slack):
    slash(bot, slack, "chart before:2026-02-31")
    (reply,) = slack.wait_for_responses(1)
    assert reply["response_type"] == "ephemeral" and "before:2026-02-31" in reply["text"]
