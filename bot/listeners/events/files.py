"""Images shared in a conversation are queued for indexing; deleted ones are forgotten."""

import logging

from bot.listening import Listening
from core.runtime import Runtime
from services.queue import ingest_queue
from services.slack_files import queue_slack_file

log = logging.getLogger(__name__)


def message(listening: Listening):
    async def on_message(event, context):
        subtype = event.get("subtype")
        if subtype == "message_deleted":
            await listening.run(listening.replies.forget_message, context.team_id, event["channel"], event["deleted_ts"])
            return
        if subtype in ("channel_convert_to_private", "channel_convert_to_public"):
            await listening.run(listening.replies.channel_privacy, context.team_id, event["channel"],
                                subtype.endswith("public"))
            return
        if subtype not in (None, "file_share", "thread_broadcast"):
            return  # edits, joins, bot messages...: nothing to do
        for file in event.get("files", []):
            if str(file.get("mimetype", "")).startswith("image/"):
                await listening.run(
                    _queue_file, listening.runtime_of(), context.team_id, file["id"],
                    {"channel": event.get("channel"), "channel_type": event.get("channel_type"), "ts": event.get("ts"),
                     "user": event.get("user"), "text": event.get("text") or None,
                     "thread_ts": event.get("thread_ts")},
                )

    return on_message


def file_shared(listening: Listening):
    async def on_file_shared(event, context):
        context_fields = {"channel": event.get("channel_id"), "user": event.get("user_id")}
        await listening.run(_queue_file, listening.runtime_of(), context.team_id, event["file_id"], context_fields)

    return on_file_shared


def file_deleted(listening: Listening):
    async def on_file_deleted(event, context):
        await listening.run(listening.replies.forget_file, context.team_id, event["file_id"])

    return on_file_deleted


def _queue_file(runtime: Runtime, team: str, file_id: str, context: dict) -> None:
    if queue_slack_file(runtime, ingest_queue(runtime), team, file_id, **context):
        log.info("Slack file %s queued for indexing", file_id)
