"""The embedded backend: a Qdrant Edge shard on local disk.

Qdrant Edge 0.9 holds the GIL while it builds the HNSW index (``optimize``), which
freezes every thread of the process for the duration, so the worker calls
``build_index`` only when ingest has been idle for a while, never on a request.
Until then new points are searched exactly (plain segments), which is correct, just
slower at large scale.
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
    FLOAT_FIELDS,
    INDEXED_KEYWORDS,
    VECTOR_NAMES,
    Hit,
    SearchFilter,
    StoredPoint,
    VectorPoint,
    as_array,
    as_list,
)


class EdgeStore:
    def __init__(self, path: Path, index_after_points: int = 20_000):
        self.path = path
        self.index_after_points = index_after_points
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
            vectors={name: qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine) for name in VECTOR_NAMES},
            on_disk_payload=True,
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

    def upsert(self, points: Sequence[VectorPoint]) -> None:
        if points:
            self._update(
                qe.UpdateOperation.upsert_points(
                    [
                        qe.Point(
                            id=p.id,
                            vector={name: as_list(v) for name, v in p.vectors.items()},
                            payload=p.payload,
                        )
                        for p in points
                    ]
                )
            )

    def retrieve(self, ids: Sequence[int]) -> list[StoredPoint]:
        records = self._call(self.shard.retrieve, list(ids), with_payload=True, with_vector=True)
        return [
            StoredPoint(
                id=r.id,
                vectors={name: as_array(v) for name, v in (r.vector or {}).items()},
                payload=r.payload or {},
            )
            for r in records
        ]

    def payloads(self, ids: Sequence[int]) -> dict[int, dict]:
        records = self._call(self.shard.retrieve, list(ids), with_payload=True, with_vector=False)
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
            query=qe.Query.Nearest(as_list(vector), using=using),
            with_payload=with_payload,
            score_threshold=score_threshold,
            filter=_edge_filter(where),
        )
        return [Hit(id=p.id, score=p.score, payload=p.payload or {}) for p in self._call(self.shard.query, request)]

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


def _edge_filter(where: SearchFilter | None) -> qe.Filter | None:
    if where is None or where.is_empty():
        return None
    must = [qe.FieldCondition(key, match=qe.MatchValue(value)) for key, value in where.keywords().items()]
    if where.after is not None or where.before is not None:
        must.append(qe.FieldCondition("created_at", range=qe.RangeFloat(gte=where.after, lt=where.before)))
    if where.audience is not None:
        must.append(qe.FieldCondition(AUDIENCE, match=qe.MatchAny(sorted(where.audience))))
    must_not = [qe.HasIdCondition(set(where.exclude))] if where.exclude else None
    return qe.Filter(must=must or None, must_not=must_not)
