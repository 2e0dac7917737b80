"""The Slack bot as ``findimage serve`` runs it (HTTP mode, mounted on the API), talking to
a local fake of Slack, with requests signed as Slack signs them."""

import asyncio
import itertools
import json
import time
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from slack_sdk.signature import SignatureVerifier

from cli.serving import create_app
from core.config import SlackSettings
from tests.factories import LOOPBACK
from tests.fake_slack import FakeSlack
from tests.polling import wait_until_idle

SIGNING_SECRET = "test-signing-secret"
TEAM = "T1"
_ids = itertools.count(1)


@pytest.fixture
def slack():
    fake = FakeSlack(team=TEAM).start()
    yield fake
    fake.stop()


def slack_settings(settings, slack: FakeSlack, **overrides):
    fields = {
        "bot_token": slack.bot_token,
        "signing_secret": SIGNING_SECRET,
        "api_url": f"{slack.url}/api/",
        "file_hosts": [f"127.0.0.1:{slack.port}"],
    }
    return settings.model_copy(update={"slack": SlackSettings(**{**fields, **overrides})})


@pytest.fixture
def bot(settings, slack):
    """A test client of the app with the bot mounted at /slack/events."""
    with TestClient(create_app(slack_settings(settings, slack)), client=LOOPBACK) as client:
        yield client


@pytest.fixture
def bot_runtime(bot):
    return bot.app.state.runtime


def signed_post(client, body: str, content_type: str, *, timestamp: int | None = None, secret=SIGNING_SECRET,
                headers: dict | None = None):
    timestamp = int(time.time()) if timestamp is None else timestamp
    signature = SignatureVerifier(secret).generate_signature(timestamp=str(timestamp), body=body)
    return client.post("/slack/events", content=body, headers={
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": signature,
        **(headers or {}),
    })


def slash(client, slack: FakeSlack, text: str, user: str = "U1", channel: str = "C1", response_url: str | None = None):
    """``/findimage <text>`` as Slack posts it; returns the response URL the bot answers on."""
    response_url = response_url or f"{slack.url}/response/{next(_ids)}"
    body = urlencode({
        "token": "unused", "team_id": TEAM, "team_domain": "test", "channel_id": channel, "user_id": user,
        "user_name": user.lower(), "command": "/findimage", "text": text, "response_url": response_url,
        "trigger_id": f"trigger-{next(_ids)}", "api_app_id": "A1",
    })
    response = signed_post(client, body, "application/x-www-form-urlencoded")
    assert response.status_code == 200, response.text
    return response


def click(client, slack: FakeSlack, action_id: str, value: str, user: str = "U1"):
    """A button press as Slack posts it (``block_actions``)."""
    payload = {
        "type": "block_actions", "team": {"id": TEAM, "domain": "test"},
        "user": {"id": user, "team_id": TEAM}, "api_app_id": "A1", "trigger_id": f"trigger-{next(_ids)}",
        "response_url": f"{slack.url}/response/{next(_ids)}", "container": {"type": "message"},
        "actions": [{"type": "button", "action_id": action_id, "block_id": "b", "value": value,
                     "action_ts": f"{time.time():.6f}"}],
    }
    response = signed_post(client, urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")
    assert response.status_code == 200, response.text
    return response


def event(client, inner: dict, event_id: str | None = None, retry: int | None = None):
    """An Events API callback as Slack posts it (with ``X-Slack-Retry-Num`` when a retry)."""
    body = json.dumps({
        "token": "unused", "team_id": TEAM, "api_app_id": "A1", "type": "event_callback",
        "event_id": event_id or f"Ev{next(_ids)}", "event_time": int(time.time()), "event": inner,
        "authorizations": [{"team_id": TEAM, "user_id": "UBOT", "is_bot": True}],
    })
    headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else None
    response = signed_post(client, body, "application/json", headers=headers)
    assert response.status_code == 200, response.text
    return response


def buttons(message: dict) -> dict[str, list[str]]:
    """action id -> the values of the buttons with it, in order."""
    found: dict[str, list[str]] = {}
    for block in message.get("blocks", []):
        for element in block.get("elements", []) if block["type"] == "actions" else []:
            found.setdefault(element["action_id"], []).append(element["value"])
    return found


def shown_images(message: dict) -> list[int]:
    """The image ids a results message shows (from its Like buttons)."""
    return [int(v) for v in buttons(message).get("findimage_like", [])]


def settle(client, timeout: float = 30.0) -> None:
    """Wait until the bot has finished with every request it acknowledged and the queue
    has run every job they made: then what did not happen will not."""
    # bolt starts a listener as a task after the ack; one turn of the event loop lets every
    # listener started so far take its first step, where it counts itself as at work.
    client.portal.call(asyncio.sleep, 0)
    assert client.app.state.slack_work.wait_idle(timeout), "the bot's listeners were still busy"
    wait_until_idle(client.app.state.runtime, timeout)
