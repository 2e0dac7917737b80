"""The vector spaces one process has open: the active one (what search uses), the one
``findimage reindex`` is building (ingest writes to it too) and those just retired (for
requests still using them), each with its model loaded and its collection open.

``refresh`` follows the database (``core.spaces.records``): it opens a space being built
and switches to a new active one in one assignment, so a request uses one space
throughout when it takes ``active`` once. Only the watcher (``core.spaces.watcher``)
and the reindex itself call it; request paths read.
"""

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from sqlalchemy import delete
from sqlmodel import Session

from core.clip import Embedder, open_embedder
from core.config import Settings
from core.models import SpaceState, VectorSpace
from core.spaces.records import current_spaces, is_droppable
from core.vectors import VectorStore, open_vector_store

log = logging.getLogger(__name__)


@dataclass
class OpenSpace:
    """A vector space this process has open: its model, loaded, and its collection."""

    id: int
    model: str
    collection: str
    embedder: Embedder
    vectors: VectorStore


@dataclass
class LiveSpaces:
    settings: Settings
    session: Callable[[], AbstractContextManager[Session]]
    active: OpenSpace = None  # set by ``open``
    """The active space: what search uses."""
    building: OpenSpace | None = None
    """The space ``findimage reindex`` is filling, if any: ingest writes to it too."""
    _retired: dict[int, OpenSpace] = field(default_factory=dict, repr=False)
    _embedders: dict[tuple[str, str], Embedder] = field(default_factory=dict, repr=False)
    """Loaded models by (model, pretrained): spaces of one model share it."""
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    """Guards the spaces above; held only to read or swap them."""
    _refresh_lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    """One refresh or drop at a time (opening a model takes a while: not under ``_lock``)."""
    _closed: bool = field(default=False, repr=False)

    def open(self, row: VectorSpace) -> None:
        """Open the active space ``row``: its model (loaded, or first exported) and collection."""
        self.active = self._open_space(row)

    def writable(self) -> list[OpenSpace]:
        """The active space and the one being built: where new vectors are written."""
        with self._lock:
            return [self.active, *([self.building] if self.building else [])]

    def all(self) -> list[OpenSpace]:
        """Every space this process has open: deletes must reach them all."""
        with self._lock:
            return [self.active, *([self.building] if self.building else []), *self._retired.values()]

    def refresh(self) -> None:
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
            known = {space.id: space for space in self.all()}
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
                if active is not None and active.id != self.active.id:
                    old, self.active = self.active, known.get(active.id) or opened[active.id]
                    self._retired[old.id] = old
                    self._retired.pop(active.id, None)
                    log.info("Switched to vector space %s (CLIP %s, collection %s)", active.id, active.model, active.collection)
                if self.building is not None and (building is None or building.id != self.building.id):
                    if self.building.id != self.active.id:  # cancelled: closed once it is dropped
                        self._retired[self.building.id] = self.building
                    self.building = None
                gone = [self._retired.pop(i) for i in list(self._retired) if i not in rows]
            for space in gone:
                self._close_space(space)

    def drop_old(self) -> list[int]:
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
            for space in self.all():
                space.vectors.close()

    def _open_space(self, row: VectorSpace) -> OpenSpace:
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
        return OpenSpace(row.id, row.model, row.collection, embedder, vectors)

    def _close_space(self, space: OpenSpace) -> None:
        space.vectors.close()
        in_use = {id(s.embedder) for s in self.all()}
        for key, embedder in list(self._embedders.items()):
            if embedder is space.embedder and id(embedder) not in in_use:
                del self._embedders[key]


