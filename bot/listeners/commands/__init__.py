"""Slash commands."""

from slack_bolt.async_app import AsyncApp

from bot.listeners.commands import findimage
from bot.listening import Listening


def register(app: AsyncApp, listening: Listening) -> None:
    app.command("/findimage")(listening.reported(findimage.handler(listening)))
