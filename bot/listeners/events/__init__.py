"""Events Slack sends about the conversations the bot is in."""

from slack_bolt.async_app import AsyncApp

from bot.listeners.events import files, home, members, reactions
from bot.listening import Listening


def register(app: AsyncApp, listening: Listening) -> None:
    app.event("message")(listening.reported(files.message(listening)))
    app.event("file_shared")(listening.reported(files.file_shared(listening)))
    app.event("file_deleted")(listening.reported(files.file_deleted(listening)))
    app.event("reaction_added")(listening.reported(reactions.handler(listening, added=True)))
    app.event("reaction_removed")(listening.reported(reactions.handler(listening, added=False)))
    app.event("member_joined_channel")(listening.reported(members.joined(listening)))
    app.event("app_home_opened")(listening.reported(home.opened(listening)))
