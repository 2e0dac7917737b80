"""Slack events: channel uploads indexed once, reactions as likes, deletions; and the
safety rails: signatures, replays, rate limits, Socket Mode."""

import json
import time
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlmodel import select

from cli.serving import create_app
from core.models import Image, ImageSource, Like, LikeSource, User
from services.queue import ingest_queue
from services.slack_files import queued_mark
from tests.bot.conftest import event, settle, shown_images, signed_post, slack_settings, slash
from tests.factories import LOOPBACK, distinct_jpeg
from tests.polling import wait_for_status

TS = "1700000000.000100"


def file_share(file: dict, text: str = "the team offsite in the mountains", channel="C1", channel_type="channel"):
    return {"type": "message", "subtype": "file_share", "channel": channel, "channel_type": channel_type,
            "user": "U1", "text": text, "ts": TS, "files": [{"id": file["id"], "mimetype": file["mimetype"]}]}


def slack_images(runtime) -> list[Image]:
    with runtime.session() as session:
        return list(session.exec(select(Image).where(Image.source == ImageSource.slack)))


def indexed_slack_image(runtime) -> Image:
    deadline = time.monotonic() + 30
    while not slack_images(runtime):
        assert time.monotonic() < deadline, "the Slack file was never taken in"
        time.sleep(0.05)
    (image,) = slack_images(runtime)
    wait_for_status(runtime, [image.id])
    return image


def test_a_shared_image_is_indexed_with_its_message_and_found_by_findimage(bot, slack, bot_runtime):
    file = slack.add_file("F1", distinct_jpeg(1))
    event(bot, file_share(file))
    image = indexed_slack_image(bot_runtime)
    assert (image.slack_team, image.slack_channel, image.slack_ts, image.slack_file_id) == ("T1", "C1", TS, "F1")
    assert image.slack_public is True and image.caption == "the team offsite in the mountains"
    assert image.uploader == "slack:T1:U1"
    # The download went to Slack's file host with the bot token, and nowhere else.
    (download,) = slack.called("file")
    assert download.headers["Authorization"] == f"Bearer {slack.bot_token}"

    slash(bot, slack, "the team offsite in the mountains", user="U2")
    (reply,) = slack.wait_for_responses(1)
    assert shown_images(reply)[0] == image.id
    assert {"type": "image", "slack_file": {"id": "F1"}, "alt_text": image.caption} in reply["blocks"]


def test_the_same_file_told_twice_and_retried_is_indexed_once(bot, slack, bot_runtime):
    file = slack.add_file("F2", distinct_jpeg(2))
    event(bot, file_share(file), event_id="Ev-share")
    event(bot, file_share(file), event_id="Ev-share", retry=1)  # Slack's retry of the same event
    event(bot, {"type": "file_shared", "file_id": "F2", "user_id": "U1", "channel_id": "C1"})
    indexed_slack_image(bot_runtime)
    settle(bot)  # anything queued twice has run now
    assert len(slack_images(bot_runtime)) == 1
    assert len(slack.called("files.info")) == 1 and len(slack.called("file")) == 1


def test_file_shared_alone_asks_slack_for_the_file(bot, slack, bot_runtime):
    slack.add_file("F3", distinct_jpeg(3), channel="G9", public=False)
    event(bot, {"type": "file_shared", "file_id": "F3", "user_id": "U4", "channel_id": "G9"})
    image = indexed_slack_image(bot_runtime)
    assert (image.slack_channel, image.slack_public, image.slack_ts) == ("G9", False, TS)


def test_non_images_and_slacks_login_page_are_not_indexed(bot, slack, bot_runtime):
    slack.add_file("F4", b"%PDF-1.4 not an image", mimetype="application/pdf")
    event(bot, {"type": "file_shared", "file_id": "F4", "user_id": "U1", "channel_id": "C1"})
    slack.add_file("F5", b"<!DOCTYPE html><html>Sign in</html>")
    slack.blobs["F5/photo.jpg"] = (b"<!DOCTYPE html><html>Sign in</html>", "text/html")  # a 200 with HTML
    event(bot, {"type": "file_shared", "file_id": "F5", "user_id": "U1", "channel_id": "C1"})
    settle(bot)
    assert len(slack.called("files.info")) == 2 and len(slack.called("file")) == 1
    assert slack_images(bot_runtime) == []


