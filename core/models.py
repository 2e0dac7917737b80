"""Database tables and their public shapes (SQLModel)."""

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


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
    slack_ts: str | None = Field(default=None, max_length=32)
    slack_file_id: str | None = Field(default=None, max_length=32, index=True)


class Image(ImageBase, table=True):
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
    created_at: datetime
    indexed_at: datetime | None
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


class SearchKind(StrEnum):
    text = "text"
    image = "image"
    click = "click"


class SearchEvent(SQLModel, table=True):
    """One search a person made: their history, and what their taste is learned from."""

    id: int | None = Field(default=None, primary_key=True)
    user: str = Field(max_length=255, index=True)
    kind: SearchKind
    query: str | None = Field(default=None, max_length=1000)
    """The text searched for, or a description of the example image."""
    image_id: int | None = Field(default=None, index=True)
    """The clicked image (kind ``click``)."""
    filters: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    page: int = 1
    result_count: int = 0
    created_at: datetime = Field(default_factory=utcnow, index=True)
