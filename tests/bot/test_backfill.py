"""A conversation's earlier images: indexed when the bot joins, page by page through its
messages (their text the captions) or Slack's ``files.list``, resumable, never twice."""

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select
from typer.testing import CliRunner

from cli.main import app
from cli.serving import create_app
from core.models import Image, ImageSource, SlackBackfill
from services.backfill import start_backfill
from services.queue import ingest_queue
from tests.bot.conftest import event, settle, slack_settings
from tests.factories import LOOPBACK, distinct_jpeg
from worker import backfill
from worker.backfill import resume_backfills
from worker.context import using_runtime
from worker.runner import Worker


@pytest.fixture
def history_from():
    """``slack.history_from`` for the bot (a test parametrizes it)."""
    return "files"


@pytest.fixture
def bot(settings, slack, history_from):
    with TestClient(create_app(slack_settings(settings, slack, history_from=history_from)), client=LOOPBACK) as client:
        yield client


@pytest.fixture
def history(slack, monkeypatch):
    """25 images posted in C1 before the bot joined (pages of 10: three pages), one file
    that is no image, one image elsewhere."""
    monkeypatch.setattr(backfill, "PAGE", 10)
    for n in range(25):
        slack.add_file(f"F{n}", distinct_jpeg(n), ts=f"{1_700_000_000 + n}.000100")
    slack.add_file("FPDF", b"%PDF-1.4", mimetype="application/pdf")
    slack.add_file("FOTHER", distinct_jpeg(99), channel="C9")
    return slack


def slack_file_ids(runtime) -> list[str]:
    with runtime.session() as session:
        return sorted(session.exec(select(Image.slack_file_id).where(Image.source == ImageSource.slack)))


def test_joining_a_channel_indexes_its_history_once_through_a_429(bot, history, bot_runtime):
    event(bot, {"type": "message", "subtype": "file_share", "channel": "C1", "channel_type": "channel", "user": "U1",
                "text": "seen live first", "ts": "1700000007.000100", "files": [{"id": "F7", "mimetype": "image/jpeg"}]})
    settle(bot)  # F7 came live before the bot was asked for the history: it stays one image
    history.rate_limited["files.list"] = 1  # Slack says "slow down" once, mid-way
    event(bot, {"type": "member_joined_channel", "user": "U5", "channel": "C1", "channel_type": "C"})
    settle(bot)
    assert not history.called("files.list")  # someone else joining changes nothing
    event(bot, {"type": "member_joined_channel", "user": "UBOT", "channel": "C1", "channel_type": "C"})
    settle(bot, timeout=60)
    assert slack_file_ids(bot_runtime) == sorted(f"F{n}" for n in range(25))
    pages = [c.params["page"] for c in history.called("files.list")]
    assert pages == ["1", "1", "2", "3"]  # the first answered 429, then waited out
    assert [c.params["file"] for c in history.called("files.info")] == ["F7"]  # the live share only: pages said enough
    with bot_runtime.session() as session:
        row = session.get(SlackBackfill, ("T1", "C1"))
        assert (row.state, row.seen, row.total, row.queued) == ("done", 25, 25, 24)  # F7 was queued live
        live = session.exec(select(Image).where(Image.slack_file_id == "F7")).one()
        assert live.caption == "seen live first"
    assert bot.get("/api/status").json()["slack_history"] == {"T1/C1": "25 of ~25 images (done)"}
    with bot_runtime.session() as session:
        image = session.exec(select(Image).where(Image.slack_file_id == "F3")).one()
        assert (image.slack_channel, image.slack_ts, image.uploader, image.filename) == (
            "C1", "1700000003.000100", "slack:T1:U1", "photo.jpg")

    # Asked again (the bot re-added), nothing is indexed twice.
    event(bot, {"type": "member_joined_channel", "user": "UBOT", "channel": "C1", "channel_type": "C"})
    settle(bot, timeout=60)
    assert slack_file_ids(bot_runtime) == sorted(f"F{n}" for n in range(25))


