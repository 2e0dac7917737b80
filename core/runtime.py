"""Everything one findimage process opens, opened and closed in one place.

``Runtime.open(settings)`` starts the embedded Valkey when no Redis URL is configured,
opens the database, the file store and the vector store (creating the collection for the
model's dimension, so the model is loaded, or first exported, here). Tests open a fresh
one per test.
"""

from dataclasses import dataclass, field

import redis
from sqlalchemy.engine import Engine

from core.clip import Embedder, open_embedder
from core.config import Settings
from core.db import create_db_engine, session_scope
from core.queue import EmbeddedValkey, connect_redis
from core.storage import FileStore
from core.vectors import VectorStore, open_vector_store


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    files: FileStore
    embedder: Embedder
    vectors: VectorStore
    redis: redis.Redis
    _closers: list = field(default_factory=list, repr=False)

    @classmethod
    def open(cls, settings: Settings, embedder: Embedder | None = None) -> "Runtime":
        closers = []
        try:
            redis_url = settings.redis_url
            if redis_url is None:
                valkey = EmbeddedValkey(settings.valkey_dir)
                redis_url = valkey.start()
                closers.append(valkey.stop)
            connection = connect_redis(redis_url)
            closers.append(connection.close)
            engine = create_db_engine(settings)
            closers.append(engine.dispose)
            embedder = embedder or open_embedder(settings)
            vectors = open_vector_store(settings)
            closers.append(vectors.close)
            vectors.ensure_collection(embedder.dim)
        except BaseException:
            _close_all(closers)
            raise
        return cls(settings, engine, FileStore(settings.files_dir), embedder, vectors, connection, closers)

    def session(self):
        return session_scope(self.engine)

    def close(self) -> None:
        _close_all(self._closers)
        self._closers.clear()


def _close_all(closers: list) -> None:
    for close in reversed(closers):
        close()
