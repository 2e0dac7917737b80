"""Like, More like this, and Previous/Next (which edit the reply in place)."""

import json

from bot.listening import Listening


def like(listening: Listening):
    async def like_button(ack, action, respond, context):
        await ack()
        message = await listening.run(listening.replies.like, context.team_id, context.user_id, int(action["value"]))
        await respond(response_type="ephemeral", replace_original=False, **message)

    return like_button


def similar(listening: Listening):
    async def similar_button(ack, action, respond, context):
        await ack()
        message = await listening.run(listening.replies.similar, context.team_id, context.user_id, int(action["value"]))
        await respond(replace_original=True, **message)

    return similar_button


def page(listening: Listening):
    async def page_button(ack, action, respond, context):
        await ack()
        message = await listening.run(listening.replies.page, context.team_id, context.user_id, json.loads(action["value"]))
        await respond(replace_original=True, **message)

    return page_button
