"""The scale backend: a Qdrant server or cluster through qdrant-client.

On a cluster the collection is created with ``shards`` shards of ``replicas`` copies each.
With ``int8`` the float32 vectors live on disk and int8 scalar-quantized copies (a quarter
of the size) in RAM; a search ranks ``OVERSAMPLING`` times the asked-for candidates on
int8, then rescores them with the floats, so results stay as good at a quarter of the RAM.

``url=":memory:"`` runs qdrant-client's local mode, which stands in for a server in tests.
"""

from collections.abc import Sequence
from contextlib import contextmanager

import httpx
import numpy as np
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from core.errors import ServiceUnavailable
from core.vectors.base import (
    AUDIENCE,
    FLOAT_FIELDS,
    FULL_SCAN_KB,
    HAS,
    INDEXED_KEYWORDS,
    NO_HITS,
    OVERSAMPLING,
    VECTOR_NAMES,
    WORDS,
    WORDS_FIELD,
    Hit,
    HybridHits,
    HybridQuery,
    Ranking,
    SearchFilter,
    Sparse,
    StoredPoint,
    VectorPoint,
    WordsUpdate,
    as_array,
    as_list,
)

WORDS_INDEX = models.TextIndexParams(
    type=models.TextIndexType.TEXT,
    tokenizer=models.TokenizerType.WORD,
    lowercase=True,
    ascii_folding=True,
    phrase_matching=True,
)
"""The full-text index of the words payload, as the embedded store makes it."""
_ACORN = models.AcornSearchParams(enable=True, max_selectivity=1.0)
"""ACORN whatever the share of points the filter passes (``SearchFilter.beam``)."""


