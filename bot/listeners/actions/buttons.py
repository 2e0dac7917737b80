"""Like, More like this, Share (posts the image into the conversation), and Previous/Next
(which edit the reply in place)."""

import json

from bot.listeners.events.home import publish_home, refresh_home
from bot.listening import Listening


def like(listening: Listening):
    async def like_button(ack, action, body, respond, client, context):
        await ack()
        message = await listening.run(listening.replies.like, context.team_id, context.user_id, int(action["value"]))
        if in_home(body):
            await publish_home(listening, client, context.team_id, context.user_id)
        else:
            await respond(response_type="ephemeral", replace_original=False, **message)
            await refresh_home(listening, client, context.team_id, context.user_id)

    return like_button


def similar(listening: Listening):
    async def similar_button(ack, action, body, respond, client, context):
        await ack()
        if in_home(body):
            return await publish_home(listening, client, context.team_id, context.user_id, {"similar": int(action["value"])})
        message = await listening.run(listening.replies.similar, context.team_id, context.user_id, int(action["value"]))
        await respond(replace_original=True, **message)

    return similar_button


def hide(listening: Listening):
    """App Home's "Not interested": the image leaves the feed, which is published again."""

    async def hide_button(ack, action, client, context):
        await ack()
        await listening.run(listening.replies.hide, context.team_id, context.user_id, int(action["value"]))
        await publish_home(listening, client, context.team_id, context.user_id)

    return hide_button


def run_search(listening: Listening):
    """App Home's recent searches: run one again, its results on top of the tab."""

    async def run_search_button(ack, action, client, context):
        await ack()
        await publish_home(listening, client, context.team_id, context.user_id, {"q": action["value"]})

    return run_search_button


def in_home(body: dict) -> bool:
    return (body.get("container") or {}).get("type") == "view"


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
