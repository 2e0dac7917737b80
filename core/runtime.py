"""Everything one findimage process opens, opened and closed in one place.

``Runtime.open(settings)`` starts the embedded Valkey when no Redis URL is configured,
opens the database, the file store and the active vector space: its CLIP model (loaded,
or first exported, here) and its collection. Tests open a fresh one per test.

Vector spaces (``core.spaces``) change under a running process: ``refresh_spaces``
follows the database, opening a space being built (so ingest writes to it too) and
switching to a new active one in one assignment, so a request uses one space throughout
when it takes ``runtime.space`` once.
"""

import logging
import threading
from dataclasses import dataclass, field

import redis
from sqlalchemy import delete
from sqlalchemy.engine import Engine

from core.clip import Embedder, open_embedder
from core.config import Settings
from core.db import create_db_engine, session_scope
from core.errors import FindImageError
from core.models import SpaceState, VectorSpace
from core.spaces import active_space, current_spaces, is_droppable
from core.storage import FileStore
from core.valkey import EmbeddedValkey, connect_redis
from core.vectors import VectorStore, open_vector_store

log = logging.getLogger(__name__)


@dataclass
class Space:
    """A vector space this process has open: its model, loaded, and its collection."""

    id: int
    model: str
    collection: str
    embedder: Embedder
    vectors: VectorStore


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    files: FileStore
    redis: redis.Redis
    space: Space = None  # set by ``open``
    """The active space: what search uses."""
    building: Space | None = None
    """The space ``findimage reindex`` is filling, if any: ingest writes to it too."""
    _retired: dict[int, Space] = field(default_factory=dict, repr=False)
    _embedders: dict[tuple[str, str], Embedder] = field(default_factory=dict, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    """Guards the spaces above; held only to read or swap them."""
    _refresh_lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    """One refresh or drop at a time (opening a model takes a while: not under ``_lock``)."""
    _closers: list = field(default_factory=list, repr=False)
    _closed: bool = field(default=False, repr=False)

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
            if embedder is not None:
                runtime._embedders[(settings.clip.model, settings.clip.pretrained)] = embedder
            with runtime.session() as session:
                active = active_space(session, settings)
            if (active.model, active.pretrained) != (settings.clip.model, settings.clip.pretrained):
                log.warning(
                    "The vectors were made with CLIP %s (%s), not the configured %s (%s); searching with "
                    "the former. Run `findimage reindex` to move to the configured model.",
                    active.model, active.pretrained, settings.clip.model, settings.clip.pretrained,
                )
            runtime.space = runtime._open_space(active)
            try:
                runtime.refresh_spaces()  # a reindex under way: write to its space too
            except FindImageError as exc:
                log.warning("Cannot open the vector space being built: %s", exc.message)
        except BaseException:
            _close_all(closers)
            raise
        return runtime

    @property
    def embedder(self) -> Embedder:
        """The active space's model."""
        return self.space.embedder

    @property
    def vectors(self) -> VectorStore:
        """The active space's store."""
        return self.space.vectors

    def live_spaces(self) -> list[Space]:
        """The active space and the one being built: where new vectors are written."""
        with self._lock:
            return [self.space, *([self.building] if self.building else [])]

    def spaces(self) -> list[Space]:
        """Every space this process has open: deletes must reach them all."""
        with self._lock:
            return [self.space, *([self.building] if self.building else []), *self._retired.values()]

    def session(self):
        return session_scope(self.engine)

    def refresh_spaces(self) -> None:
        """Follow the database: open a space being built, switch to a new active one, close
        the ones dropped. Raises ``ServiceUnavailable`` (the database, a store) or
        ``ModelUnavailable``, and then changes nothing it has not finished."""
        with self._refresh_lock:
            if self._closed:
                return
            with self.session() as session:
                rows = {row.id: row for row in current_spaces(session)}
            active = next((r for r in rows.values() if r.state == SpaceState.active), None)
            building = next((r for r in rows.values() if r.state == SpaceState.building), None)
            known = {space.id: space for space in self.spaces()}
            opened = {}
            try:
                for row in (building, active):
                    if row is not None and row.id not in known:
                        opened[row.id] = self._open_space(row)
            except BaseException:
                for space in opened.values():
                    space.vectors.close()
                raise
            with self._lock:
                if building is not None:
                    self.building = known.get(building.id) or opened[building.id]
                if active is not None and active.id != self.space.id:
                    old, self.space = self.space, known.get(active.id) or opened[active.id]
                    self._retired[old.id] = old
                    self._retired.pop(active.id, None)
                    log.info("Switched to vector space %s (CLIP %s, collection %s)", active.id, active.model, active.collection)
                if self.building is not None and (building is None or building.id != self.building.id):
                    if self.building.id != self.space.id:  # cancelled: closed once it is dropped
                        self._retired[self.building.id] = self.building
                    self.building = None
                gone = [self._retired.pop(i) for i in list(self._retired) if i not in rows]
            for space in gone:
                self._close_space(space)

    def drop_old_spaces(self) -> list[int]:
        """Drop the collections of spaces retired a while ago or failed, and their records;
        returns their ids."""
        with self._refresh_lock:
            if self._closed:
                return []
            with self.session() as session:
                rows = [row for row in current_spaces(session) if is_droppable(row)]
            for row in rows:
                with self._lock:
                    space = self._retired.pop(row.id, None)
                store = space.vectors if space else open_vector_store(self.settings, row.collection)
                store.drop()
                if space:
                    self._close_space(space)
                with self.session() as session:
                    session.execute(delete(VectorSpace).where(VectorSpace.id == row.id))
                    session.commit()
                log.info("Dropped vector space %s (collection %s, %s)", row.id, row.collection, row.state.value)
            return [row.id for row in rows]

    def close(self) -> None:
        with self._refresh_lock:  # a refresh under way finishes first, and none starts after
            self._closed = True
            for space in self.spaces():
                space.vectors.close()
            _close_all(self._closers)
            self._closers.clear()

    def _open_space(self, row: VectorSpace) -> Space:
        embedder = self._embedders.get((row.model, row.pretrained))
        if embedder is None:
            clip = self.settings.clip.model_copy(update={"model": row.model, "pretrained": row.pretrained})
            embedder = open_embedder(self.settings.model_copy(update={"clip": clip}))
            self._embedders[(row.model, row.pretrained)] = embedder
        vectors = open_vector_store(self.settings, row.collection)
        try:
            vectors.ensure_collection(embedder.dim)
        except BaseException:
            vectors.close()
            raise
        return Space(row.id, row.model, row.collection, embedder, vectors)

    def _close_space(self, space: Space) -> None:
        space.vectors.close()
        in_use = {id(s.embedder) for s in self.spaces()}
        for key, embedder in list(self._embedders.items()):
            if embedder is space.embedder and id(embedder) not in in_use:
                del self._embedders[key]


def _close_all(closers: list) -> None:
    for close in reversed(closers):
        close()
