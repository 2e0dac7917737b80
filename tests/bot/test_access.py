"""Access follows Slack's: an image from a private channel reaches only that channel's
members, by /findimage, by click and in the feed, in Slack and on the web; public-channel
images reach their workspace; nothing crosses workspaces."""

import numpy as np

from core.accounts import issue_token, slack_user
from core.models import TokenKind
from core.vectors import IMAGE, TEXT, VectorPoint
from services.search import query_vector
from tests.bot.conftest import click, shown_images, slash
from tests.factories import place

CAPTION = "whiteboard sketch of the secret launch plan"
PRIVATE, PUBLIC, OTHER_TEAM, WEB = 1, 2, 3, 4


def unit(x):
    return (x / np.linalg.norm(x)).astype(np.float32)


def place_images(runtime):
    """Four images showing the same thing: from a private channel, a public channel, another
    workspace's public channel and the web; the private one is the closest match."""
    q = query_vector(runtime, CAPTION)
    rng = np.random.default_rng(1)
    where = {
        PRIVATE: {"source": "slack", "team": "T1", "channel": "GPRIV", "public": False},
        PUBLIC: {"source": "slack", "team": "T1", "channel": "C1", "public": True},
        OTHER_TEAM: {"source": "slack", "team": "T2", "channel": "C1", "public": True},
        WEB: {"source": "web"},
    }
    place(runtime, [
        VectorPoint(id=i, vectors={IMAGE: unit(q + 0.05 * i * rng.normal(size=q.shape)), TEXT: q},
                    payload={"caption": CAPTION, **payload})
        for i, payload in where.items()
    ])


def web_headers(runtime, member: str) -> dict:
    with runtime.session() as session:
        return {"Authorization": f"Bearer {issue_token(session, slack_user(session, 'T1', member), TokenKind.api)}"}


def test_private_channel_images_reach_only_its_members(bot, slack, bot_runtime):
    place_images(bot_runtime)
    slack.channels = {"U1": ["C1", "GPRIV"], "U2": ["C1"]}

    # /findimage
    slash(bot, slack, CAPTION, user="U1")
    member = slack.wait_for_responses(1)[0]  # (sent together, the two may be answered in either order)
    slash(bot, slack, CAPTION, user="U2")
    outsider = slack.wait_for_responses(2)[1]
    assert sorted(shown_images(member)) == [PRIVATE, PUBLIC, WEB]
    assert sorted(shown_images(outsider)) == [PUBLIC, WEB]

    # the click flow, in Slack and on the web
    click(bot, slack, "findimage_similar", str(PRIVATE), user="U2")
    assert "not in the search index" in slack.wait_for_responses(3)[2]["text"]
    click(bot, slack, "findimage_similar", str(PUBLIC), user="U2")
    assert sorted(shown_images(slack.wait_for_responses(4)[3])) == [WEB]
    u1, u2 = web_headers(bot_runtime, "U1"), web_headers(bot_runtime, "U2")
    assert bot.get(f"/api/images/{PRIVATE}/similar", headers=u2).status_code == 404
    assert bot.get(f"/api/images/{PRIVATE}/thumbnail", headers=u2).status_code == 404
    assert bot.put(f"/api/images/{PRIVATE}/like", headers=u2).status_code == 404
    similar = bot.get(f"/api/images/{PUBLIC}/similar", headers=u1).json()["results"]
    assert sorted(r["id"] for r in similar) == [PRIVATE, WEB]
    web_search = bot.get("/api/search", params={"q": CAPTION}, headers=u2).json()["results"]
    assert sorted(r["id"] for r in web_search) == [PUBLIC, WEB]

    # the feed: cold start (from the database) and personal (from the vector store)
    assert bot.delete("/api/me/history", headers=u2).status_code == 204  # forget the searches above
    cold = bot.get("/api/feed", headers=u2).json()
    assert not cold["personal"] and sorted(r["id"] for r in cold["results"]) == [PUBLIC, WEB]
    assert bot.delete("/api/me/history", headers=u2).status_code == 204  # and what that feed showed
    assert bot.put(f"/api/images/{WEB}/like", headers=u2).status_code == 200
    personal = bot.get("/api/feed", headers=u2).json()
    assert personal["personal"] and [r["id"] for r in personal["results"]] == [PUBLIC, WEB]  # then what u2 likes
    assert personal["caught_up"]
    assert bot.put(f"/api/images/{WEB}/like", headers=u1).status_code == 200
    assert [r["id"] for r in bot.get("/api/feed", headers=u1).json()["results"]][2:] == [WEB]
    assert sorted(r["id"] for r in bot.get("/api/feed", headers=u1).json()["results"]) == [PRIVATE, PUBLIC, WEB]


def test_membership_is_asked_of_slack_once_per_cache_period(bot, slack, bot_runtime):
    """Also when a member's commands come together: the later ones wait for the first's
    answer instead of asking Slack again (its limit is about 50 calls a minute)."""
    place_images(bot_runtime)
    slack.channels = {"U1": ["C1", "GPRIV"]}
    slack.slow["users.conversations"] = 0.5  # the three searches overlap while Slack answers
    for _ in range(3):
        slash(bot, slack, CAPTION, user="U1")
    slack.wait_for_responses(3)
    assert len(slack.called("users.conversations")) == 1
