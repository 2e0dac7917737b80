"""The embedded backend: a Qdrant Edge shard on local disk.

Qdrant Edge 0.9 holds the GIL while it builds the HNSW index (``optimize``), which
freezes every thread of the process for the duration, so the worker calls
``build_index`` only when ingest has been idle for a while, never on a request.
Until then new points are searched exactly (plain segments), which is correct, just
slower at large scale.

With ``int8`` (as the server backend has it) the float32 vectors stay on disk and int8
scalar-quantized copies, a quarter of the size, in RAM; dense searches rank
``OVERSAMPLING`` times the candidates on int8 and rescore them with the floats.
"""

import fcntl
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import qdrant_edge as qe

from core.errors import ServiceUnavailable
from core.vectors.base import (
    AUDIENCE,
    EF_CONSTRUCT,
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

WORDS_INDEX = qe.TextIndexParams(
    tokenizer=qe.TokenizerType.Word, lowercase=True, ascii_folding=True, phrase_matching=True
)
"""The full-text index of the words payload: phrases, excluded words, all-words hits."""
_ACORN = qe.AcornSearchParams(enable=True, max_selectivity=1.0)
"""ACORN whatever the share of points the filter passes (``SearchFilter.beam``)."""


class EdgeStore:
    def __init__(self, path: Path, index_after_points: int = 20_000, int8: bool = False):
        self.path = path
        self.index_after_points = index_after_points
        self.int8 = int8
        self._quantization = qe.QuantizationSearchParams(rescore=True, oversampling=OVERSAMPLING) if int8 else None
        self._shard: qe.EdgeShard | None = None
        self._lock_file = None

    def _claim(self) -> None:
        """Take the shard for this process: a second owner would corrupt it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_file = open(self.path.parent / f"{self.path.name}.lock", "w")
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            lock_file.close()
            raise ServiceUnavailable(
                f"The embedded vector store at {self.path} is in use by another findimage process "
                "(findimage serve?). Stop it first, or run separate processes against a Qdrant "
                "server (FINDIMAGE_QDRANT_URL)."
            ) from exc
        self._lock_file = lock_file

    def ensure_collection(self, dim: int) -> None:
        # indexing_threshold is in kilobytes of vectors: index once this many points wait.
        threshold_kb = max(1, self.index_after_points * dim * 4 // 1024)
        config = qe.EdgeConfig(
            vectors={name: qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine, **self._quantized()) for name in VECTOR_NAMES},
            on_disk_payload=True,
            hnsw_config=qe.HnswIndexConfig(m=16, ef_construct=EF_CONSTRUCT, full_scan_threshold=FULL_SCAN_KB),
            optimizers=qe.EdgeOptimizersConfig(indexing_threshold=threshold_kb),
        )
        self._claim()
        existing = (self.path / "edge_config.json").exists()
        try:
            if existing:
                self._shard = qe.EdgeShard.load(str(self.path), config)
            else:
                self.path.mkdir(parents=True, exist_ok=True)
                self._shard = qe.EdgeShard.create(str(self.path), config)
        except Exception as exc:  # the bindings raise plain Exceptions; convert them here
            raise ServiceUnavailable(
                f"Cannot open the vector store at {self.path} for {dim}-d vectors: {exc}. "
                "Its vectors were made by another model: `findimage reindex` moves them to a new one."
            ) from exc
        if not existing:
            for field in INDEXED_KEYWORDS:
                self._update(qe.UpdateOperation.create_field_index(field, qe.PayloadSchemaType.Keyword))
            for field in FLOAT_FIELDS:
                self._update(qe.UpdateOperation.create_field_index(field, qe.PayloadSchemaType.Float))
        if WORDS_FIELD not in self._call(self.shard.info).payload_schema:
            # New, or made before the words channel: add it (points get words as they are read).
            self._update(qe.UpdateOperation.create_sparse_vector(WORDS, modifier=qe.Modifier.Idf))
            self._update(qe.UpdateOperation.create_field_index(HAS, qe.PayloadSchemaType.Keyword))
            self._update(qe.UpdateOperation.create_field_index(WORDS_FIELD, WORDS_INDEX))

    def _quantized(self) -> dict:
        if not self.int8:
            return {}
        return {"on_disk": True, "quantization_config": qe.ScalarQuantizationConfig(qe.ScalarType.Int8, quantile=0.99, always_ram=True)}

    def _params(self, using: str, where: SearchFilter | None, limit: int) -> qe.SearchParams | None:
        if using == WORDS:  # quantization, ACORN and the beam are for dense vectors
            return None
        beam = where.beam(limit) if where is not None else None
        if beam is None:
            return qe.SearchParams(quantization=self._quantization) if self._quantization else None
        return qe.SearchParams(quantization=self._quantization, hnsw_ef=beam, acorn=_ACORN)

    def upsert(self, points: Sequence[VectorPoint]) -> None:
        if points:
            self._update(
                qe.UpdateOperation.upsert_points(
                    [
                        qe.Point(
                            id=p.id,
                            vector={name: _vector(v) for name, v in p.vectors.items()},
                            payload=p.payload,
                        )
                        for p in points
                    ]
                )
            )

    def retrieve(self, ids: Sequence[int], vectors: Sequence[str] | None = None,
                 fields: Sequence[str] | None = None) -> list[StoredPoint]:
        records = self._call(self.shard.retrieve, list(ids), with_payload=(list(fields) or False) if fields is not None else True,
                             with_vector=list(vectors) if vectors is not None else True)
        return [
            StoredPoint(
                id=r.id,
                vectors={name: _stored(v) for name, v in (r.vector or {}).items()},
                payload=r.payload or {},
            )
            for r in records
        ]

    def payloads(self, ids: Sequence[int], fields: Sequence[str] | None = None) -> dict[int, dict]:
        records = self._call(self.shard.retrieve, list(ids), with_payload=list(fields) if fields else True, with_vector=False)
        return {r.id: r.payload or {} for r in records}

    def delete(self, ids: Sequence[int]) -> None:
        if ids:
            self._update(qe.UpdateOperation.delete_points(list(ids)))

    def search(
        self,
        using: str,
        vector: np.ndarray,
        limit: int,
        score_threshold: float | None = None,
        where: SearchFilter | None = None,
        with_payload: bool = True,
    ) -> list[Hit]:
        request = qe.QueryRequest(
            limit=limit,
            query=qe.Query.Nearest(_vector(vector), using=using),
            with_payload=with_payload,
            score_threshold=score_threshold,
            filter=_edge_filter(where),
            params=self._params(using, where, limit),
        )
        return [Hit(id=p.id, score=p.score, payload=p.payload or {}) for p in self._call(self.shard.query, request)]

    def search_many(self, using: str, vectors: Sequence[np.ndarray], limits: Sequence[int],
                    where: SearchFilter | None = None, fields: Sequence[str] = (),
                    with_vectors: bool = False) -> list[list[Hit]]:
        if len(vectors) == 0:
            return []
        condition = _edge_filter(where)
        requests = [qe.QueryRequest(limit=limit, query=qe.Query.Nearest(_vector(vector), using=using), filter=condition,
                                    with_payload=list(fields) or False, with_vector=[using] if with_vectors else False,
                                    params=self._params(using, where, limit))
                    for vector, limit in zip(vectors, limits)]
        found = self._call(self.shard.query_batch, qe.QueryBatchRequest(requests))
        # (A point's ``vector`` is made anew from the engine's at each access: 5 us for 512-d.)
        return [[Hit(id=p.id, score=p.score, payload=p.payload or {},
                     vector=_stored(stored[using]) if with_vectors and (stored := p.vector) else None) for p in points]
                for points in found]

    def hybrid(self, query: HybridQuery, limit: int, where: SearchFilter | None = None) -> HybridHits:
        channels, where = _channel_queries(query), where or SearchFilter()
        condition = _edge_filter(where)
        requests = [qe.QueryRequest(limit=limit, query=nearest, filter=condition, with_payload=False,
                                    params=self._params(channel, where, limit))
                    for channel, nearest in channels.items()]
        if not requests:
            return HybridHits({}, NO_HITS)
        found = dict(zip(channels, (Ranking.of(points) for points in
                                    self._call(self.shard.query_batch, qe.QueryBatchRequest(requests)))))
        all_words = NO_HITS
        if query.all_words and found.get(WORDS, NO_HITS).ids:
            # Among the words hits only: the full-text filter over the whole collection cost
            # 12 ms at 1M points, over 300 ids a fraction of one.
            holding = _edge_filter(where.among(found[WORDS].ids), all_words=query.all_words)
            all_words = Ranking.of(self._call(self.shard.query, qe.QueryRequest(
                limit=limit, query=channels[WORDS], filter=holding, with_payload=False)))
        return HybridHits(found, all_words)

    def set_payload(self, ids: Sequence[int], payload: dict) -> None:
        stored = [r.id for r in self._call(self.shard.retrieve, list(ids), with_payload=False, with_vector=False)]
        if stored:
            self._update(qe.UpdateOperation.set_payload(stored, payload))

    def set_words(self, updates: Sequence[WordsUpdate]) -> None:
        stored = {r.id for r in self._call(self.shard.retrieve, [u.id for u in updates], with_payload=False, with_vector=False)}
        updates = [u for u in updates if u.id in stored]
        if updates:
            self._update(qe.UpdateOperation.update_vectors([qe.PointVectors(u.id, {WORDS: _vector(u.vector)}) for u in updates]))
            for u in updates:
                self._update(qe.UpdateOperation.set_payload([u.id], u.payload))

    def count(self) -> int:
        return self._call(self.shard.count, qe.CountRequest())

    def build_index(self) -> bool:
        return self._call(self.shard.optimize)

    def close(self) -> None:
        if self._shard is not None:
            self._shard.close()
            self._shard = None
        if self._lock_file is not None:
            self._lock_file.close()  # releases the lock
            self._lock_file = None

    def drop(self) -> None:
        if self._lock_file is None:
            self._claim()
        if self._shard is not None:
            self._shard.close()
            self._shard = None
        shutil.rmtree(self.path, ignore_errors=True)
        self.close()
        (self.path.parent / f"{self.path.name}.lock").unlink(missing_ok=True)

    @property
    def shard(self) -> qe.EdgeShard:
        if self._shard is None:
            raise ServiceUnavailable("The vector store is not open.")
        return self._shard

    def _update(self, operation) -> None:
        self._call(self.shard.update, operation)

    def _call(self, method, *args, **kwargs):
        try:
            return method(*args, **kwargs)
        except Exception as exc:  # the bindings raise plain Exceptions; convert them here
            raise ServiceUnavailable(f"The vector store failed: {exc}") from exc


def _vector(vector):
    if isinstance(vector, Sparse):
        return qe.SparseVector(list(vector.indices), list(vector.values))
    return as_list(vector)


def _stored(vector):
    if isinstance(vector, qe.SparseVector):
        return Sparse(tuple(vector.indices), tuple(vector.values))
    return as_array(vector)


def _channel_queries(query: HybridQuery) -> dict[str, qe.Query]:
    """The nearest-neighbour query of each channel the query can search, in CHANNELS order."""
    queries = {}
    if query.dense is not None:
        queries.update({name: qe.Query.Nearest(as_list(query.dense), using=name) for name in VECTOR_NAMES})
    if query.words:
        queries[WORDS] = qe.Query.Nearest(_vector(query.words), using=WORDS)
    return queries


def _edge_filter(where: SearchFilter | None, all_words: str | None = None) -> qe.Filter | None:
    where = where or SearchFilter()
    if where.is_empty() and not all_words:
        return None
    must = [qe.FieldCondition(key, match=qe.MatchValue(value)) for key, value in where.keywords().items()]
    if where.after is not None or where.before is not None:
        must.append(qe.FieldCondition("created_at", range=qe.RangeFloat(gte=where.after, lt=where.before)))
    if where.audience is not None:
        must.append(qe.FieldCondition(AUDIENCE, match=qe.MatchAny(sorted(where.audience))))
    if where.only is not None:
        must.append(qe.HasIdCondition(set(where.only)))
    if where.has_text:
        must.append(qe.FieldCondition(HAS, match=qe.MatchValue("text")))
    must += [qe.FieldCondition(WORDS_FIELD, match=qe.MatchPhrase(phrase)) for phrase in where.phrases]
    if all_words:
        must.append(qe.FieldCondition(WORDS_FIELD, match=qe.MatchText(all_words)))
    must_not = [qe.FieldCondition(WORDS_FIELD, match=qe.MatchText(word)) for word in where.without_words]
    if where.has_text is False:
        must_not.append(qe.FieldCondition(HAS, match=qe.MatchValue("text")))
    if where.exclude:
        must_not.append(qe.HasIdCondition(set(where.exclude)))
    return qe.Filter(must=must or None, must_not=must_not or None)