def test_a_backfill_stopped_mid_way_goes_on_from_its_page(runtime, history, cli_env, monkeypatch):
    runtime.settings = slack_settings(runtime.settings, history, history_from="files")
    with runtime.session() as session:
        start_backfill(session, "T1", "C1", history_from="files")
    resume_backfills(runtime)
    worker = Worker([ingest_queue(runtime)], connection=runtime.redis)
    with using_runtime(runtime):
        worker.work(burst=True, max_jobs=1)  # page 1, then the worker is gone
    with runtime.session() as session:
        assert session.get(SlackBackfill, ("T1", "C1")).page == 2
    # A new worker: the step it finds queued, or the one resume queues, reads page 2 on.
    assert resume_backfills(runtime) == 1
    with using_runtime(runtime):
        Worker([ingest_queue(runtime)], connection=runtime.redis).work(burst=True)
    assert [c.params["page"] for c in history.called("files.list")] == ["1", "2", "3"]
    assert slack_file_ids(runtime) == sorted(f"F{n}" for n in range(25))

    shown = CliRunner().invoke(app, ["slack", "backfill", "--status"])
    assert shown.exit_code == 0 and "C1: 25 of ~25 images (done)" in shown.output
    followed = CliRunner().invoke(app, ["slack", "backfill", "--status", "--follow"])  # the bars, till done
    assert followed.exit_code == 0 and "25/25" in followed.output and "(done)" in followed.output


def test_a_workspace_admin_asks_for_a_channels_history_others_are_told_no(bot, history, bot_runtime):
    from tests.bot.conftest import slash

    slash(bot, history, "backfill", user="U2", channel="C1")
    (refused,) = history.wait_for_responses(1)
    assert refused["response_type"] == "ephemeral" and "Only workspace admins" in refused["text"]
    assert not history.called("files.list")
    history.admins.add("U3")
    slash(bot, history, "backfill", user="U3", channel="C1")
    accepted = history.wait_for_responses(2)[1]
    assert "Indexing this channel's earlier images" in accepted["text"]
    settle(bot, timeout=60)
    assert slack_file_ids(bot_runtime) == sorted(f"F{n}" for n in range(25))


@pytest.fixture
def conversation(slack, monkeypatch):
    """C2, a private channel, before the bot joined: 22 messages with an image each (pages
    of 10), one a thread whose replies hold two more images (one also sent to the channel),
    a deleted file and a message without files."""
    monkeypatch.setattr(backfill, "HISTORY_PAGE", 10)
    monkeypatch.setattr(backfill, "HELD_PAGE", 3)
    slack.private.add("C2")
    for n in range(22):
        slack.add_file(f"F{n}", distinct_jpeg(n), channel="C2", public=False, ts=f"{1_700_000_000 + n}.000100")
        slack.post("C2", f"{1_700_000_000 + n}.000100", f"message {n}", user=f"U{n % 3}", files=(f"F{n}",))
    slack.post("C2", "1700000030.000100", "which logo do we keep?")
    slack.add_file("FR1", distinct_jpeg(50), channel="C2", public=False, ts="1700000031.000100")
    slack.post("C2", "1700000031.000100", "the revised one", files=("FR1",), thread_ts="1700000030.000100")
    slack.post("C2", "1700000032.000100", "nice", thread_ts="1700000030.000100")
    slack.add_file("FR2", distinct_jpeg(51), channel="C2", public=False, ts="1700000033.000100")
    slack.post("C2", "1700000033.000100", "final", files=("FR2",), thread_ts="1700000030.000100", broadcast=True)
    slack.add_file("FGONE", distinct_jpeg(52), channel="C2", public=False, ts="1700000034.000100")
    slack.post("C2", "1700000034.000100", "oops", files=("FGONE",))["files"][0]["mode"] = "tombstone"
    slack.post("C2", "1700000035.000100", "just words")
    return slack


def captions(runtime) -> dict[str, str | None]:
    with runtime.session() as session:
        return {i.slack_file_id: i.caption for i in session.exec(select(Image).where(Image.source == ImageSource.slack))}


@pytest.mark.parametrize("history_from", ["auto"])
def test_a_history_of_messages_and_threads_gives_its_images_their_words(bot, conversation, bot_runtime):
    conversation.rate_limited["conversations.history"] = 1
    event(bot, {"type": "member_joined_channel", "user": "UBOT", "channel": "C2", "channel_type": "G"})
    settle(bot, timeout=60)
    found = captions(bot_runtime)
    assert sorted(found) == sorted([f"F{n}" for n in range(22)] + ["FR1", "FR2"])  # not the deleted file
    assert found["F4"] == "message 4"
    assert found["FR1"] == "the revised one\nwhich logo do we keep?"  # a reply: its text, then the thread's start
    assert found["FR2"] == "final\nwhich logo do we keep?"  # sent to the channel too: read once, with its thread
    cursors = [c.params.get("cursor") for c in conversation.called("conversations.history")]
    assert cursors == [None, None, "10", "20"]  # a 429 waited out, then three pages of 10
    assert not conversation.called("files.info")  # the messages described their files
    with bot_runtime.session() as session:
        image = session.exec(select(Image).where(Image.slack_file_id == "F4")).one()
        assert (image.slack_channel, image.slack_ts, image.slack_public, image.uploader) == (
            "C2", "1700000004.000100", False, "slack:T1:U1")
        row = session.get(SlackBackfill, ("T1", "C2"))
        assert (row.state, row.source, row.seen, row.total) == ("done", "messages", 24, 25)


