"""Database tables and their public shapes (SQLModel)."""

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator
from sqlalchemy import JSON, Column, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """SQLite hands datetimes back without their zone; they were written in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]
"""A datetime in a public shape: always with its zone (UTC), whatever the database returned."""


def file_url(image_id: int) -> str:
    return f"/api/images/{image_id}/file"


def thumbnail_url(image_id: int) -> str:
    return f"/api/images/{image_id}/thumbnail"


class ImageSource(StrEnum):
    web = "web"
    slack = "slack"
    folder = "folder"


class ImageStatus(StrEnum):
    queued = "queued"
    indexed = "indexed"
    failed = "failed"


class ImageBase(SQLModel):
    source: ImageSource = ImageSource.web
    uploader: str | None = Field(default=None, max_length=255, index=True)
    caption: str | None = Field(default=None, max_length=4000)
    slack_team: str | None = Field(default=None, max_length=32)
    slack_channel: str | None = Field(default=None, max_length=32, index=True)
    slack_public: bool | None = None
    """Whether the channel was public when the image was shared (who may see it)."""
    slack_ts: str | None = Field(default=None, max_length=32)
    slack_file_id: str | None = Field(default=None, max_length=32, index=True)
    filename: str | None = Field(default=None, max_length=255)
    """The name it was uploaded, shared or imported under (part of its words)."""


class Image(ImageBase, table=True):
    # The feed's newest images, read in order rather than sorted (534 ms at 1M images without it).
    __table_args__ = (Index("ix_image_status_indexed_at", "status", "indexed_at", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(max_length=64, unique=True, index=True)
    mime: str = Field(max_length=32)
    width: int
    height: int
    size_bytes: int
    status: ImageStatus = Field(default=ImageStatus.queued, index=True)
    error: str | None = Field(default=None, max_length=2000)
    attempts: int = 0
    created_at: datetime = Field(default_factory=utcnow, index=True)
    indexed_at: datetime | None = None


class ImagePublic(ImageBase):
    id: int
    sha256: str
    mime: str
    width: int
    height: int
    size_bytes: int
    status: ImageStatus
    error: str | None
    created_at: UtcDatetime
    indexed_at: UtcDatetime | None
    file_url: str
    thumbnail_url: str
    duplicate: bool = False
    """True when this upload matched an image already stored (nothing new was added)."""

    @classmethod
    def of(cls, image: Image, duplicate: bool = False) -> "ImagePublic":
        return cls(
            **image.model_dump(),
            file_url=file_url(image.id),
            thumbnail_url=thumbnail_url(image.id),
            duplicate=duplicate,
        )


class TextStatus(StrEnum):
    read = "read"
    """OCR ran; ``text`` is what it read (empty: no text in the image)."""
    skipped = "skipped"
    """``ocr.mode=auto`` judged it unlikely to hold text and did not read it."""
    failed = "failed"
    """OCR failed or ran out of time; counted as no text (``error`` says why)."""


class ImageText(SQLModel, table=True):
    """The text OCR read in an image. Kept here, not only in the vector store, so a reindex
    carries it over without reading the image again."""

    __tablename__ = "image_text"
    image_id: int = Field(foreign_key="image.id", ondelete="CASCADE", primary_key=True)
    status: str = Field(max_length=16)
    """A ``TextStatus``."""
    text: str = Field(default="", sa_column=Column(Text, nullable=False))
    lines: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    """Per line of text: ``{"text", "box": [x0, y0, x1, y1], "score"}`` (pixels of the original)."""
    seconds: float = 0.0
    """How long reading it took."""
    error: str | None = Field(default=None, max_length=2000)
    created_at: datetime = Field(default_factory=utcnow)


class SlackBackfill(SQLModel, table=True):
    """How far indexing a Slack conversation's earlier images has got: what a restarted
    worker goes on from (``worker.backfill``)."""

    __tablename__ = "slack_backfill"
    team: str = Field(max_length=32, primary_key=True)
    channel: str = Field(max_length=32, primary_key=True)
    state: str = Field(default="running", max_length=16)
    """``running``, ``done`` or ``failed`` (``error`` says why)."""
    since: float = 0.0
    """Images shared from this time on (epoch seconds; 0: all)."""
    until: float = 0.0
    """... up to the time the backfill began (later ones come as live events)."""
    source: str = Field(default="messages", max_length=16)
    """What is read: ``messages`` (``conversations.history``, whose text becomes the
    captions), ``files`` (``files.list``: no message text, far kinder rate limits) or, after
    the messages from a ``since``, ``threads`` (the replies since then to older threads)."""
    cursor: str | None = Field(default=None, max_length=512)
    """``messages``: the history cursor to read next (none: the newest page)."""
    public: bool | None = None
    """Whether the conversation is a public channel (asked once, on the first step)."""
    page: int = 1
    """``files``, ``threads``: the next page of ``files.list`` to read."""
    seen: int = 0
    """Images found so far."""
    queued: int = 0
    """Of those, queued for indexing (the others were in already)."""
    total: int = 0
    """Images Slack says the conversation holds in that time (about)."""
    error: str | None = Field(default=None, max_length=2000)
    updated_at: datetime = Field(default_factory=utcnow)


class ImageShare(SQLModel, table=True):
    """One Slack message an image was shared in. An image's audience is the union of its
    shares (and of its upload, for a web or folder image): whoever may read any of them may
    see it. ``Image.slack_*`` keep the first share."""

    __tablename__ = "image_share"
    image_id: int = Field(foreign_key="image.id", ondelete="CASCADE", primary_key=True)
    team: str = Field(max_length=32, primary_key=True)
    channel: str = Field(max_length=32, primary_key=True, index=True)
    ts: str = Field(default="", max_length=32, primary_key=True)
    file_id: str | None = Field(default=None, max_length=32, index=True)
    public: bool = False
    created_at: datetime = Field(default_factory=utcnow)


class ChannelSetting(SQLModel, table=True):
    """What a Slack channel asked of the bot."""

    __tablename__ = "channel_setting"
    team: str = Field(max_length=32, primary_key=True)
    channel: str = Field(max_length=32, primary_key=True)
    reposts: bool = False
    """Say in a thread when a new image was posted before (``/findimage reposts on``)."""


class SearchKind(StrEnum):
    text = "text"
    image = "image"
    click = "click"


class SearchEvent(SQLModel, table=True):
    """One search a person made: their history, and what their taste is learned from."""

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", ondelete="CASCADE", index=True)
    kind: SearchKind
    query: str | None = Field(default=None, max_length=1000)
    """The text searched for, or a description of the example image."""
    image_id: int | None = Field(default=None, index=True)
    """The clicked image (kind ``click``)."""
    filters: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    page: int = 1
    result_count: int = 0
    created_at: datetime = Field(default_factory=utcnow, index=True)


class User(SQLModel, table=True):
    """A person: the local user of a single-user install, a named web user, or a Slack
    member (team + user id)."""

    __table_args__ = (UniqueConstraint("slack_team", "slack_user"),)
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=255, unique=True, index=True)
    is_admin: bool = False
    slack_team: str | None = Field(default=None, max_length=32)
    slack_user: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow)


class UserPublic(SQLModel):
    id: int
    name: str
    is_admin: bool
    slack_team: str | None
    slack_user: str | None


class TokenKind(StrEnum):
    api = "api"
    """A bearer token for scripts and the API (no expiry; revoked by deleting it)."""
    login = "login"
    """A one-time link that starts a browser session."""


class AuthToken(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", ondelete="CASCADE", index=True)
    kind: TokenKind
    token_sha256: str = Field(max_length=64, unique=True, index=True)
    """Only the hash is kept: a stolen database holds no usable token."""
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime | None = None
    used_at: datetime | None = None


class LikeSource(StrEnum):
    web = "web"
    slack = "slack"


class Like(SQLModel, table=True):
    user_id: int = Field(foreign_key="user.id", ondelete="CASCADE", primary_key=True)
    image_id: int = Field(foreign_key="image.id", ondelete="CASCADE", primary_key=True, index=True)
    source: LikeSource = LikeSource.web
    created_at: datetime = Field(default_factory=utcnow, index=True)


class Impression(SQLModel, table=True):
    """An image the user's feed has shown them (never shown again while remembered)."""

    __table_args__ = (Index("ix_impression_user_shown_at", "user_id", "shown_at", "image_id"),)  # their latest, in order
    user_id: int = Field(foreign_key="user.id", ondelete="CASCADE", primary_key=True)
    image_id: int = Field(foreign_key="image.id", ondelete="CASCADE", primary_key=True)
    shown_at: datetime = Field(default_factory=utcnow)


