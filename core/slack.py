"""Slack's Web API as the worker and the API need it: file details, file downloads and
which conversations a member is in. (The bot's listeners use slack-bolt's async client.)

The bot token is sent only to Slack: to ``slack.api_url`` and, for downloads, to the hosts
in ``slack.file_hosts``.
"""

import json
import threading
from urllib.parse import urlsplit

import httpx
import redis
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from core.config import Settings
from core.errors import InvalidImage, ServiceUnavailable

CONVERSATION_TYPES = "public_channel,private_channel,mpim,im"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
_ASKING = [threading.Lock() for _ in range(64)]
"""One look-up of a member's conversations at a time per stripe: a member's commands arriving
together ask Slack once (users.conversations allows about 50 calls a minute), not once each."""


def web_client(settings: Settings, wait_out_limits: bool = True) -> WebClient:
    """A client that retries dropped connections and waits out Slack's rate limits (429 +
    Retry-After) unless told not to (then a 429 raises ``SlackApiError``)."""
    if not settings.slack.enabled:
        raise ServiceUnavailable("Slack is not configured (FINDIMAGE_SLACK__BOT_TOKEN is not set).")
    handlers = [ConnectionErrorRetryHandler()] + ([RateLimitErrorRetryHandler(max_retry_count=3)] if wait_out_limits else [])
    return WebClient(
        token=settings.slack.bot_token.get_secret_value(), base_url=settings.slack.api_url, timeout=30,
        retry_handlers=handlers,
    )


def thread_start(settings: Settings, cache: redis.Redis | None, team: str, channel: str, thread_ts: str) -> str | None:
    """The text of the message that began a thread (a reply's context), cached for an hour.
    ``conversations.replies`` may be held to 1 call a minute (apps outside the Marketplace):
    when Slack says wait, the reply goes without it rather than hold up indexing."""
    key = f"findimage:slack:thread:{team}:{channel}:{thread_ts}"
    cached = _cached(cache, key)
    if cached is not None:
        return cached.decode() or None
    try:
        answer = web_client(settings, wait_out_limits=False).conversations_replies(channel=channel, ts=thread_ts, limit=1)
    except SlackApiError:
        return None  # rate limited, or the thread is gone
    text = next((m.get("text") or "" for m in answer.get("messages", []) if m.get("ts") == thread_ts), "")
    _cache(cache, key, text, 3600)
    return text or None


def is_public_channel(settings: Settings, channel: str) -> bool:
    """Whether the conversation is a public channel (everyone in the workspace may read it)."""
    try:
        info = web_client(settings).conversations_info(channel=channel)["channel"]
    except SlackApiError as exc:
        raise ServiceUnavailable(f"Slack did not describe {channel}: {exc.response.get('error')}") from exc
    return not (info.get("is_private") or info.get("is_im") or info.get("is_mpim"))


def download(settings: Settings, url: str) -> bytes:
    """The bytes of a Slack file's ``url_private``, fetched with the bot token.

    Raises ``InvalidImage`` for a URL off Slack's file hosts, a file over the upload limit or
    an HTML page (what Slack answers a request it does not accept: its login page), and
    ``ServiceUnavailable`` when Slack cannot be reached (the job retries).
    """
    parts = urlsplit(url)
    if parts.hostname not in settings.slack.file_hosts and parts.netloc not in settings.slack.file_hosts:
        raise InvalidImage(f"Refusing to download a Slack file from {parts.netloc!r}: not a Slack file host.")
    if parts.scheme != "https" and parts.hostname not in LOOPBACK:
        raise InvalidImage("Refusing to send the bot token over plain HTTP.")
    limit = settings.limits.max_upload_bytes
    token = settings.slack.bot_token.get_secret_value()
    try:
        with httpx.stream("GET", url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as response:
            if response.status_code != 200:
                raise _download_error(response.status_code)
            if response.headers.get("content-type", "").startswith("text/html"):
                raise InvalidImage("Slack answered with a web page, not the file (is the bot token valid?).")
            data = bytearray()
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) > limit:
                    raise InvalidImage(f"The Slack file is larger than the {limit:,}-byte limit.")
            return bytes(data)
    except httpx.HTTPError as exc:
        raise ServiceUnavailable(f"Could not download the Slack file: {exc}") from exc


def _download_error(status: int) -> Exception:
    if status == 429 or status >= 500:
        return ServiceUnavailable(f"Slack's file host answered {status}; try again later.")
    return InvalidImage(f"Slack's file host refused the download ({status}).")


def channels_of(settings: Settings, cache: redis.Redis | None, team: str, user: str) -> frozenset[str]:
    """The conversations (channels, groups, DMs) the member is in, as far as the bot can
    see, cached for ``slack.membership_ttl`` seconds."""
    return frozenset(conversations_of(settings, cache, team, user))


def channel_named(settings: Settings, cache: redis.Redis | None, team: str, user: str, name: str) -> str | None:
    """The id of the channel called ``name`` (``#design`` or ``design``) among the member's."""
    wanted = name.removeprefix("#").lower()
    return next((id_ for id_, named in conversations_of(settings, cache, team, user).items() if named == wanted), None)


def conversations_of(settings: Settings, cache: redis.Redis | None, team: str, user: str) -> dict[str, str]:
    """The member's conversations: id -> name (lower case; empty for DMs), cached."""
    key = f"findimage:slack:conversations:{team}:{user}"
    cached = _cached(cache, key)
    if cached is not None:
        return json.loads(cached)
    with _ASKING[hash(key) % len(_ASKING)]:
        cached = _cached(cache, key)  # another thread may have asked meanwhile
        if cached is not None:
            return json.loads(cached)
        conversations: dict[str, str] = {}
        try:
            for page in web_client(settings).users_conversations(
                user=user, types=CONVERSATION_TYPES, exclude_archived=False, limit=1000
            ):
                conversations.update({c["id"]: str(c.get("name") or "").lower() for c in page["channels"]})
        except SlackApiError as exc:
            raise ServiceUnavailable(f"Slack did not say which channels you are in: {exc.response.get('error')}") from exc
        if settings.slack.membership_ttl:
            _cache(cache, key, json.dumps(conversations), max(1, int(settings.slack.membership_ttl)))
    return conversations


def _cached(cache: redis.Redis | None, key: str) -> bytes | None:
    """What the cache holds under ``key`` (nothing when Redis is down: Slack is asked)."""
    try:
        return cache.get(key) if cache is not None else None
    except redis.RedisError:
        return None


def _cache(cache: redis.Redis | None, key: str, value: str, ttl: int) -> None:
    try:
        if cache is not None:
            cache.set(key, value, ex=ttl)
    except redis.RedisError:
        pass


def bot_conversations(settings: Settings) -> tuple[str, list[str]]:
    """The bot's team and the channels and groups it is in."""
    client = web_client(settings)
    try:
        me = client.auth_test()
        found = []
        for page in client.users_conversations(user=me["user_id"], types="public_channel,private_channel",
                                               exclude_archived=True, limit=1000):
            found += [c["id"] for c in page["channels"]]
    except SlackApiError as exc:
        raise ServiceUnavailable(f"Slack did not say which channels the bot is in: {exc.response.get('error')}") from exc
    return me["team_id"], found


def is_workspace_admin(settings: Settings, user: str) -> bool:
    """Whether Slack says the member is an admin or owner of the workspace."""
    try:
        info = web_client(settings).users_info(user=user)["user"]
    except SlackApiError as exc:
        raise ServiceUnavailable(f"Slack did not say who you are: {exc.response.get('error')}") from exc
    return bool(info.get("is_admin") or info.get("is_owner"))