def test_a_rate_limited_call_is_retried_after_retry_after(bot, slack, bot_runtime):
    slack.add_file("F6", distinct_jpeg(6))
    slack.rate_limited["files.info"] = 1
    event(bot, {"type": "file_shared", "file_id": "F6", "user_id": "U1", "channel_id": "C1"})
    indexed_slack_image(bot_runtime)
    first, second = slack.called("files.info")  # the 429, then the call made after Retry-After (1 s)
    assert second.at - first.at >= 1.0


def test_a_429_storm_outlasting_the_clients_retries_is_ridden_out_by_the_job_retry(bot, slack, bot_runtime):
    """Slack answers 429 to more calls in a row than the Web API client retries (3), and
    its file host refuses the download too: the job fails, RQ runs it again, and the file
    ends indexed once."""
    slack.add_file("F10", distinct_jpeg(10))
    slack.rate_limited["files.info"] = 5
    slack.rate_limited["file"] = 1
    event(bot, {"type": "file_shared", "file_id": "F10", "user_id": "U1", "channel_id": "C1"})
    image = indexed_slack_image(bot_runtime)
    # Run 1: four 429s. Run 2: a 429, then the file, whose download is refused. Run 3: done.
    assert len(slack.called("files.info")) == 4 + 2 + 1
    assert len(slack.called("file")) == 2
    assert [i.id for i in slack_images(bot_runtime)] == [image.id] and image.attempts == 0


def test_a_file_whose_job_runs_out_of_retries_is_taken_at_slacks_next_event(bot, slack, bot_runtime):
    """A storm outlasting every retry (2 here): the file is not lost for good; the next
    event Slack sends about it (a new share, an edit) queues it again."""
    slack.add_file("F11", distinct_jpeg(11))
    slack.rate_limited["files.info"] = 12  # three runs of four 429s
    shared = {"type": "file_shared", "file_id": "F11", "user_id": "U1", "channel_id": "C1"}
    event(bot, shared, event_id="Ev-first")
    mark = queued_mark("T1", "F11", channel="C1", ts=None)
    slack.wait_for(lambda: len(slack.called("files.info")) == 12, what="every retry")
    deadline = time.monotonic() + 30
    while bot_runtime.redis.exists(mark):
        assert time.monotonic() < deadline, "the failed job kept the file's queued mark"
        time.sleep(0.05)
    assert slack_images(bot_runtime) == []
    event(bot, shared, event_id="Ev-later")
    indexed_slack_image(bot_runtime)


def test_reactions_like_and_unlike_and_a_replayed_event_counts_once(bot, slack, bot_runtime):
    file = slack.add_file("F7", distinct_jpeg(7))
    event(bot, file_share(file))
    image = indexed_slack_image(bot_runtime)
    reaction = {"type": "reaction_added", "user": "U3", "reaction": "heart",
                "item": {"type": "message", "channel": "C1", "ts": TS}, "event_ts": "1"}

    def likes():
        with bot_runtime.session() as session:
            return session.exec(select(Like.image_id, Like.source).join(User).where(User.slack_user == "U3")).all()

    event(bot, reaction, event_id="Ev-heart")
    slack.wait_for(lambda: likes() == [(image.id, LikeSource.slack)], what="the like")
    event(bot, {**reaction, "type": "reaction_removed"}, event_id="Ev-unheart")
    slack.wait_for(lambda: likes() == [], what="the unlike")
    event(bot, reaction, event_id="Ev-heart", retry=2)  # a late retry of the first: already handled
    settle(bot)
    assert likes() == []


def test_deleting_the_file_in_slack_removes_it_from_the_index(bot, slack, bot_runtime):
    file = slack.add_file("F8", distinct_jpeg(8))
    event(bot, file_share(file))
    image = indexed_slack_image(bot_runtime)
    event(bot, {"type": "file_deleted", "file_id": "F8", "event_ts": "2"})
    slack.wait_for(lambda: not slack_images(bot_runtime), what="the deletion")
    assert bot_runtime.vectors.retrieve([image.id]) == []


def test_a_deleted_message_takes_its_images_along(bot, slack, bot_runtime):
    file = slack.add_file("F9", distinct_jpeg(9))
    event(bot, file_share(file))
    indexed_slack_image(bot_runtime)
    event(bot, {"type": "message", "subtype": "message_deleted", "channel": "C1", "deleted_ts": TS,
                "ts": "1700000001.000000", "hidden": True})
    slack.wait_for(lambda: not slack_images(bot_runtime), what="the deletion")


