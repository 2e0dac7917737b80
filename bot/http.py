"""HTTP mode: Slack posts commands, buttons and events to ``/slack/events``."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp


def slack_router(app: AsyncApp) -> APIRouter:
    handler = AsyncSlackRequestHandler(app)
    router = APIRouter(tags=["slack"])

    @router.post("/slack/events", include_in_schema=False)
    async def slack_events(request: Request):
        try:
            return await handler.handle(request)
        except ValueError:  # bolt parses the body before it checks the signature, and lets bad JSON out
            message = "Not a Slack request: its body is not the JSON or form Slack sends."
            return JSONResponse({"error": {"code": "invalid_request", "message": message}}, status_code=400)

    return router
