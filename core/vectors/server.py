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
    INDEXED_KEYWORDS,
    VECTOR_NAMES,
    Hit,
    SearchFilter,
    StoredPoint,
    VectorPoint,
    as_array,
    as_list,
)

OVERSAMPLING = 2.0


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
        self._search_params = (
            models.SearchParams(quantization=models.QuantizationSearchParams(rescore=True, oversampling=OVERSAMPLING))
            if int8
            else None
        )
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
                return
            self.client.create_collection(self.collection, **self.collection_config(dim))
            for field in INDEXED_KEYWORDS:
                self.client.create_payload_index(self.collection, field, models.PayloadSchemaType.KEYWORD)
            for field in FLOAT_FIELDS:
                self.client.create_payload_index(self.collection, field, models.PayloadSchemaType.FLOAT)

    def collection_config(self, dim: int) -> dict:
        """How the collection is made: vectors, sharding, replication and quantization."""
        return {
            "vectors_config": {
                name: models.VectorParams(size=dim, distance=models.Distance.COSINE, on_disk=self.int8)
                for name in VECTOR_NAMES
            },
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
                        vector={name: as_list(v) for name, v in p.vectors.items()},
                        payload=p.payload,
                    )
                    for p in points
                ],
                wait=True,
            )

    def retrieve(self, ids: Sequence[int]) -> list[StoredPoint]:
        with _translated():
            records = self.client.retrieve(self.collection, list(ids), with_payload=True, with_vectors=True)
        return [
            StoredPoint(
                id=r.id,
                vectors={name: as_array(v) for name, v in (r.vector or {}).items()},
                payload=r.payload or {},
            )
            for r in records
        ]

    def payloads(self, ids: Sequence[int]) -> dict[int, dict]:
        with _translated():
            records = self.client.retrieve(self.collection, list(ids), with_payload=True, with_vectors=False)
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
                query=as_list(vector),
                using=using,
                limit=limit,
                score_threshold=score_threshold,
                query_filter=_server_filter(where),
                with_payload=with_payload,
                search_params=self._search_params,
            )
        return [Hit(id=p.id, score=p.score, payload=p.payload or {}) for p in response.points]

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


def _server_filter(where: SearchFilter | None) -> models.Filter | None:
    if where is None or where.is_empty():
        return None
    must = [models.FieldCondition(key=key, match=models.MatchValue(value=value)) for key, value in where.keywords().items()]
    if where.after is not None or where.before is not None:
        must.append(models.FieldCondition(key="created_at", range=models.Range(gte=where.after, lt=where.before)))
    if where.audience is not None:
        must.append(models.FieldCondition(key=AUDIENCE, match=models.MatchAny(any=sorted(where.audience))))
    must_not = [models.HasIdCondition(has_id=list(where.exclude))] if where.exclude else None
    return models.Filter(must=must or None, must_not=must_not)
