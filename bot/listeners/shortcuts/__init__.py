"""Shortcuts on messages: "Find similar images"."""

from slack_bolt.async_app import AsyncApp

from bot.blocks import FIND_SIMILAR
from bot.listeners.shortcuts import similar
from bot.listening import Listening


def register(app: AsyncApp, listening: Listening) -> None:
    app.message_shortcut(FIND_SIMILAR)(listening.reported(similar.handler(listening)))
