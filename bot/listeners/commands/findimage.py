"""``/findimage <words>``, ``/findimage feed`` and ``/findimage help``: answered privately."""

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
        else:
            query = text[:500]
            await respond(response_type="ephemeral", **await run(replies.search, context.team_id, context.user_id, query))

    return findimage
