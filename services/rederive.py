"""Signals carried into another vector space after a reindex: likes and clicks take
their images' new vectors, searches embed their text again."""

import numpy as np
from sqlalchemy import or_
from sqlmodel import Session, col, select

from core.models import Signal
from core.runtime import OpenSpace
from core.vectors import IMAGE


def derive_again(session: Session, user_id: int, space: OpenSpace) -> None:
    """Give the user's signals from other vector spaces their vectors in ``space``: an
    image's new vector for likes and clicks, the text embedded again for searches. A
    signal that cannot be (its image is not in the space, a search by an example image
    that was not kept) is dropped."""
    stale = session.exec(
        select(Signal).where(Signal.user_id == user_id, or_(col(Signal.space_id).is_(None), Signal.space_id != space.id))
    ).all()
    if not stale:
        return
    image_ids = sorted({s.image_id for s in stale if s.image_id is not None})
    images = {p.id: p.vectors[IMAGE] for p in space.vectors.retrieve(image_ids)} if image_ids else {}
    queries = sorted({s.query for s in stale if s.image_id is None and s.query})
    texts = dict(zip(queries, space.embedder.embed_texts(queries)))
    for signal in stale:
        vector = images.get(signal.image_id) if signal.image_id is not None else texts.get(signal.query)
        if vector is None:
            session.delete(signal)
        else:
            signal.vector, signal.space_id = np.asarray(vector, np.float32).tobytes(), space.id
            session.add(signal)
    session.flush()


