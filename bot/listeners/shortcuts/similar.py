"""The "Find similar images" message shortcut: the neighbours of the message's image,
privately. An image not indexed yet is queued; the reply says so, and is replaced by the
neighbours once it is indexed (within ``WAIT`` seconds)."""

import asyncio

from bot.listening import Listening

WAIT = 120.0
POLL = 1.0


def handler(listening: Listening):
    async def find_similar(ack, shortcut, respond, context):
        await ack()
        channel, message = shortcut["channel"]["id"], shortcut["message"]
        reply, pending = await listening.run(listening.replies.similar_to_message, context.team_id, context.user_id,
                                             channel, message)
        await respond(response_type="ephemeral", replace_original=False, **reply)
        for _ in range(int(WAIT / POLL) if pending else 0):
            await asyncio.sleep(POLL)
            ready, pending = await listening.run(listening.replies.similar_to_message, context.team_id,
                                                 context.user_id, channel, message, False)
            if not pending:
                await respond(replace_original=True, **ready)
                return

    return find_similar