@pytest.mark.parametrize("history_from", ["auto"])
def test_an_app_held_to_slacks_lowest_history_limit_reads_the_rest_by_files(bot, conversation, bot_runtime):
    conversation.history_limit = 3  # what Slack gives an app distributed outside its Marketplace
    # The newest image: a reply today to a thread begun long before the messages Slack gives.
    conversation.add_file("FLATE", distinct_jpeg(53), channel="C2", public=False, ts="1700000040.000100")
    conversation.post("C2", "1700000040.000100", "one more", files=("FLATE",), thread_ts="1700000002.000100")
    event(bot, {"type": "member_joined_channel", "user": "UBOT", "channel": "C2", "channel_type": "G"})
    settle(bot, timeout=60)
    found = captions(bot_runtime)
    assert sorted(found) == sorted([f"F{n}" for n in range(22)] + ["FR1", "FR2", "FGONE", "FLATE"])  # no tombstones
    assert len(conversation.called("conversations.history")) == 1  # one call, then files.list
    assert not conversation.called("conversations.replies")
    assert set(found.values()) == {None}  # files.list knows no message text (and the titles are the names)
    with bot_runtime.session() as session:
        row = session.get(SlackBackfill, ("T1", "C2"))
        assert (row.state, row.source, row.seen) == ("done", "files", 26)  # each image counted once


def test_a_reply_posted_live_is_captioned_with_its_thread(bot, slack, bot_runtime):
    slack.post("C1", "1700000100.000100", "moodboard for the spring campaign")
    slack.add_file("FL", distinct_jpeg(7), ts="1700000101.000100")
    event(bot, {"type": "message", "subtype": "file_share", "channel": "C1", "channel_type": "channel", "user": "U1",
                "text": "this one?", "ts": "1700000101.000100", "thread_ts": "1700000100.000100",
                "files": [{"id": "FL", "mimetype": "image/jpeg"}]})
    settle(bot)
    assert captions(bot_runtime)["FL"] == "this one?\nmoodboard for the spring campaign"


def test_a_history_read_from_its_messages_goes_on_from_its_cursor(runtime, conversation, cli_env):
    runtime.settings = slack_settings(runtime.settings, conversation, history_from="messages")
    with runtime.session() as session:
        start_backfill(session, "T1", "C2", history_from="messages")
    resume_backfills(runtime)
    with using_runtime(runtime):
        Worker([ingest_queue(runtime)], connection=runtime.redis).work(burst=True, max_jobs=1)  # one page, then gone
    with runtime.session() as session:
        row = session.get(SlackBackfill, ("T1", "C2"))
        assert (row.source, row.cursor, row.page) == ("messages", "10", 2)
    assert resume_backfills(runtime) == 1
    with using_runtime(runtime):
        Worker([ingest_queue(runtime)], connection=runtime.redis).work(burst=True)
    assert [c.params.get("cursor") for c in conversation.called("conversations.history")] == [None, "10", "20"]
    assert slack_file_ids(runtime) == sorted([f"F{n}" for n in range(22)] + ["FR1", "FR2"])


def test_a_history_since_a_date_takes_the_replies_since_then_to_older_threads(runtime, conversation, cli_env):
    runtime.settings = slack_settings(runtime.settings, conversation, history_from="messages")
    since = datetime.fromtimestamp(1_700_000_031, UTC)  # after the logo thread began, before its replies
    with runtime.session() as session:
        start_backfill(session, "T1", "C2", since=since, history_from="messages")
    resume_backfills(runtime)
    with using_runtime(runtime):
        Worker([ingest_queue(runtime)], connection=runtime.redis).work(burst=True)
    found = captions(runtime)
    assert found == {"FR1": "the revised one\nwhich logo do we keep?", "FR2": "final\nwhich logo do we keep?"}
    with runtime.session() as session:
        row = session.get(SlackBackfill, ("T1", "C2"))
        assert (row.state, row.seen) == ("done", 2)
