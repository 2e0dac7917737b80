"""The bot joining a conversation: its earlier images are indexed (a backfill)."""

from bot.listening import Listening


def joined(listening: Listening):
    async def on_member_joined(event, context):
        if event.get("user") == context.bot_user_id:  # someone else joining changes who sees, not what
            await listening.run(listening.replies.joined, context.team_id, event["channel"])

    return on_member_joined