class NotInterested(SQLModel, table=True):
    """An image the user said they are not interested in: never in their feed again, and
    a negative signal of their taste (until they take it back)."""

    __tablename__ = "not_interested"
    user_id: int = Field(foreign_key="user.id", ondelete="CASCADE", primary_key=True)
    image_id: int = Field(foreign_key="image.id", ondelete="CASCADE", primary_key=True)
    created_at: datetime = Field(default_factory=utcnow)


class SignalKind(StrEnum):
    like = "like"
    click = "click"
    search = "search"
    not_interested = "not_interested"
    """A negative signal: its weight is below zero."""


class Signal(SQLModel, table=True):
    """One thing a user did that says what they like, with its CLIP vector: the taste is a
    function of these rows, so it can always be rebuilt exactly."""

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", ondelete="CASCADE", index=True)
    kind: SignalKind
    image_id: int | None = Field(default=None, foreign_key="image.id", ondelete="CASCADE")
    query: str | None = Field(default=None, max_length=1000)
    vector: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    """float32 CLIP embedding (the image's, or the query text's)."""
    weight: float
    created_at: datetime = Field(default_factory=utcnow, index=True)
    space_id: int | None = Field(default=None, index=True)
    """The vector space (``VectorSpace.id``) ``vector`` is in; a signal from another space
    than the active one is derived again (``services.signals``)."""


