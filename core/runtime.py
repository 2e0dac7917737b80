"""Everything one findimage process opens, opened and closed in one place.

``Runtime.open(settings)`` starts the embedded Valkey when no Redis URL is configured,
opens the database, the file store and the vector spaces (``core.spaces.live``: the
active space's CLIP model, loaded or first exported here, and its collection). Tests
open a fresh one per test.
"""

import logging
from dataclasses import dataclass, field

import redis
from sqlalchemy.engine import Engine

from core.clip import Embedder
from core.config import Settings
from core.db import create_db_engine, session_scope
from core.errors import FindImageError
from core.spaces.live import LiveSpaces, OpenSpace
from core.spaces.records import active_space
from core.storage import FileStore
from core.valkey import EmbeddedValkey, connect_redis
from core.vectors import VectorStore

log = logging.getLogger(__name__)
__all__ = ["Runtime", "OpenSpace"]


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    files: FileStore
    redis: redis.Redis
    live: LiveSpaces = None  # set by ``open``
    """The vector spaces this process has open."""
    _closers: list = field(default_factory=list, repr=False)

    @classmethod
    def open(cls, settings: Settings, embedder: Embedder | None = None) -> "Runtime":
        """``embedder``: an already loaded model for the configured one (tests share one)."""
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
            runtime = cls(settings, engine, FileStore(settings.files_dir), connection, _closers=closers)
            loaded = {(settings.clip.model, settings.clip.pretrained): embedder} if embedder is not None else {}
            runtime.live = LiveSpaces(settings, runtime.session, _embedders=loaded)
            with runtime.session() as session:
                active = active_space(session, settings)
            if (active.model, active.pretrained) != (settings.clip.model, settings.clip.pretrained):
                log.warning(
                    "The vectors were made with CLIP %s (%s), not the configured %s (%s); searching with "
                    "the former. Run `findimage reindex` to move to the configured model.",
                    active.model, active.pretrained, settings.clip.model, settings.clip.pretrained,
                )
            runtime.live.open(active)
            try:
                runtime.live.refresh()  # a reindex under way: write to its space too
            except FindImageError as exc:
                log.warning("Cannot open the vector space being built: %s", exc.message)
        except BaseException:
            _close_all(closers)
            raise
        return runtime

    @property
    def space(self) -> OpenSpace:
        """The active space: what search uses (take it once per request)."""
        return self.live.active

    @property
    def building(self) -> OpenSpace | None:
        return self.live.building

    @property
    def embedder(self) -> Embedder:
        """The active space's model."""
        return self.live.active.embedder

    @property
    def vectors(self) -> VectorStore:
        """The active space's store."""
        return self.live.active.vectors

    def live_spaces(self) -> list[OpenSpace]:
        """The active space and the one being built: where new vectors are written."""
        return self.live.writable()

    def spaces(self) -> list[OpenSpace]:
        """Every space this process has open: deletes must reach them all."""
        return self.live.all()

    def refresh_spaces(self) -> None:
        self.live.refresh()

    def drop_old_spaces(self) -> list[int]:
        return self.live.drop_old()

    def session(self):
        return session_scope(self.engine)

    @property
    def ocr(self):
        """This process's OCR engine (``core.ocr.Reader``), made on first use: only workers read text."""
        from core.ocr import reader_for

        return reader_for(self.settings.ocr)

    def close(self) -> None:
        if self.live is not None:
            self.live.close()
        _close_all(self._closers)
        self._closers.clear()


def _close_all(closers: list) -> None:
    for close in reversed(closers):
        close()
