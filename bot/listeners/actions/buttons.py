"""Like, More like this, Share (posts the image into the conversation), and Previous/Next
(which edit the reply in place)."""

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


def share(listening: Listening):
    async def share_button(ack, action, body, respond, context):
        await ack()
        target = json.loads(action["value"])
        channel = (body.get("channel") or {}).get("id") or body.get("container", {}).get("channel_id")
        message = await listening.run(listening.replies.share, context.team_id, context.user_id, channel,
                                      int(target["id"]), target.get("q"))
        await respond(response_type="ephemeral", replace_original=False, **message)

    return share_button


def page(listening: Listening):
    async def page_button(ack, action, respond, context):
        await ack()
        message = await listening.run(listening.replies.page, context.team_id, context.user_id, json.loads(action["value"]))
        await respond(replace_original=True, **message)

    return page_button
