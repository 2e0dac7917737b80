"""A reaction on an indexed image's message is a like by whoever reacted; removing it unlikes."""

from bot.listeners.events.home import refresh_home
from bot.listening import Listening


def handler(listening: Listening, added: bool):
    wanted = listening.slack.like_reactions

    async def on_reaction(event, client, context):
        item = event.get("item", {})
        if item.get("type") != "message" or (wanted and event["reaction"].split("::")[0] not in wanted):
            return
        liked = await listening.run(listening.replies.reaction, context.team_id, event["user"], item["channel"], item["ts"], added)
        if liked:
            await refresh_home(listening, client, context.team_id, event["user"])

    on_reaction.__name__ = "reaction_added" if added else "reaction_removed"
    return on_reaction
