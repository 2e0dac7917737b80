"""Signing in: one-time login links start a browser session (a signed cookie)."""

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from api.deps import SESSION_COOKIE, SESSION_MAX_AGE, CallerDep, SessionDep
from core.accounts import redeem_login_link
from core.errors import Unauthorized
from core.models import User, UserPublic

router = APIRouter(tags=["auth"])


@router.get("/login/{token}", include_in_schema=False)
def login(token: str, request: Request, session: SessionDep) -> Response:
    """Open a login link: the browser gets a session cookie and lands on its feed."""
    user = redeem_login_link(session, token)
    if user is None:
        raise Unauthorized("This login link was already used or has expired; ask for a new one.")
    response = RedirectResponse("/#/feed", status_code=303)
    cookie = request.app.state.sessions.dumps({"id": user.id, "name": user.name})
    response.set_cookie(SESSION_COOKIE, cookie, max_age=SESSION_MAX_AGE, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https")
    return response


@router.post("/api/logout", status_code=204)
def logout() -> Response:
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/api/me", response_model=UserPublic)
def me(caller: CallerDep, session: SessionDep):
    return session.get(User, caller.id)
