"""``/findimage <words>``, ``/findimage feed``, ``/findimage backfill`` (admins) and
``/findimage help``: answered privately."""

from bot.blocks import USAGE, text_message
from bot.listening import Listening


def handler(listening: Listening):
    replies, run = listening.replies, listening.run

    async def findimage(ack, command, respond, context):
        await ack()
        text = " ".join(command.get("text", "").split())
        if text.lower() in ("", "help"):
            await respond(response_type="ephemeral", **text_message(USAGE))
        elif text.lower() == "feed":
            await respond(response_type="ephemeral", **await run(replies.feed, context.team_id, context.user_id))
        elif text.lower() in ("reposts on", "reposts off"):
            message = await run(replies.reposts, context.team_id, context.user_id, command["channel_id"],
                                text.lower().endswith("on"))
            await respond(response_type="ephemeral", **message)
        elif text.lower() == "backfill":
            message = await run(replies.backfill, context.team_id, context.user_id, command["channel_id"])
            await respond(response_type="ephemeral", **message)
        else:
            query = text[:500]
            await respond(response_type="ephemeral", **await run(replies.search, context.team_id, context.user_id, query))

    return findimage
