"""The vector store: one small interface, two Qdrant backends.

- ``EdgeStore``: Qdrant Edge, the Qdrant engine in-process on a local directory. The
  embedded default; the shard belongs to the one process that opened it.
- ``ServerStore``: a Qdrant server (or cluster) through qdrant-client, for scale.

Every point is an image (point id = image id) with up to two named vectors: ``image``
(its CLIP image embedding) and ``text`` (the CLIP text embedding of its caption, absent
when it has none). Both use cosine distance.
"""

from core.config import Settings
from core.vectors.base import AUDIENCE, IMAGE, TEXT, Hit, SearchFilter, StoredPoint, VectorPoint, VectorStore

__all__ = ["AUDIENCE", "IMAGE", "TEXT", "Hit", "SearchFilter", "StoredPoint", "VectorPoint", "VectorStore", "open_vector_store"]


def open_vector_store(settings: Settings, collection: str | None = None) -> VectorStore:
    """The store of ``collection`` (default the configured one); call ``ensure_collection``
    before use."""
    collection = collection or settings.collection
    if settings.embedded_vectors:
        from core.vectors.edge import EdgeStore

        return EdgeStore(settings.edge_dir(collection), index_after_points=settings.worker.index_after_points,
                         int8=settings.qdrant_int8)
    from core.vectors.server import ServerStore

    return ServerStore(
        settings.qdrant_url,
        collection,
        api_key=settings.qdrant_api_key,
        shards=settings.qdrant_shards,
        replicas=settings.qdrant_replicas,
        int8=settings.qdrant_int8,
    )
