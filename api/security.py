"""What every answer carries for the browser's safety, and who else may call from a page.

The web page needs nothing inline and nothing from elsewhere, so its content security
policy is strict. Only FastAPI's interactive docs (/docs, /redoc) load their scripts
from a CDN with an inline bootstrap; they get a policy of their own.

Requests naming another ``Host`` are refused, so a page on a domain made to resolve to
this machine (DNS rebinding) cannot read the API as if it were findimage's own page. And
a browser sends a cross-site form POST (a multipart upload, say) without asking first,
with the user's cookie or, login-free, from loopback: so a state-changing request whose
``Origin`` or ``Sec-Fetch-Site`` says another site is refused, unless that origin is one
of ``cors_origins``. Requests that carry neither header (curl, scripts, the CLI) are no
browser's and pass. Slack's posts are checked by their signature instead.
"""

from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_body
from core.config import Settings

STRICT = (
    "default-src 'self'; img-src 'self' blob: data:; script-src 'self'; style-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
API_DOCS = (
    "default-src 'self'; img-src 'self' data: https://fastapi.tiangolo.com; "
    "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; style-src 'self' https://cdn.jsdelivr.net; "
    "worker-src blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
DOCS_PATHS = ("/docs", "/redoc")


class SecurityHeaders:
    """Adds the headers to every HTTP answer (a plain ASGI middleware: no buffering)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        policy = API_DOCS if scope["path"].startswith(DOCS_PATHS) else STRICT

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", policy)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Referrer-Policy", "same-origin")
                headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
            await send(message)

        await self.app(scope, receive, send_with_headers)


ANY_HOST_PATHS = ("/healthz", "/readyz", "/metrics", "/slack/")
"""Probes and scrapers name the machine as they like; Slack's posts are signed."""
SIGNED_PATHS = ("/slack/",)
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SAME_SITE = frozenset({"same-origin", "none"})  # "none": typed, bookmarked or opened by the user


class RequestOrigin:
    """Refuses requests for a host findimage is not (400) and state-changing requests from
    another site's page (403). A plain ASGI middleware, so it runs before any work."""

    def __init__(self, app: ASGIApp, hosts: frozenset[str], origins: frozenset[str]) -> None:
        self.app = app
        self.hosts = hosts
        self.origins = origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path, headers = scope["path"], Headers(scope=scope)
        host = headers.get("host", "")
        refusal = None
        if not path.startswith(ANY_HOST_PATHS) and "*" not in self.hosts and _host_name(host) not in self.hosts:
            refusal = JSONResponse(error_body("invalid_host", f"findimage does not answer for the host {host!r}: "
                                              "add it to FINDIMAGE_ALLOWED_HOSTS if people reach it by that name."), 400)
        elif scope["method"] in UNSAFE_METHODS and not path.startswith(SIGNED_PATHS) and self._cross_site(headers, host):
            refusal = JSONResponse(error_body("cross_site_request", "A page on another site cannot change anything "
                                              "here: use findimage's own page, or add that site to FINDIMAGE_CORS_ORIGINS."), 403)
        if refusal is not None:
            return await refusal(scope, receive, send)
        await self.app(scope, receive, send)

    def _cross_site(self, headers: Headers, host: str) -> bool:
        origin = headers.get("origin")
        if origin is not None and origin in self.origins:
            return False
        if headers.get("sec-fetch-site", "same-origin") not in SAME_SITE:
            return True
        return origin is not None and urlsplit(origin).netloc.lower() != host.lower()


def _host_name(host: str) -> str:
    """``Host`` without its port: ``[::1]:8000`` -> ``::1``."""
    name = host.rsplit("]", 1)[0].lstrip("[") if host.startswith("[") else host.rsplit(":", 1)[0]
    return name.lower()


def install_security(app: FastAPI, settings: Settings) -> None:
    app.add_middleware(RequestOrigin, hosts=settings.served_hosts, origins=frozenset(settings.cors_origins))
    app.add_middleware(SecurityHeaders)  # outside the guard: its refusals carry the headers too
    if settings.cors_origins:  # else no CORS headers at all: browsers keep other origins out
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
