"""A small local server that plays Slack for the bot's tests (Slack lives outside our
walls; this is the only thing faked). It records every call with its headers, and:

- answers the Web API (``/api/<method>``): auth.test, files.info, files.list, users.conversations,
  conversations.members, .info, .history and .replies, chat.*, views.*, apps.connections.open;
  answers 429 with a Retry-After for a method told to be rate limited;
- serves files at their ``url_private`` only to the bot token (else, like Slack, a 200 with
  its HTML login page);
- takes ``response_url`` posts (``/response/<n>``);
- runs the Socket Mode websocket (``/socket``): says hello, sends the envelopes it is
  given, and keeps the acks it gets back.
"""

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web

LOGIN_PAGE = b"<!DOCTYPE html><html><body>Sign in to Slack</body></html>"


@dataclass
class Call:
    method: str
    headers: dict
    params: dict
    at: float = field(default_factory=time.monotonic)
    answered: bool = False
    """Counted against its method's limit (a 429 is not)."""


@dataclass
class FakeSlack:
    bot_token: str = "xoxb-test-token"
    team: str = "T1"
    calls: list[Call] = field(default_factory=list)
    files: dict[str, dict] = field(default_factory=dict)
    """file id -> what ``files.info`` says of it."""
    blobs: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    """path under /files/ -> (bytes, content type)."""
    channels: dict[str, list[str]] = field(default_factory=dict)
    """user id -> the conversations they are in."""
    admins: set[str] = field(default_factory=set)
    """Workspace admins (``users.info``)."""
    channel_names: dict[str, str] = field(default_factory=dict)
    """conversation id -> its name (``design``)."""
    private: set[str] = field(default_factory=set)
    """Conversations that are private channels (``conversations.info``)."""
    messages: dict[str, list[dict]] = field(default_factory=dict)
    """conversation id -> its messages, replies included (``post``)."""
    history_limit: int = 200
    """Most messages a ``conversations.history`` or ``.replies`` call gives (15 for an app
    Slack holds to its lowest limit)."""
    rate_limited: dict[str, int] = field(default_factory=dict)
    """method (or ``"file"``, for downloads) -> how many of its next calls answer 429."""
    per_minute: dict[str, int] = field(default_factory=dict)
    """method -> calls a minute it allows (Slack's tiers); more answer 429 with Retry-After."""
    slow: dict[str, float] = field(default_factory=dict)
    """method -> seconds its answers take (a Slack having a slow day)."""
    responses: list[dict] = field(default_factory=list)
    """Bodies posted to response URLs, in order."""
    envelopes: list[dict] = field(default_factory=list)
    """Socket Mode envelopes to send once a client connects."""
    acks: list[dict] = field(default_factory=list)

    def start(self) -> "FakeSlack":
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add_file(self, file_id: str, data: bytes, *, mimetype: str = "image/jpeg", user: str = "U1",
                 channel: str = "C1", public: bool = True, ts: str = "1700000000.000100") -> dict:
        path = f"{file_id}/photo.jpg"
        self.blobs[path] = (data, mimetype)
        self.files[file_id] = {
            "id": file_id, "name": "photo.jpg", "title": "photo.jpg", "mimetype": mimetype, "user": user,
            "url_private": f"{self.url}/files/{path}", "url_private_download": f"{self.url}/files/{path}?download",
            "shares": {"public" if public else "private": {channel: [{"ts": ts}]}}, "created": int(float(ts)),
        }
        return self.files[file_id]

    def post(self, channel: str, ts: str, text: str = "", *, user: str = "U1", files: tuple[str, ...] = (),
             thread_ts: str | None = None, broadcast: bool = False) -> dict:
        """A message in the conversation's history, with the files (``add_file``) it shares."""
        message = {"type": "message", "ts": ts, "user": user, "text": text,
                   "files": [{k: v for k, v in self.files[f].items() if k != "shares"} for f in files]}
        if files:
            message["subtype"] = "file_share"
        if thread_ts:
            message["thread_ts"] = thread_ts
            for file in files:  # a file's share says in which thread it was posted, as Slack's do
                for share in (s for shares in self.files[file]["shares"].values() for s in shares.get(channel, [])):
                    share["thread_ts"] = thread_ts
            if broadcast:
                message["subtype"] = "thread_broadcast"
        self.messages.setdefault(channel, []).append(message)
        return message

    def called(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def wait_for_responses(self, count: int, timeout: float = 20.0) -> list[dict]:
        return _wait(lambda: len(self.responses) >= count, timeout, f"{count} response_url posts", self.responses)

    def wait_for(self, predicate, timeout: float = 20.0, what: str = "a condition"):
        return _wait(predicate, timeout, what, None)

    # The server ------------------------------------------------------------------------

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_get("/files/{path:.*}", self._file)
        app.router.add_post("/response/{n}", self._response)
        app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        ready.set()
        self._loop.run_forever()

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = dict(request.query)
        if request.content_type == "application/json":
            params.update(await request.json())
        else:
            params.update(await request.post())
        self.calls.append(Call(method, dict(request.headers), params))
        await asyncio.sleep(self.slow.get(method, 0))
        if self.rate_limited.get(method, 0) > 0:
            self.rate_limited[method] -= 1
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "1"})
        if (wait := self._over_limit(method)) is not None:
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": str(wait)})
        return web.json_response(self._answer(method, params, request))

    def _answer(self, method: str, params: dict, request: web.Request) -> dict:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if method == "apps.connections.open":
            return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket"}
        if token != self.bot_token:
            return {"ok": False, "error": "invalid_auth"}
        if method == "auth.test":
            return {"ok": True, "team_id": self.team, "team": "Test team", "user_id": "UBOT", "bot_id": "BBOT",
                    "url": "https://test.slack.com/"}
        if method == "files.info":
            file = self.files.get(params.get("file"))
            return {"ok": True, "file": file} if file else {"ok": False, "error": "file_not_found"}
        if method == "users.info":
            return {"ok": True, "user": {"id": params.get("user"), "is_admin": params.get("user") in self.admins}}
        if method == "files.list":
            return self._files_list(params)
        if method == "users.conversations":
            ids = self.channels.get(params.get("user"), [])
            return {"ok": True, "channels": [{"id": c, "name": self.channel_names.get(c, "")} for c in ids],
                    "response_metadata": {"next_cursor": ""}}
        if method == "conversations.info":
            channel = params.get("channel")
            return {"ok": True, "channel": {"id": channel, "is_private": channel in self.private}}
        if method == "conversations.history":
            return self._history(params)
        if method == "conversations.replies":
            return self._replies(params)
        if method == "conversations.members":
            members = [u for u, ids in self.channels.items() if params.get("channel") in ids]
            return {"ok": True, "members": members, "response_metadata": {"next_cursor": ""}}
        if method.startswith(("chat.", "views.")):
            return {"ok": True, "ts": f"{time.time():.6f}", "channel": params.get("channel")}
        return {"ok": False, "error": "unknown_method"}

    def _over_limit(self, method: str) -> int | None:
        """Seconds to wait when ``method`` had its calls of the last minute (a sliding window)."""
        limit = self.per_minute.get(method)
        if not limit:
            return None
        now = time.monotonic()
        recent = [c.at for c in self.calls if c.method == method and now - c.at < 60 and c.answered]
        if len(recent) < limit:
            self.calls[-1].answered = True
            return None
        return max(1, int(60 - (now - recent[0])) + 1)

    def _files_list(self, params: dict) -> dict:
        """Newest first, paged, filtered by channel, type and time, as Slack's ``files.list``."""
        channel, count, page = params.get("channel"), int(params.get("count", 100)), int(params.get("page", 1))
        lo, hi = float(params.get("ts_from", 0)), float(params.get("ts_to", 1e12))
        found = [
            f for f in self.files.values()
            if (not channel or any(channel in (f["shares"].get(k) or {}) for k in ("public", "private")))
            and (params.get("types") != "images" or f["mimetype"].startswith("image/"))
            and lo <= f["created"] <= hi
        ]
        found.sort(key=lambda f: -f["created"])
        pages = max(1, -(-len(found) // count))
        return {"ok": True, "files": found[(page - 1) * count : page * count],
                "paging": {"count": count, "total": len(found), "page": page, "pages": pages}}

    def _history(self, params: dict) -> dict:
        """Newest first, replies left out (but those also sent to the channel), paged by cursor."""
        lo, hi = float(params.get("oldest", 0)), float(params.get("latest", 1e12))
        everything = self.messages.get(params.get("channel"), [])
        found = []
        for m in everything:
            top = m.get("thread_ts", m["ts"]) == m["ts"]
            if lo <= float(m["ts"]) <= hi and (top or m.get("subtype") == "thread_broadcast"):
                replies = sum(r.get("thread_ts") == m["ts"] != r["ts"] for r in everything)
                found.append({**m, "reply_count": replies, "thread_ts": m["ts"]} if top and replies else m)
        return self._paged(sorted(found, key=lambda m: -float(m["ts"])), params)

    def _replies(self, params: dict) -> dict:
        """A thread, its first message first."""
        ts = params.get("ts")
        thread = [m for m in self.messages.get(params.get("channel"), []) if m["ts"] == ts or m.get("thread_ts") == ts]
        return self._paged(sorted(thread, key=lambda m: float(m["ts"])), params)

    def _paged(self, messages: list[dict], params: dict) -> dict:
        start, limit = int(params.get("cursor") or 0), min(int(params.get("limit", 100)), self.history_limit)
        more = start + limit < len(messages)
        return {"ok": True, "messages": messages[start : start + limit], "has_more": more,
                "response_metadata": {"next_cursor": str(start + limit) if more else ""}}

    async def _file(self, request: web.Request) -> web.Response:
        self.calls.append(Call("file", dict(request.headers), {"path": request.match_info["path"]}))
        if self.rate_limited.get("file", 0) > 0:
            self.rate_limited["file"] -= 1
            return web.Response(status=429, headers={"Retry-After": "1"})
        if request.headers.get("Authorization") != f"Bearer {self.bot_token}":
            return web.Response(body=LOGIN_PAGE, content_type="text/html")
        found = self.blobs.get(request.match_info["path"])
        if found is None:
            return web.Response(status=404)
        return web.Response(body=found[0], content_type=found[1])

    async def _response(self, request: web.Request) -> web.Response:
        self.responses.append(await request.json())
        return web.Response(text="ok")

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json({"type": "hello", "num_connections": 1})
        for envelope in self.envelopes:
            await ws.send_json(envelope)
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                self.acks.append(json.loads(message.data))
        return ws


def _wait(predicate, timeout: float, what: str, result):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
    return result