class ServerStore:
    def __init__(
        self,
        url: str,
        collection: str,
        api_key: str | None = None,
        timeout: float = 10.0,
        shards: int = 1,
        replicas: int = 1,
        int8: bool = False,
    ):
        self.collection = collection
        self.shards, self.replicas, self.int8 = shards, replicas, int8
        self._quantization = models.QuantizationSearchParams(rescore=True, oversampling=OVERSAMPLING) if int8 else None
        if url == ":memory:":
            self.client = QdrantClient(location=":memory:")
        else:
            self.client = QdrantClient(url=url, api_key=api_key, timeout=timeout)

    def ensure_collection(self, dim: int) -> None:
        with _translated():
            if self.client.collection_exists(self.collection):
                info = self.client.get_collection(self.collection)
                size = info.config.params.vectors[VECTOR_NAMES[0]].size
                if size != dim:
                    raise ServiceUnavailable(
                        f"Collection {self.collection!r} holds {size}-d vectors but the model makes "
                        f"{dim}-d ones: `findimage reindex` moves the vectors to a new model."
                    )
                if WORDS not in (info.config.params.sparse_vectors or {}):  # made before the words channel
                    self.client.update_collection(self.collection, sparse_vectors_config=self.sparse_config())
                    self._create_words_indexes()
                return
            self.client.create_collection(self.collection, **self.collection_config(dim))
            for field in INDEXED_KEYWORDS:
                self.client.create_payload_index(self.collection, field, models.PayloadSchemaType.KEYWORD)
            for field in FLOAT_FIELDS:
                self.client.create_payload_index(self.collection, field, models.PayloadSchemaType.FLOAT)
            self._create_words_indexes()

    def _create_words_indexes(self) -> None:
        self.client.create_payload_index(self.collection, HAS, models.PayloadSchemaType.KEYWORD)
        self.client.create_payload_index(self.collection, WORDS_FIELD, WORDS_INDEX)

    @staticmethod
    def sparse_config() -> dict:
        return {WORDS: models.SparseVectorParams(modifier=models.Modifier.IDF)}

    def collection_config(self, dim: int) -> dict:
        """How the collection is made: vectors, sharding, replication and quantization."""
        return {
            "vectors_config": {
                name: models.VectorParams(size=dim, distance=models.Distance.COSINE, on_disk=self.int8)
                for name in VECTOR_NAMES
            },
            "sparse_vectors_config": self.sparse_config(),
            "hnsw_config": models.HnswConfigDiff(full_scan_threshold=FULL_SCAN_KB),
            "shard_number": self.shards,
            "replication_factor": self.replicas,
            "quantization_config": models.ScalarQuantization(
                scalar=models.ScalarQuantizationConfig(type=models.ScalarType.INT8, quantile=0.99, always_ram=True)
            )
            if self.int8
            else None,
        }

    def upsert(self, points: Sequence[VectorPoint]) -> None:
        if not points:
            return
        with _translated():
            self.client.upsert(
                self.collection,
                points=[
                    models.PointStruct(
                        id=p.id,
                        vector={name: _vector(v) for name, v in p.vectors.items()},
                        payload=p.payload,
                    )
                    for p in points
                ],
                wait=True,
            )

    def retrieve(self, ids: Sequence[int], vectors: Sequence[str] | None = None,
                 fields: Sequence[str] | None = None) -> list[StoredPoint]:
        with _translated():
            records = self.client.retrieve(self.collection, list(ids),
                                           with_payload=(list(fields) or False) if fields is not None else True,
                                           with_vectors=list(vectors) if vectors is not None else True)
        return [
            StoredPoint(
                id=r.id,
                vectors={name: _stored(v) for name, v in (r.vector or {}).items()},
                payload=r.payload or {},
            )
            for r in records
        ]

    def payloads(self, ids: Sequence[int], fields: Sequence[str] | None = None) -> dict[int, dict]:
        with _translated():
            records = self.client.retrieve(
                self.collection, list(ids), with_payload=list(fields) if fields else True, with_vectors=False
            )
        return {r.id: r.payload or {} for r in records}

    def delete(self, ids: Sequence[int]) -> None:
        if ids:
            with _translated():
                self.client.delete(self.collection, models.PointIdsList(points=list(ids)), wait=True)

    def search(
        self,
        using: str,
        vector: np.ndarray,
        limit: int,
        score_threshold: float | None = None,
        where: SearchFilter | None = None,
        with_payload: bool = True,
    ) -> list[Hit]:
        with _translated():
            response = self.client.query_points(
                self.collection,
                query=_vector(vector),
                using=using,
                limit=limit,
                score_threshold=score_threshold,
                query_filter=_server_filter(where),
                with_payload=with_payload,
                search_params=self._params(using, where, limit),
            )
        return [Hit(id=p.id, score=p.score, payload=p.payload or {}) for p in response.points]

    def search_many(self, using: str, vectors: Sequence[np.ndarray], limits: Sequence[int],
                    where: SearchFilter | None = None, fields: Sequence[str] = (),
                    with_vectors: bool = False) -> list[list[Hit]]:
        if len(vectors) == 0:
            return []
        condition = _server_filter(where)
        requests = [models.QueryRequest(query=_vector(vector), using=using, limit=limit, filter=condition,
                                        params=self._params(using, where, limit), with_payload=list(fields) or False,
                                        with_vector=[using] if with_vectors else False)
                    for vector, limit in zip(vectors, limits)]
        with _translated():
            results = self.client.query_batch_points(self.collection, requests)
        return [[Hit(id=p.id, score=p.score, payload=p.payload or {},
                     vector=_stored(p.vector[using]) if with_vectors and p.vector else None) for p in response.points]
                for response in results]

    def hybrid(self, query: HybridQuery, limit: int, where: SearchFilter | None = None) -> HybridHits:
        channels, where = _channel_queries(query), where or SearchFilter()
        condition = _server_filter(where)
        requests = [models.QueryRequest(query=nearest, using=name, limit=limit, filter=condition, params=self._params(name, where, limit))
                    for name, nearest in channels.items()]
        if not requests:
            return HybridHits({}, NO_HITS)
        with _translated():
            results = self.client.query_batch_points(self.collection, requests)
        found = dict(zip(channels, (Ranking.of(response.points) for response in results)))
        all_words = NO_HITS
        if query.all_words and found.get(WORDS, NO_HITS).ids:  # among the words hits only, as the embedded store
            holding = _server_filter(where.among(found[WORDS].ids), all_words=query.all_words)
            with _translated():
                points = self.client.query_points(self.collection, query=channels[WORDS], using=WORDS, limit=limit,
                                                  query_filter=holding).points
            all_words = Ranking.of(points)
        return HybridHits(found, all_words)

    def set_payload(self, ids: Sequence[int], payload: dict) -> None:
        with _translated():
            stored = [r.id for r in self.client.retrieve(self.collection, list(ids), with_payload=False)]
            if stored:
                self.client.set_payload(self.collection, payload, points=stored, wait=True)

    def set_words(self, updates: Sequence[WordsUpdate]) -> None:
        with _translated():
            stored = {r.id for r in self.client.retrieve(self.collection, [u.id for u in updates], with_payload=False)}
            updates = [u for u in updates if u.id in stored]
            if not updates:
                return
            self.client.update_vectors(
                self.collection,
                [models.PointVectors(id=u.id, vector={WORDS: _vector(u.vector)}) for u in updates],
                wait=True,
            )
            for u in updates:
                self.client.set_payload(self.collection, u.payload, points=[u.id], wait=True)

    def _params(self, using: str, where: SearchFilter | None, limit: int) -> models.SearchParams | None:
        if using == WORDS:  # quantization, ACORN and the beam are for dense vectors, as in the embedded store
            return None
        beam = where.beam(limit) if where is not None else None
        if beam is None:
            return models.SearchParams(quantization=self._quantization) if self._quantization else None
        return models.SearchParams(quantization=self._quantization, hnsw_ef=beam, acorn=_ACORN)

    def count(self) -> int:
        with _translated():
            return self.client.count(self.collection, exact=True).count

    def build_index(self) -> bool:
        return False  # a Qdrant server runs its own optimizers

    def close(self) -> None:
        self.client.close()

    def drop(self) -> None:
        with _translated():
            self.client.delete_collection(self.collection)
        self.close()


