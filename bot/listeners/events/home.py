"""App Home: the person's feed, recent searches and indexing status, published when they
open the tab (``views.publish``), again after they act on it, and after a like or an
unlike given elsewhere in Slack (a button or a reaction) by someone who has opened it."""

from bot.listening import Listening


async def publish_home(listening: Listening, client, team: str, user: str, focus: dict | None = None) -> None:
    view = await listening.run(listening.replies.home, team, user, focus)
    await client.views_publish(user_id=user, view=view)


async def refresh_home(listening: Listening, client, team: str, user: str) -> None:
    """Publish the tab again if the person uses it (their feed just changed)."""
    if await listening.run(listening.replies.has_home, team, user):
        await publish_home(listening, client, team, user)


def opened(listening: Listening):
    async def on_app_home_opened(event, client, context):
        if event.get("tab", "home") == "home":
            await listening.run(listening.replies.home_opened, context.team_id, event["user"])
            await publish_home(listening, client, context.team_id, event["user"])

    return on_app_home_opened
