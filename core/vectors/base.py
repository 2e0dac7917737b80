"""What every vector backend offers, and the values it speaks in."""

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

IMAGE = "image"
TEXT = "text"
VECTOR_NAMES = (IMAGE, TEXT)
"""The dense (CLIP) named vectors, cosine distance."""
OVERSAMPLING = 2.0
"""With int8 quantization, a search ranks this many times the asked-for candidates on the
int8 vectors, then rescores them with the floats."""
FULL_SCAN_KB = 2000
"""Below this many kilobytes of vectors a search scans them instead of walking the HNSW
graph (about 1,000 512-d vectors). Qdrant's default, 10,000, made every search of the
``text`` channel a full scan when few images have captions (a tenth of them held by each
segment): 4.9 ms instead of 0.7 at 100k images (bench/query.py)."""
WORDS = "words"
"""The sparse named vector: BM25 (``core.words``) over an image's words, with the IDF modifier."""
EF_CONSTRUCT = 100
"""The HNSW graph's build beam, which is also a search's beam unless it asks for another
(Qdrant's default; the embedded store sets it, a server collection keeps the default)."""
MAX_BEAM = 1000
"""The widest HNSW beam a search past kept-out ids takes (``SearchFilter.beam``)."""
CHANNELS = (IMAGE, TEXT, WORDS)
"""What a hybrid search fuses, in this order (and the order of a result's ``matched``)."""
KEYWORD_FIELDS = ("source", "uploader", "channel")
AUDIENCE = "audience"
"""The payload field of who may see a point (``core.access``); indexed with the keywords."""
INDEXED_KEYWORDS = (*KEYWORD_FIELDS, AUDIENCE)
FLOAT_FIELDS = ("created_at",)
WORDS_FIELD = "words"
"""The payload field holding the text the ``words`` vector was made from, full-text indexed
(phrases, excluded words, all-words hits)."""
HAS = "has"
"""Payload keywords of what an image has (``has:text``: OCR found text in it)."""


@dataclass(frozen=True)
class Sparse:
    """A sparse vector: token ids and their weights."""

    indices: tuple[int, ...]
    values: tuple[float, ...]

    def __bool__(self) -> bool:
        return bool(self.indices)


@dataclass
class VectorPoint:
    id: int
    vectors: dict[str, "np.ndarray | Sparse"]
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass
class WordsUpdate:
    """New words for a stored point (its OCR text arrived): the sparse vector and the
    payload fields that go with it; the dense vectors stay as they are."""

    id: int
    vector: Sparse
    payload: dict[str, Any]


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
    """Point ids that must not be returned (what a feed has already shown). A dense search
    that keeps ids out walks the graph with ACORN and a wider beam (``beam``)."""
    audience: frozenset[str] | None = None
    """Audience tokens the viewer holds (``core.access.Viewer.tokens``); a hit needs one.
    ``None``: no restriction."""
    only: frozenset[int] | None = None
    """Point ids a hit must be among (``is:liked``); ``None``: any."""
    phrases: tuple[str, ...] = ()
    """Phrases a hit's words must hold, each word for word."""
    without_words: tuple[str, ...] = ()
    """Words a hit's words must not hold."""
    has_text: bool | None = None
    """Whether OCR must have found text in it."""

    def beam(self, limit: int) -> int | None:
        """The HNSW beam (``hnsw_ef``) of a dense search that keeps ids out, which walks the
        graph with ACORN (through the neighbours of neighbours that fail the filter); None
        for any other search. The ids a feed keeps out are the ones nearest its interests
        (what was shown is what matched), so they cut the graph right where the search
        begins, and the wider the cut the wider the beam it needs: twice the ids kept out,
        at most ``MAX_BEAM``, never less than the usual beam. Recall of an interest's 200
        candidates at 100k points, four interests, past 2,900 ids: plain walk 0.00-0.90,
        ACORN 0.61-0.98, ACORN with a beam of 580 0.92-1.00, of 1,000 0.93-1.00; past 5,000:
        0.00-0.42, 0.00-0.88, 0.76-0.99 (1,000); 2-7 ms a search, exact search 17-44. A
        graph built on busy cores is worse: 450 of a cluster's 500 kept out, the next 50
        were missed entirely by a beam of 100 or 450 in some builds, rarely by 1,000."""
        return max(limit, EF_CONSTRUCT, min(2 * len(self.exclude), MAX_BEAM)) if self.exclude else None

    def keywords(self) -> dict[str, str]:
        return {key: value for key in KEYWORD_FIELDS if (value := getattr(self, key)) is not None}

    def is_empty(self) -> bool:
        return self == SearchFilter()

    def among(self, ids) -> "SearchFilter":
        """This filter, its hits also among ``ids``."""
        ids = frozenset(ids)
        return replace(self, only=ids if self.only is None else ids & self.only)