@pytest.mark.parametrize("tamper", ["signature", "timestamp"])
def test_unsigned_or_stale_requests_are_refused(bot, slack, tamper):
    body = "command=/findimage&text=cats&team_id=T1&user_id=U1&response_url=x"
    if tamper == "signature":
        response = signed_post(bot, body, "application/x-www-form-urlencoded", secret="not-the-secret")
    else:
        response = signed_post(bot, body, "application/x-www-form-urlencoded", timestamp=int(time.time()) - 3600)
    assert response.status_code == 401
    assert slack.responses == [] and slack.called("auth.test") == []


def test_socket_mode_round_trip(settings, slack):
    """With an app token the bot dials Slack's websocket: a slash command arrives as an
    envelope, is acknowledged on the socket, and answered on its response URL."""
    slack.envelopes.append({
        "envelope_id": "env-1", "type": "slash_commands", "accepts_response_payload": True,
        "payload": {"team_id": "T1", "user_id": "U1", "channel_id": "C1", "command": "/findimage", "text": "help",
                    "response_url": f"{slack.url}/response/socket", "trigger_id": "t", "api_app_id": "A1"},
    })
    configured = slack_settings(settings, slack, app_token="xapp-test", signing_secret=None)
    with TestClient(create_app(configured), client=LOOPBACK) as client:
        slack.wait_for(lambda: any(a.get("envelope_id") == "env-1" for a in slack.acks), what="the ack")
        (reply,) = slack.wait_for_responses(1)
        assert "/findimage feed" in reply["text"]
        assert client.post("/slack/events", content="{}").status_code in (404, 405)  # no HTTP endpoint
    assert slack.called("apps.connections.open")[0].headers["Authorization"] == "Bearer xapp-test"


def test_without_a_signing_secret_or_app_token_the_bot_stays_off(settings, slack):
    configured = slack_settings(settings, slack, signing_secret=None)
    with TestClient(create_app(configured), client=LOOPBACK) as client:
        body = json.dumps({"type": "url_verification", "challenge": "c"})
        assert client.post("/slack/events", content=body).status_code in (404, 405)


def test_every_event_the_manifest_subscribes_to_has_a_listener(bot, slack):
    """An event without a listener answers 404, which Slack counts against the app."""
    manifest = yaml.safe_load((Path(__file__).parents[2] / "bot" / "manifest.yaml").read_text())
    examples = {
        "message": {"type": "message", "channel": "C1", "user": "U1", "text": "hello", "ts": "1.0"},
        "file_shared": {"type": "file_shared", "file_id": "FNONE", "user_id": "U1", "channel_id": "C1"},
        "file_deleted": {"type": "file_deleted", "file_id": "FNONE", "event_ts": "1"},
        "reaction_added": {"type": "reaction_added", "user": "U1", "reaction": "tada",
                           "item": {"type": "message", "channel": "C1", "ts": "1.0"}},
        "reaction_removed": {"type": "reaction_removed", "user": "U1", "reaction": "tada",
                             "item": {"type": "message", "channel": "C1", "ts": "1.0"}},
        "member_joined_channel": {"type": "member_joined_channel", "user": "U1", "channel": "C1", "channel_type": "C"},
        "app_home_opened": {"type": "app_home_opened", "user": "U1", "channel": "D1", "tab": "home"},
    }
    subscribed = manifest["settings"]["event_subscriptions"]["bot_events"]
    for name in subscribed:
        event(bot, examples[name.split(".")[0]])  # asserts the 200
    assert {n.split(".")[0] for n in subscribed} == set(examples)


MALFORMED = {
    "not-json": ("{not json", "application/json"),
    "json-without-an-event": ('{"type": "event_callback", "team_id": "T1"}', "application/json"),
    "event-of-no-known-type": ('{"type": "event_callback", "team_id": "T1", "event_id": "Ev9", "event": {"type": "x"}}',
                               "application/json"),
    "form-without-a-command": ("token=unused&team_id=T1", "application/x-www-form-urlencoded"),
    "action-payload-not-json": ("payload=%7Bnot%20json", "application/x-www-form-urlencoded"),
    "binary": ("\x00\x01\x02\xff", "application/octet-stream"),
}


@pytest.mark.parametrize(("body", "content_type"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_slack_payloads_do_nothing_and_break_nothing(bot, slack, bot_runtime, body, content_type):
    answer = signed_post(bot, body, content_type)
    assert answer.status_code in (200, 400, 404), answer.text
    assert answer.status_code < 500
    slack_calls = [c for c in slack.calls if not c.method.startswith("auth.")]
    assert slack_calls == []  # nothing was asked of Slack
    assert len(ingest_queue(bot_runtime)) == 0
    slash(bot, slack, "help")  # and the bot still answers
    assert "/findimage feed" in slack.wait_for_responses(1)[0]["text"]
