"""Buttons on the bot's replies."""

import re

from slack_bolt.async_app import AsyncApp

from bot.blocks import HIDE, LIKE, PAGE, RUN_SEARCH, SHARE, SIMILAR
from bot.listeners.actions import buttons
from bot.listening import Listening


def register(app: AsyncApp, listening: Listening) -> None:
    app.action(LIKE)(listening.reported(buttons.like(listening)))
    app.action(SIMILAR)(listening.reported(buttons.similar(listening)))
    app.action(SHARE)(listening.reported(buttons.share(listening)))
    app.action(HIDE)(listening.reported(buttons.hide(listening)))
    app.action(RUN_SEARCH)(listening.reported(buttons.run_search(listening)))
    app.action(re.compile(f"^{PAGE}_"))(listening.reported(buttons.page(listening)))
