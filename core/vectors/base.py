"""What every vector backend offers, and the values it speaks in."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

IMAGE = "image"
TEXT = "text"
VECTOR_NAMES = (IMAGE, TEXT)
KEYWORD_FIELDS = ("source", "uploader", "channel")
AUDIENCE = "audience"
"""The payload field of who may see a point (``core.access``); indexed with the keywords."""
INDEXED_KEYWORDS = (*KEYWORD_FIELDS, AUDIENCE)
FLOAT_FIELDS = ("created_at",)


@dataclass
class VectorPoint:
    id: int
    vectors: dict[str, np.ndarray]
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass
class StoredPoint:
    id: int
    vectors: dict[str, np.ndarray]
    payload: dict[str, Any]


@dataclass(frozen=True)
class SearchFilter:
    """Payload conditions a hit must meet; ``None`` means any. Times are epoch seconds."""

    source: str | None = None
    channel: str | None = None
    uploader: str | None = None
    after: float | None = None
    before: float | None = None
    exclude: frozenset[int] = frozenset()
    """Point ids that must not be returned (what a feed has already shown)."""
    audience: frozenset[str] | None = None
    """Audience tokens the viewer holds (``core.access.Viewer.tokens``); a hit needs one.
    ``None``: no restriction."""

    def keywords(self) -> dict[str, str]:
        return {key: value for key in KEYWORD_FIELDS if (value := getattr(self, key)) is not None}

    def is_empty(self) -> bool:
        return (
            not self.keywords()
            and self.after is None
            and self.before is None
            and not self.exclude
            and self.audience is None
        )


@dataclass
class Hit:
    id: int
    score: float
    payload: dict[str, Any]


class VectorStore(Protocol):
    def ensure_collection(self, dim: int) -> None:
        """Create the collection (vectors and payload indexes) or check it matches ``dim``."""

    def upsert(self, points: Sequence[VectorPoint]) -> None:
        """Insert or replace points, all of their vectors and payload."""

    def retrieve(self, ids: Sequence[int]) -> list[StoredPoint]:
        """The stored points among ``ids``, with vectors and payload; missing ids are skipped."""

    def payloads(self, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """The payloads of the stored points among ``ids`` (no vectors: cheap)."""

    def delete(self, ids: Sequence[int]) -> None: ...

    def search(
        self,
        using: str,
        vector: np.ndarray,
        limit: int,
        score_threshold: float | None = None,
        where: SearchFilter | None = None,
        with_payload: bool = True,
    ) -> list[Hit]:
        """Nearest points by the named vector ``using`` that meet ``where``, best first.
        Without payload (empty ``Hit.payload``) a deep search costs a third as much."""

    def count(self) -> int: ...

    def build_index(self) -> bool:
        """Build pending search indexes now; True if there was work. Servers index by themselves."""

    def close(self) -> None: ...

    def drop(self) -> None:
        """Delete the collection and everything in it (a retired vector space); closes the store."""


def as_list(vector: np.ndarray) -> list[float]:
    return np.asarray(vector, dtype=np.float32).tolist()


def as_array(vector: Sequence[float]) -> np.ndarray:
    return np.asarray(vector, dtype=np.float32)
