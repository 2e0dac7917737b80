"""The bot's listeners, one package per kind of Slack request, each with ``register(app, listening)``."""

from slack_bolt.async_app import AsyncApp

from bot.listeners import actions, commands, events, shortcuts
from bot.listening import Listening


def register(app: AsyncApp, listening: Listening) -> None:
    for kind in (commands, actions, events, shortcuts):
        kind.register(app, listening)
