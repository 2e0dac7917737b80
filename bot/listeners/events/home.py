"""App Home: the person's feed, recent searches and indexing status, published when they
open the tab (``views.publish``) and again after they act on it."""

from bot.listening import Listening


async def publish_home(listening: Listening, client, team: str, user: str, focus: dict | None = None) -> None:
    view = await listening.run(listening.replies.home, team, user, focus)
    await client.views_publish(user_id=user, view=view)


def opened(listening: Listening):
    async def on_app_home_opened(event, client, context):
        if event.get("tab", "home") == "home":
            await publish_home(listening, client, context.team_id, event["user"])

    return on_app_home_opened