@contextmanager
def _translated():
    try:
        yield
    except (ResponseHandlingException, UnexpectedResponse, httpx.TransportError, ConnectionError) as exc:
        raise ServiceUnavailable(f"The Qdrant server is unavailable: {exc}") from exc
    except RuntimeError as exc:  # qdrant-client's local mode, once closed
        if "closed" not in str(exc):
            raise
        raise ServiceUnavailable(f"The vector store is closed: {exc}") from exc


def _vector(vector):
    if isinstance(vector, Sparse):
        return models.SparseVector(indices=list(vector.indices), values=list(vector.values))
    return as_list(vector)


def _stored(vector):
    if isinstance(vector, models.SparseVector):
        return Sparse(tuple(vector.indices), tuple(vector.values))
    return as_array(vector)


def _channel_queries(query: HybridQuery) -> dict[str, list[float] | models.SparseVector]:
    """The query vector of each channel the query can search, in CHANNELS order."""
    queries = {}
    if query.dense is not None:
        queries.update(dict.fromkeys(VECTOR_NAMES, as_list(query.dense)))
    if query.words:
        queries[WORDS] = _vector(query.words)
    return queries


def _server_filter(where: SearchFilter | None, all_words: str | None = None) -> models.Filter | None:
    where = where or SearchFilter()
    if where.is_empty() and not all_words:
        return None
    must = [models.FieldCondition(key=key, match=models.MatchValue(value=value)) for key, value in where.keywords().items()]
    if where.after is not None or where.before is not None:
        must.append(models.FieldCondition(key="created_at", range=models.Range(gte=where.after, lt=where.before)))
    if where.audience is not None:
        must.append(models.FieldCondition(key=AUDIENCE, match=models.MatchAny(any=sorted(where.audience))))
    if where.only is not None:
        must.append(models.HasIdCondition(has_id=sorted(where.only)))
    if where.has_text:
        must.append(models.FieldCondition(key=HAS, match=models.MatchValue(value="text")))
    must += [models.FieldCondition(key=WORDS_FIELD, match=models.MatchPhrase(phrase=p)) for p in where.phrases]
    if all_words:
        must.append(models.FieldCondition(key=WORDS_FIELD, match=models.MatchText(text=all_words)))
    must_not = [models.FieldCondition(key=WORDS_FIELD, match=models.MatchText(text=w)) for w in where.without_words]
    if where.has_text is False:
        must_not.append(models.FieldCondition(key=HAS, match=models.MatchValue(value="text")))
    if where.exclude:
        must_not.append(models.HasIdCondition(has_id=list(where.exclude)))
    return models.Filter(must=must or None, must_not=must_not or None)