@dataclass(frozen=True)
class Stage:
    """One ranking the fusion takes in: ``channels`` (fused first when two), its weight,
    and whether only points holding every word of the query are in it."""

    channels: tuple[str, ...]
    weight: float
    all_words: bool = False
    inner: tuple[float, ...] = ()
    """The weights ``channels`` are fused with first (when two)."""


@dataclass(frozen=True)
class HybridQuery:
    """One text search over every channel, fused by weighted RRF in two steps
    (``recommender.fusion``, Qdrant's formula, over the lists ``hybrid`` returns):
    the CLIP text embedding's two channels (``image``: what it shows, ``text``: its caption)
    make one CLIP ranking, which is fused with the BM25 ``words`` ranking and with the words
    ranking of the points that hold every word of the query. (Fused flat, two dense votes
    of one model would outvote the words; without the all-words vote, an image holding one
    query word that CLIP happens to like would outrank the one holding them all.)"""

    dense: np.ndarray | None
    words: Sparse | None
    all_words: str | None = None
    """The query's words: points whose words hold them all get their own vote, and are
    reported (``HybridHits.all_words``)."""
    weights: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    """RRF weights of ``image`` and ``text`` within the CLIP ranking, then of ``words`` and
    of the all-words ranking against the CLIP ranking (whose weight is 1). Qdrant divides a
    list's ranks by its weight: with 2, a list's 10th counts as another's 5th."""
    rrf_k: int = 60

    def plan(self) -> list[Stage]:
        """The fusion's inputs, in order."""
        stages = []
        if self.dense is not None:
            stages.append(Stage((IMAGE, TEXT), 1.0, inner=self.weights[:2]))
        if self.words:
            stages.append(Stage((WORDS,), self.weights[2]))
            if self.all_words:
                stages.append(Stage((WORDS,), self.weights[3], all_words=True))
        return stages


@dataclass(frozen=True)
class Ranking:
    """One search's hits, best first: their ids and scores (cosine, or BM25), no payload."""

    ids: list[int]
    scores: list[float]

    @classmethod
    def of(cls, points) -> "Ranking":
        """From the engine's scored points (anything with ``id`` and ``score``)."""
        return cls([p.id for p in points], [p.score for p in points])


@dataclass
class HybridHits:
    channels: dict[str, Ranking]
    """Each channel's own ranking."""
    all_words: Ranking
    """The ``words`` ranking of the points among the ``words`` hits whose words hold every
    word of the query (empty unless the query asked for it)."""

    def ranking(self, stage: Stage) -> list[int]:
        """The ids of one of the plan's single-channel inputs, best first."""
        return self.all_words.ids if stage.all_words else self.channels.get(stage.channels[0], NO_HITS).ids


NO_HITS = Ranking([], [])


@dataclass
class Hit:
    id: int
    score: float
    payload: dict[str, Any]
    vector: np.ndarray | None = None
    """The searched vector of the point, when asked for."""


class VectorStore(Protocol):
    def ensure_collection(self, dim: int) -> None:
        """Create the collection (vectors and payload indexes) or check it matches ``dim``."""

    def upsert(self, points: Sequence[VectorPoint]) -> None:
        """Insert or replace points, all of their vectors and payload."""

    def retrieve(self, ids: Sequence[int], vectors: Sequence[str] | None = None,
                 fields: Sequence[str] | None = None) -> list[StoredPoint]:
        """The stored points among ``ids``, with their vectors and payload (only ``vectors``
        and ``fields`` of them when given: a point's words can be long); missing ids are
        skipped."""

    def payloads(self, ids: Sequence[int], fields: Sequence[str] | None = None) -> dict[int, dict[str, Any]]:
        """The payloads of the stored points among ``ids`` (no vectors: cheap), only
        ``fields`` of them when given."""

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

    def search_many(self, using: str, vectors: Sequence[np.ndarray], limits: Sequence[int],
                    where: SearchFilter | None = None, fields: Sequence[str] = (),
                    with_vectors: bool = False) -> list[list[Hit]]:
        """``search`` for several vectors at once: one batch, one filter (a filter holding
        thousands of ids costs more to apply than the search itself). The hits carry the
        payload ``fields`` asked for and, ``with_vectors``, their ``using`` vector (no
        second look-up of the points)."""

    def hybrid(self, query: HybridQuery, limit: int, where: SearchFilter | None = None) -> HybridHits:
        """One batch: each channel's own hits (ids and scores, no payload) and the all-words
        hits, all meeting ``where``, up to ``limit`` each; one search per list."""

    def set_payload(self, ids: Sequence[int], payload: dict[str, Any]) -> None:
        """Set these payload fields of the stored points among ``ids``."""

    def set_words(self, updates: Sequence[WordsUpdate]) -> None:
        """Replace the words vector and words payload of stored points (missing ids are skipped)."""

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