class Taste(SQLModel, table=True):
    """A user's interests as of ``at``: per interest, the decayed weighted sum of its
    signals' vectors. Updated on each signal, one update at a time per user (``core.db.user_lock``)."""

    user_id: int = Field(foreign_key="user.id", ondelete="CASCADE", primary_key=True)
    version: int = 0
    sums: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    state: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    """``at``, per-interest ``weights`` and ``exemplars`` (strongest signal ids)."""
    space_id: int | None = None
    """The vector space (``VectorSpace.id``) ``sums`` are in."""


class SpaceState(StrEnum):
    building = "building"
    """Being filled by ``findimage reindex``; ingest writes to it as well."""
    active = "active"
    """The one searched (exactly one at a time)."""
    retired = "retired"
    """Replaced; kept a little while for requests still using it, then dropped."""
    failed = "failed"
    """A reindex that failed or was cancelled; dropped."""


class VectorSpace(SQLModel, table=True):
    """One generation of vectors: a CLIP model and the collection its vectors live in.

    ``findimage reindex`` builds a new one beside the active one, then switches; every
    process follows the switch (``core.runtime``)."""

    id: int | None = Field(default=None, primary_key=True)
    model: str = Field(max_length=1000)
    pretrained: str = Field(max_length=1000)
    collection: str = Field(max_length=255, unique=True)
    state: SpaceState = Field(index=True)
    cursor: int = 0
    """Building: images with ids up to this one are in it."""
    last_image_id: int = 0
    """Building: the newest image when the reindex began. Re-embedding stops there: ingest
    writes newer ones to both spaces (and the end checks that none is missing)."""
    done: int = 0
    total: int = 0
    """Building: images written so far, of about this many."""
    error: str | None = Field(default=None, max_length=2000)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime | None = None
    """Building: when a step last made progress (a stalled reindex is resumed)."""
    switched_at: datetime | None = None
    """When it became active, or was retired."""
