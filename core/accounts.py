"""Users and their credentials: API tokens, one-time login links, the local user.

Tokens are random (``secrets.token_urlsafe``) and only their SHA-256 is stored. Browser
sessions are signed cookies (see ``api/deps.py``); their key is ``session_secret``.
"""

import hashlib
import os
import secrets
from datetime import timedelta
from pathlib import Path

from sqlmodel import Session, select

from core.config import Settings
from core.errors import InvalidRequest, NotFound
from core.models import AuthToken, TokenKind, User, as_utc, utcnow

LOCAL_USER = "local"
"""The one user of a login-free install."""
LOGIN_LINK_TTL = timedelta(hours=24)


def create_user(session: Session, name: str, is_admin: bool = False) -> User:
    name = name.strip()
    if not name or len(name) > 255:
        raise InvalidRequest("A user name needs 1 to 255 characters.")
    if session.exec(select(User).where(User.name == name)).first():
        raise InvalidRequest(f"There is already a user named {name!r}.")
    user = User(name=name, is_admin=is_admin)
    session.add(user)
    session.commit()
    return user


def user_named(session: Session, name: str) -> User:
    user = session.exec(select(User).where(User.name == name)).first()
    if user is None:
        raise NotFound(f"No user is named {name!r}.")
    return user


def local_user(session: Session) -> User:
    """The local user, created on first use (it administers a single-user install)."""
    user = session.exec(select(User).where(User.name == LOCAL_USER)).first()
    return user or create_user(session, LOCAL_USER, is_admin=True)


def slack_user(session: Session, team: str, user_id: str) -> User:
    """The findimage user of a Slack member, created on first sight."""
    user = session.exec(select(User).where(User.slack_team == team, User.slack_user == user_id)).first()
    if user is None:
        user = User(name=f"slack:{team}:{user_id}", slack_team=team, slack_user=user_id)
        session.add(user)
        session.commit()
    return user


def issue_token(session: Session, user: User, kind: TokenKind) -> str:
    """A new token for ``user``; the caller shows it once (it is not stored in the clear)."""
    token = secrets.token_urlsafe(32)
    expires = utcnow() + LOGIN_LINK_TTL if kind is TokenKind.login else None
    session.add(AuthToken(user_id=user.id, kind=kind, token_sha256=_digest(token), expires_at=expires))
    session.commit()
    return token


def user_for_api_token(session: Session, token: str) -> User | None:
    found = session.exec(
        select(AuthToken).where(AuthToken.token_sha256 == _digest(token), AuthToken.kind == TokenKind.api)
    ).first()
    return session.get(User, found.user_id) if found else None


def redeem_login_link(session: Session, token: str) -> User | None:
    """The user a login link was issued to, if it is unused and unexpired; it is used up."""
    found = session.exec(
        select(AuthToken).where(AuthToken.token_sha256 == _digest(token), AuthToken.kind == TokenKind.login)
    ).first()
    now = utcnow()
    if found is None or found.used_at is not None or as_utc(found.expires_at) < now:
        return None
    found.used_at = now
    session.add(found)
    session.commit()
    return session.get(User, found.user_id)


def session_secret(settings: Settings) -> str:
    """The key that signs session cookies: the setting, else a random key kept (0600) in
    the data dir so sessions survive restarts."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    path: Path = settings.data_dir / "secret_key"
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process just wrote it
            return path.read_text().strip()
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
